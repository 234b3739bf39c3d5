package trace

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Ladder prints a text ladder diagram, one arrow per message, as it goes:
//
//	S-CSCF                    HSS
//	  |-------- MAR ---------->|
//	  |<------- MAA 2001 ------|
type Ladder struct {
	w     io.Writer
	names []string
	width int
	mu    sync.Mutex
}

// NewLadder starts a ladder between the named participants and prints
// their header.
func NewLadder(w io.Writer, width int, names ...string) *Ladder {
	l := &Ladder{w: w, names: names, width: width}
	var sb strings.Builder
	for i, n := range names {
		pad := width
		if i == len(names)-1 {
			pad = 0
		}
		sb.WriteString(fmt.Sprintf("%-*s", pad, center(n, 12)))
	}
	fmt.Fprintln(w, strings.TrimRight(sb.String(), " "))
	return l
}

func center(s string, w int) string {
	if len(s) >= w {
		return s
	}
	left := (w - len(s)) / 2
	return strings.Repeat(" ", left) + s
}

func (l *Ladder) col(name string) int {
	for i, n := range l.names {
		if n == name {
			return i
		}
	}
	return -1
}

// Arrow draws a message from one participant to another with a label.
func (l *Ladder) Arrow(from, to, label string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, b := l.col(from), l.col(to)
	if a < 0 || b < 0 || a == b {
		fmt.Fprintf(l.w, "      %s -> %s: %s\n", from, to, label)
		return
	}
	lo, hi := min(a, b), max(a, b)
	line := []rune(strings.Repeat(" ", l.width*len(l.names)))
	for i := range l.names {
		line[i*l.width+6] = '|'
	}
	start, end := lo*l.width+7, hi*l.width+5
	for i := start; i <= end; i++ {
		line[i] = '-'
	}
	if a < b {
		line[end] = '>'
	} else {
		line[start] = '<'
	}
	lab := " " + label + " "
	if n := len([]rune(lab)); n < end-start-2 {
		at := start + (end-start-n)/2
		copy(line[at:], []rune(lab))
	} else {
		line = append(line[:end+2], []rune(lab)...)
	}
	fmt.Fprintln(l.w, strings.TrimRight(string(line), " "))
}
