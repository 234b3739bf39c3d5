package load

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
)

// logCount is a slog.Handler that counts the warnings and errors the lab
// and the UEs log (a lab under load says so there first), and passes
// every record on to the configured handler.
type logCount struct {
	next slog.Handler
	c    *counts
}

type counts struct {
	mu       sync.Mutex
	warnings int
	errors   int
	byMsg    map[string]int
}

func newLogCount(next slog.Handler) *logCount {
	return &logCount{next: next, c: &counts{byMsg: map[string]int{}}}
}

func (h *logCount) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *logCount) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.c.mu.Lock()
		if r.Level >= slog.LevelError {
			h.c.errors++
		} else {
			h.c.warnings++
		}
		h.c.byMsg[r.Message]++
		h.c.mu.Unlock()
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *logCount) WithAttrs(as []slog.Attr) slog.Handler {
	return &logCount{next: h.next.WithAttrs(as), c: h.c}
}

func (h *logCount) WithGroup(name string) slog.Handler {
	return &logCount{next: h.next.WithGroup(name), c: h.c}
}

// snapshot returns the warnings and errors so far.
func (h *logCount) snapshot() (warnings, errors int) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.warnings, h.c.errors
}

// top returns the n most frequent messages, most frequent first.
func (h *logCount) top(n int) []LogMessage {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	msgs := slices.Collect(maps.Keys(h.c.byMsg))
	slices.SortFunc(msgs, func(a, b string) int {
		if d := h.c.byMsg[b] - h.c.byMsg[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var out []LogMessage
	for _, m := range msgs[:min(n, len(msgs))] {
		out = append(out, LogMessage{Message: m, Count: h.c.byMsg[m]})
	}
	return out
}

// LogMessage is a warning or error the lab logged, and how often.
type LogMessage struct {
	Message string `json:"message"`
	Count   int    `json:"count"`
}
