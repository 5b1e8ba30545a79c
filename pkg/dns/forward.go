package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/skiff-k8s/skiff/pkg/network"
)

// Forwarding limits: each upstream gets forwardTimeout per attempt, and
// at most maxForwards queries wait on upstreams at once (more are answered
// SERVFAIL at once, as CoreDNS' forward max_concurrent does), so a flood of
// external names cannot pile up goroutines and buffers.
const (
	forwardTimeout     = 2 * time.Second
	defaultMaxForwards = 256
	// upstreamBufSize is the EDNS0 buffer asked of upstreams: the size that
	// avoids IP fragmentation (DNS flag day 2020).
	upstreamBufSize = 1232
	// resolvCheckEvery is how often resolv.conf is looked at for changes.
	resolvCheckEvery = 5 * time.Second
)

// upstreams are the servers names outside the cluster go to: fixed ones, or
// the node's resolv.conf, re-read when it changes.
type upstreams struct {
	fixed      []string
	candidates []string
	exclude    map[string]bool // our own listener: never forward to ourselves

	mu        sync.Mutex
	checked   time.Time
	path      string
	modTime   time.Time
	servers   []string
	lastError error
}

// list returns the upstream servers as host:port.
func (u *upstreams) list() ([]string, error) {
	if u.fixed != nil {
		return u.fixed, nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if time.Since(u.checked) < resolvCheckEvery && (u.servers != nil || u.lastError != nil) {
		return u.servers, u.lastError
	}
	u.checked = time.Now()
	// As k3s: the first candidate whose nameservers pods could reach
	// (systemd-resolved's upstream list rather than its 127.0.0.53 stub);
	// else the first one, which the node itself can still reach.
	path, _ := network.HostResolvConf(u.candidates, os.ReadFile)
	fi, err := os.Stat(path)
	if err != nil {
		u.servers, u.lastError = nil, fmt.Errorf("upstream resolvers: %w", err)
		return nil, u.lastError
	}
	if path == u.path && fi.ModTime().Equal(u.modTime) && u.lastError == nil {
		return u.servers, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		u.servers, u.lastError = nil, fmt.Errorf("upstream resolvers: %w", err)
		return nil, u.lastError
	}
	conf, err := network.ParseResolvConf(data)
	if err != nil {
		u.servers, u.lastError = nil, fmt.Errorf("upstream resolvers: %s: %w", path, err)
		return nil, u.lastError
	}
	var servers []string
	for _, s := range conf.Servers {
		if hp, err := hostPort(s); err == nil && !u.exclude[hp] {
			servers = append(servers, hp)
		}
	}
	u.path, u.modTime, u.servers, u.lastError = path, fi.ModTime(), servers, nil
	if len(servers) == 0 {
		u.lastError = fmt.Errorf("upstream resolvers: no usable nameserver in %s", path)
	}
	return u.servers, u.lastError
}

// hostPort normalises an upstream given as "IP" or "IP:port" (port 53 by
// default).
func hostPort(s string) (string, error) {
	if ip := net.ParseIP(s); ip != nil {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("upstream %q: want an IP or IP:port", s)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return "", fmt.Errorf("upstream %q: %q is not an IP address", s, host)
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// forwarder sends queries to the upstreams and caches their answers.
type forwarder struct {
	up    *upstreams
	cache *answerCache
	sem   chan struct{}
	udp   *dns.Client
	tcp   *dns.Client
}

func newForwarder(up *upstreams, c *answerCache, maxConcurrent int) *forwarder {
	if maxConcurrent <= 0 {
		maxConcurrent = defaultMaxForwards
	}
	return &forwarder{up: up, cache: c, sem: make(chan struct{}, maxConcurrent),
		udp: &dns.Client{Net: "udp", Timeout: forwardTimeout, UDPSize: dns.DefaultMsgSize},
		tcp: &dns.Client{Net: "tcp", Timeout: forwardTimeout}}
}

var errOverloaded = errors.New("too many queries waiting on upstream resolvers")

// forward answers req from the cache or the upstreams.
func (f *forwarder) forward(ctx context.Context, req *dns.Msg) (*dns.Msg, error) {
	if m := f.cache.get(req); m != nil {
		return m, nil
	}
	select {
	case f.sem <- struct{}{}:
		defer func() { <-f.sem }()
	default:
		return nil, errOverloaded
	}
	servers, err := f.up.list()
	if err != nil {
		return nil, err
	}
	q := req.Copy()
	q.Id = dns.Id()
	// Ask upstream for as much as fits a datagram whatever the client
	// offered: the full answer is cached, and cut to the client's size on
	// the way out.
	do := false
	if o := q.IsEdns0(); o != nil {
		do = o.Do()
	}
	removeOPT(q)
	q.SetEdns0(upstreamBufSize, do)
	var lastErr error
	for _, s := range servers {
		resp, err := f.exchange(ctx, q, s)
		if err != nil {
			lastErr = err
			continue
		}
		resp.Id = req.Id
		resp.Question = req.Question
		f.cache.put(req, resp)
		return resp, nil
	}
	return nil, fmt.Errorf("forward %s %s: %w", req.Question[0].Name, dns.TypeToString[req.Question[0].Qtype], lastErr)
}

// exchange asks one upstream over UDP, again over TCP when the answer was
// truncated.
func (f *forwarder) exchange(ctx context.Context, q *dns.Msg, server string) (*dns.Msg, error) {
	resp, _, err := f.udp.ExchangeContext(ctx, q, server)
	if err == nil && resp.Truncated {
		resp, _, err = f.tcp.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		return nil, err
	}
	if resp.Id != q.Id {
		return nil, fmt.Errorf("%s answered another query (id %d, want %d)", server, resp.Id, q.Id)
	}
	return resp, nil
}

// removeOPT drops the OPT pseudo-record of m.
func removeOPT(m *dns.Msg) {
	kept := m.Extra[:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			kept = append(kept, rr)
		}
	}
	m.Extra = kept
}
