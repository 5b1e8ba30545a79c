//go:build !linux

package network

import "errors"

var errNotLinux = errors.New("network namespaces need Linux")

func createNetns(string) error      { return errNotLinux }
func removeNetns(string) error      { return nil }
func isNetns(string) bool           { return false }
func Do(string, func() error) error { return errNotLinux }
