package sim

import (
	"context"
	"fmt"
	"strings"
)

// Open opens a card backend from a reader spec, as the command line names it:
//
//	soft:FILE      the software card described by the card file FILE
//	FILE.yaml      the same (a bare path ending in .yaml or .yml)
//	pcsc           the first PC/SC reader with a card, through pcscd
//	pcsc:N         PC/SC reader number N (0, 1, ...), or pcsc:NAME
func Open(ctx context.Context, spec string, opts ...SoftCardOption) (Transport, error) {
	switch {
	case strings.HasPrefix(spec, "soft:"):
		return OpenSoftCard(strings.TrimPrefix(spec, "soft:"), opts...)
	case strings.HasSuffix(spec, ".yaml") || strings.HasSuffix(spec, ".yml"):
		return OpenSoftCard(spec, opts...)
	case spec == "pcsc":
		return OpenPCSC(ctx, "")
	case strings.HasPrefix(spec, "pcsc:"):
		return OpenPCSC(ctx, strings.TrimPrefix(spec, "pcsc:"))
	}
	return nil, fmt.Errorf("reader %q: want soft:CARD.yaml, pcsc or pcsc:N", spec)
}
