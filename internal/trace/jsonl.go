package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// MaxLine is the longest JSON line ReadJSON accepts and JSONWriter writes
// (1 MiB: a 750 KB message, base64-encoded).
const MaxLine = 1 << 20

// FlushDelay is how far the file may lag behind the events written: a
// Write that leaves lines in the buffer has them flushed this much later,
// so that a reader (imslab demo) sees a service's messages while it runs.
const FlushDelay = 100 * time.Millisecond

// ErrLineTooLong is returned for an event whose JSON line exceeds MaxLine.
var ErrLineTooLong = errors.New("trace: JSON line longer than 1 MiB")

// JSONWriter writes events as JSON Lines (one object per line, Raw in
// base64, Time in RFC 3339 with nanoseconds). It buffers, and flushes
// FlushDelay after a Write and on Close; it is safe for concurrent use, and
// a Write costs a JSON encoding and a copy (write(2) happens when the
// buffer fills, or on the flush timer's goroutine).
type JSONWriter struct {
	mu     sync.Mutex
	bw     *bufio.Writer
	closer io.Closer   // the file CreateJSON opened, nil otherwise
	timer  *time.Timer // the pending flush, nil if none
	err    error       // the first write error, returned from then on
	closed bool
}

// NewJSONWriter writes JSON lines to w. Close flushes but does not close w.
func NewJSONWriter(w io.Writer) *JSONWriter {
	return &JSONWriter{bw: bufio.NewWriterSize(w, 64<<10)}
}

// CreateJSON creates (or truncates) the file path and writes JSON lines to
// it. Close flushes and closes the file.
func CreateJSON(path string) (*JSONWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	w := NewJSONWriter(f)
	w.closer = f
	return w, nil
}

// Write appends one event. An event whose line would exceed MaxLine is
// refused with ErrLineTooLong, and nothing is written.
func (w *JSONWriter) Write(e Event) error {
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("trace: encoding a %s event: %w", e.Protocol, err)
	}
	if len(line) > MaxLine {
		return ErrLineTooLong
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("trace: write after Close")
	}
	if w.err != nil {
		return w.err
	}
	if _, err := w.bw.Write(append(line, '\n')); err != nil {
		w.err = fmt.Errorf("trace: %w", err)
		return w.err
	}
	if w.timer == nil && w.bw.Buffered() > 0 {
		w.timer = time.AfterFunc(FlushDelay, func() { w.Flush() })
	}
	return nil
}

// Flush writes the buffered lines out.
func (w *JSONWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *JSONWriter) flushLocked() error {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if w.err == nil && !w.closed {
		if err := w.bw.Flush(); err != nil {
			w.err = fmt.Errorf("trace: %w", err)
		}
	}
	return w.err
}

// Close flushes, then closes the file if CreateJSON opened it. Later
// Writes fail.
func (w *JSONWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	err := w.flushLocked()
	w.closed = true
	if w.closer != nil {
		if cerr := w.closer.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("trace: %w", cerr)
		}
	}
	return err
}

// ReadJSON reads JSON lines written by JSONWriter. Blank lines are
// skipped; a line longer than MaxLine, or one that is not an event, is an
// error naming its line number, returned with the events before it.
func ReadJSON(r io.Reader) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine+1) // +1: the newline
	var events []Event
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(line) > MaxLine {
			return events, fmt.Errorf("trace: line %d: longer than 1 MiB", n)
		}
		if line[0] != '{' {
			return events, fmt.Errorf("trace: line %d: not a JSON object", n)
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return events, fmt.Errorf("trace: line %d: %w", n, err)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return events, fmt.Errorf("trace: line %d: longer than 1 MiB", n+1)
		}
		return events, fmt.Errorf("trace: line %d: %w", n+1, err)
	}
	return events, nil
}
