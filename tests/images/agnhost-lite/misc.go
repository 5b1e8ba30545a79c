package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"
)

func sortedNames() []string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func sleep(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: sleep DURATION|infinity")
	}
	if args[0] == "infinity" {
		select {}
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		// Plain seconds, as sleep(1) takes them.
		s, serr := strconv.ParseFloat(args[0], 64)
		if serr != nil {
			return err
		}
		d = time.Duration(s * float64(time.Second))
	}
	time.Sleep(d)
	return nil
}

func exit(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: exit CODE")
	}
	code, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	os.Exit(code)
	return nil
}

func cat(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: cat FILE")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(b)
	return err
}

func env(args []string) error {
	e := os.Environ()
	sort.Strings(e)
	for _, kv := range e {
		fmt.Println(kv)
	}
	return nil
}

func writeFile(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: write-file PATH CONTENT")
	}
	return os.WriteFile(args[0], []byte(args[1]), 0o644)
}

// oom allocates and touches memory in 16 MiB steps until the cgroup's OOM killer ends it.
func oom(args []string) error {
	var hold [][]byte
	for {
		b := make([]byte, 16<<20)
		for i := range b {
			if i%4096 == 0 {
				b[i] = 1
			}
		}
		hold = append(hold, b)
		fmt.Printf("allocated %d MiB\n", len(hold)*16)
	}
}
