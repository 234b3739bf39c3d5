//go:build !unix

package gw

import "syscall"

// reuseAddr does nothing where SO_REUSEADDR is not the Unix one.
func reuseAddr(_, _ string, _ syscall.RawConn) error { return nil }
