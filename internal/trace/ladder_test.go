package trace

import (
	"strings"
	"testing"
)

func TestLadder(t *testing.T) {
	var sb strings.Builder
	l := NewLadder(&sb, 30, "S-CSCF", "HSS")
	l.Arrow("S-CSCF", "HSS", "MAR")
	l.Arrow("HSS", "S-CSCF", "MAA 2001 DIAMETER_SUCCESS with a long label")
	l.Arrow("X", "HSS", "lost")
	got := sb.String()
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], "--- MAR ---") || !strings.HasSuffix(strings.TrimSpace(strings.SplitN(lines[1], "MAR", 2)[1]), ">|") ||
		!strings.Contains(lines[2], "|<") || !strings.Contains(lines[2], "MAA 2001") || !strings.Contains(lines[3], "X -> HSS: lost") {
		t.Fatalf("ladder:\n%s", got)
	}
}

func TestLadderNote(t *testing.T) {
	var sb strings.Builder
	l := NewLadder(&sb, 20, "UE", "MME", "HSS")
	l.Note("MME", "NAS Attach Request")
	l.Note("X", "lost")
	lines := strings.Split(sb.String(), "\n")
	if lines[1] != "      |                   | [NAS Attach Request]" || lines[2] != "      X: lost" {
		t.Fatalf("notes:\n%s", sb.String())
	}
}
