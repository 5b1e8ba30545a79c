package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
)

func portFlag(name string, args []string, def int) (int, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	port := fs.Int("port", def, "port to listen on")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	return *port, nil
}

// serveHTTP answers / with the hostname and what it saw of the request, so that tests can
// tell which pod answered through a Service and what source address reached it.
func serveHTTP(args []string) error {
	port, err := portFlag("serve-http", args, 80)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/hostname", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, host)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Query().Get("msg"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Logged, so that tests can see who called (lifecycle hooks, probes).
		log.Printf("%s %s from %s user-agent %q", r.Method, r.URL.RequestURI(), r.RemoteAddr, r.UserAgent())
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"hostname":   host,
			"method":     r.Method,
			"path":       r.URL.Path,
			"query":      r.URL.RawQuery,
			"remoteAddr": r.RemoteAddr,
			"host":       r.Host,
			"headers":    r.Header,
		})
	})
	log.Printf("serving HTTP on :%d", port)
	return http.ListenAndServe(":"+strconv.Itoa(port), mux)
}

func hostname(args []string) error {
	h, err := os.Hostname()
	if err != nil {
		return err
	}
	fmt.Println(h)
	return nil
}

func echoTCP(args []string) error {
	port, err := portFlag("echo-tcp", args, 7)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	log.Printf("echoing TCP on :%d", port)
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

func echoUDP(args []string) error {
	port, err := portFlag("echo-udp", args, 7)
	if err != nil {
		return err
	}
	c, err := net.ListenPacket("udp", ":"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	log.Printf("echoing UDP on :%d", port)
	buf := make([]byte, 65536)
	for {
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		c.WriteTo(buf[:n], addr)
	}
}

// resolve uses Go's own resolver, which reads /etc/resolv.conf and /etc/hosts as a pod's
// would be set up, so tests see what the pod's DNS configuration gives.
func resolve(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: resolve NAME")
	}
	addrs, err := net.DefaultResolver.LookupHost(context.Background(), args[0])
	if err != nil {
		return err
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		fmt.Println(a)
	}
	return nil
}
