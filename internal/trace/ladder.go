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
	off   int // column of a participant's bar within its column
	mu    sync.Mutex
}

// NewLadder starts a ladder between the named participants and prints
// their header, each name centred over its bar. Columns are width
// characters wide: make it wider than the longest name.
func NewLadder(w io.Writer, width int, names ...string) *Ladder {
	l := &Ladder{w: w, names: names, width: width, off: 6}
	for _, n := range names {
		l.off = max(l.off, (len([]rune(n))+1)/2)
	}
	var line []rune
	for i, n := range names {
		r := []rune(n)
		at := max(i*width+l.off-(len(r)+1)/2, len(line)+1)
		if i == 0 {
			at = l.off - (len(r)+1)/2
		}
		for len(line) < at {
			line = append(line, ' ')
		}
		line = append(line, r...)
	}
	fmt.Fprintln(w, strings.TrimRight(string(line), " "))
	return l
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
	line := []rune(strings.Repeat(" ", l.width*len(l.names)+l.off))
	for i := range l.names {
		line[i*l.width+l.off] = '|'
	}
	start, end := lo*l.width+l.off+1, hi*l.width+l.off-1
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

// Note writes a label next to a participant's bar, for what is not a
// message between two participants (a NAS message, a state change).
func (l *Ladder) Note(who, label string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.col(who)
	if a < 0 {
		fmt.Fprintf(l.w, "      %s: %s\n", who, label)
		return
	}
	line := []rune(strings.Repeat(" ", l.width*len(l.names)+l.off))
	for i := range l.names {
		line[i*l.width+l.off] = '|'
	}
	at := a*l.width + l.off + 2
	lab := []rune("[" + label + "]")
	for len(line) < at+len(lab) {
		line = append(line, ' ')
	}
	copy(line[at:], lab)
	fmt.Fprintln(l.w, strings.TrimRight(string(line), " "))
}
