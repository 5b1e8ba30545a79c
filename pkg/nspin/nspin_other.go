//go:build !linux

package nspin

import "errors"

// New fails off Linux: there are no namespaces to pin.
func New(string, Kind, func() error) error { return errors.New("namespaces need Linux") }

// Unpin has nothing to undo off Linux.
func Unpin(string) error { return nil }

// IsPinned is false off Linux.
func IsPinned(string) bool { return false }

// Bind fails off Linux.
func Bind(string, string) error { return errors.New("namespaces need Linux") }
