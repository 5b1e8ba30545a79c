//go:build race

package e2e

import "github.com/sasha-s/go-deadlock"

// Under -race, go-cni swaps its RWMutex for go-deadlock's, whose detector exits the
// test process on what it takes for a recursive read lock when pods are set up in
// parallel (read locks of different goroutines, each taken once in Setup). The only
// write lock is go-cni's Load, which pkg/network calls once in New, so read locks
// cannot deadlock; the detector stays off for these tests.
func init() { deadlock.Opts.Disable = true }
