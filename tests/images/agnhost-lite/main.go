// Command agnhost-lite is the multi-tool of skiff's test image skiff.test/agnhost-lite:1, a
// small stand-in for upstream's agnhost since tests cannot reach a registry. It is built
// static (CGO_ENABLED=0) so that the image needs no libc.
//
//	agnhost-lite serve-http --port N    HTTP: / (hostname and request), /healthz, /echo?msg=
//	agnhost-lite hostname               print the hostname
//	agnhost-lite echo-tcp --port N      echo every TCP connection back
//	agnhost-lite echo-udp --port N      echo every UDP datagram back
//	agnhost-lite resolve NAME           print NAME's addresses
//	agnhost-lite sleep DURATION|infinity
//	agnhost-lite exit CODE
//	agnhost-lite cat FILE
//	agnhost-lite env                    print the environment, sorted
//	agnhost-lite write-file PATH CONTENT
//	agnhost-lite oom                    allocate memory until killed
//	agnhost-lite grpc-health --port N [--http-port M] [--service S]
//	                                    grpc.health.v1 server; GET /make-serving, /make-not-serving
//
// Every subcommand exits promptly on SIGTERM or SIGINT (status 0), as a well-behaved
// container should, so that graceful termination is quick in tests.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	usage string
	run   func(args []string) error
}

var commands = map[string]command{
	"serve-http":  {"--port N", serveHTTP},
	"hostname":    {"", hostname},
	"echo-tcp":    {"--port N", echoTCP},
	"echo-udp":    {"--port N", echoUDP},
	"resolve":     {"NAME", resolve},
	"sleep":       {"DURATION|infinity", sleep},
	"exit":        {"CODE", exit},
	"cat":         {"FILE", cat},
	"env":         {"", env},
	"write-file":  {"PATH CONTENT", writeFile},
	"oom":         {"", oom},
	"grpc-health": {"--port N [--http-port M] [--service S]", grpcHealth},
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "agnhost-lite: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	// A container's pid 1 gets no default signal handling from the kernel: without this,
	// SIGTERM would be ignored and every stop would wait for the grace period.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "agnhost-lite: %s, exiting\n", s)
		os.Exit(0)
	}()
	if err := cmd.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "agnhost-lite %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: agnhost-lite COMMAND [ARGS]")
	for _, name := range sortedNames() {
		fmt.Fprintf(os.Stderr, "  %s %s\n", name, commands[name].usage)
	}
}
