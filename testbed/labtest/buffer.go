// Package labtest holds helpers for the lab's tests.
package labtest

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that several goroutines (a logger, a child
// process's output copier) may write while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
