//go:build !linux || !cgo

package pidholder

import "errors"

// Start fails: the holder needs Linux and a binary built with cgo.
func Start() (int, error) {
	return 0, errors.New("a shared PID namespace needs Linux and skiff built with cgo")
}
