package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/imslab/imslab/testbed/load"
)

func TestParseLevels(t *testing.T) {
	for _, tc := range []struct {
		step string
		max  int
		want []int
		err  string
	}{
		{"", 1000, nil, ""},
		{"250", 1000, []int{250, 500, 750, 1000}, ""},
		{"300", 1000, []int{300, 600, 900}, ""},
		{"50,100, 200", 1000, []int{50, 100, 200}, ""},
		{"2000", 1000, nil, "above --max"},
		{"50,x", 1000, nil, `"x" is not a positive number`},
		{"0", 1000, nil, "not a positive number"},
	} {
		got, err := parseLevels(tc.step, tc.max)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseLevels(%q): %v, want an error with %q", tc.step, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseLevels(%q, %d) = %v, %v; want %v", tc.step, tc.max, got, err, tc.want)
		}
	}
}

// `imslab load calls` end to end, tiny: one call, JSON on standard output,
// the table on standard error.
func TestLoadCallsJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a lab")
	}
	defer slog.SetDefault(slog.Default()) // the root command sets it
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"load", "calls", "--max", "1", "--hold", "1s", "--json", "--no-srtp-cost", "--dir", t.TempDir()})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rep load.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("standard output is not the JSON report: %v\n%s", err, out.String())
	}
	if len(rep.Levels) != 1 || rep.Levels[0].Calls != 1 || rep.Levels[0].Up != 1 || rep.Tried != 1 {
		t.Errorf("report: %+v", rep)
	}
	if !strings.Contains(errOut.String(), "carries ") || !strings.Contains(errOut.String(), "GOMAXPROCS=") {
		t.Errorf("standard error lacks the table or the conclusion:\n%s", errOut.String())
	}
}
