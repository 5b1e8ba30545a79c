//go:build !linux

package server

// releaseBinaryPages is a no-op off Linux.
func releaseBinaryPages() (uint64, error) { return 0, nil }
