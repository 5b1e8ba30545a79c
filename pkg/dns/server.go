package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/netutil"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/network"
)

// Listener limits: a client gets ioTimeout to send its query or take the
// answer, a TCP connection is closed after tcpIdle without a query or after
// maxTCPQueries, and at most maxTCPConns connections are open at once.
const (
	ioTimeout     = 2 * time.Second
	tcpIdle       = 8 * time.Second
	maxTCPQueries = 256
	maxTCPConns   = 512
	// maxChase bounds the CNAME chain followed for an ExternalName.
	maxChase = 8
)

// Config configures a Server.
type Config struct {
	// Client reads Services, EndpointSlices and Namespaces.
	Client kubernetes.Interface
	// Addr is the UDP and TCP address to listen on (host:port; port 0
	// picks a free one).
	Addr string
	// ClusterDomain is the zone answered from the cluster ("cluster.local").
	ClusterDomain string
	// ClusterDNS are the kube-dns Service's IPs, the zone's name server
	// addresses (ns.dns.<domain>).
	ClusterDNS []net.IP
	// TTL of the cluster's records; DefaultTTL when zero.
	TTL uint32
	// Upstreams, when set, are the resolvers other names go to ("IP" or
	// "IP:port"); otherwise they are read from ResolvConf.
	Upstreams []string
	// ResolvConf is the resolv.conf naming the upstreams; empty picks one of
	// network.HostResolvConfCandidates as k3s does.
	ResolvConf string
	// CacheEntries bounds the upstream answers' cache (10000 when zero).
	CacheEntries int
	// MaxConcurrentForwards bounds the queries waiting on upstreams (256
	// when zero).
	MaxConcurrentForwards int
	// AllowedClients are the networks queries are answered for (the pods'
	// and the node's own addresses); others are REFUSED, so that a DNS on
	// the node's address is no open resolver for its network. Nil allows
	// every client.
	AllowedClients []*net.IPNet
}

// Server is the cluster DNS server.
type Server struct {
	cfg   Config
	st    *store
	zone  *zoneRecords
	fwd   *forwarder
	ready chan struct{}
	addr  string
	ctx   context.Context
}

// NewServer checks cfg and prepares the informers; nothing listens until Run.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("dns: Client is required")
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	zone := dns.Fqdn(strings.ToLower(cfg.ClusterDomain))
	if _, ok := dns.IsDomainName(zone); !ok {
		return nil, fmt.Errorf("dns: cluster domain %q is not a domain name", cfg.ClusterDomain)
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("dns: listen address %q: %w", cfg.Addr, err)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	up := &upstreams{candidates: network.HostResolvConfCandidates, exclude: map[string]bool{}}
	if cfg.ResolvConf != "" {
		up.candidates = []string{cfg.ResolvConf}
	}
	for _, s := range cfg.Upstreams {
		hp, err := hostPort(s)
		if err != nil {
			return nil, fmt.Errorf("dns: %w", err)
		}
		up.fixed = append(up.fixed, hp)
	}
	st, err := newStore(cfg.Client)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	s := &Server{cfg: cfg, st: st, ready: make(chan struct{}), ctx: context.Background(),
		zone: &zoneRecords{zone: zone, ttl: cfg.TTL, nsIPs: cfg.ClusterDNS, st: st},
		fwd:  newForwarder(up, newCache(cfg.CacheEntries, 0), cfg.MaxConcurrentForwards)}
	return s, nil
}

// Ready is closed once the caches have synced and the listeners are open.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the address listened on (valid once Ready).
func (s *Server) Addr() string { return s.addr }

// Run syncs the informers, serves until ctx is done, then closes the
// listeners.
func (s *Server) Run(ctx context.Context) error {
	log := klog.FromContext(ctx)
	s.ctx = ctx
	s.st.factory.Start(ctx.Done())
	defer s.st.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.st.services.HasSynced, s.st.slices.HasSynced, s.st.namespaces.HasSynced) {
		return ctx.Err()
	}
	pc, l, err := listen(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	s.addr = pc.LocalAddr().String()
	// Our own address is never an upstream (a node whose resolv.conf names
	// its own IP would loop).
	s.fwd.up.exclude[s.addr] = true
	udp := &dns.Server{PacketConn: pc, Handler: s, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout, UDPSize: dns.DefaultMsgSize}
	tcp := &dns.Server{Listener: netutil.LimitListener(l, maxTCPConns), Handler: s, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout,
		IdleTimeout: func() time.Duration { return tcpIdle }, MaxTCPQueries: maxTCPQueries}
	errc := make(chan error, 2)
	for _, srv := range []*dns.Server{udp, tcp} {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	close(s.ready)
	log.Info("Cluster DNS serving", "addr", s.addr, "domain", s.cfg.ClusterDomain)
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
		err = fmt.Errorf("dns: serve %s: %w", s.addr, err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = udp.ShutdownContext(sctx)
	_ = tcp.ShutdownContext(sctx)
	return err
}

// listen opens UDP and TCP on the same address; for port 0, on the same
// free port.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, _ := net.SplitHostPort(addr)
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		p := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
		l, err := net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		if port != "0" || attempt == 10 {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", net.JoinHostPort(host, p), err)
		}
	}
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	defer func() {
		// A bug answering one query must not take the node's DNS down.
		if r := recover(); r != nil {
			klog.ErrorS(fmt.Errorf("%v", r), "Panic answering a DNS query")
			m := new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
			_ = w.WriteMsg(m)
		}
	}()
	var client net.IP
	tcp := false
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		client = a.IP
	case *net.TCPAddr:
		client, tcp = a.IP, true
	}
	if !s.allowed(client) {
		writeSized(w, req, new(dns.Msg).SetRcode(req, dns.RcodeRefused), tcp)
		return
	}
	resp := s.Answer(req)
	writeSized(w, req, resp, tcp)
}

func (s *Server) allowed(ip net.IP) bool {
	if s.cfg.AllowedClients == nil {
		return true
	}
	for _, n := range s.cfg.AllowedClients {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// Answer computes the answer to req: from the cluster for the cluster
// domain and the cluster's addresses in reverse zones, from the upstreams
// for everything else.
func (s *Server) Answer(req *dns.Msg) *dns.Msg {
	if len(req.Question) != 1 {
		return new(dns.Msg).SetRcode(req, dns.RcodeFormatError)
	}
	if o := req.IsEdns0(); o != nil && o.Version() != 0 {
		return new(dns.Msg).SetRcode(req, dns.RcodeBadVers)
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if q.Qclass == dns.ClassINET && dns.IsSubDomain(s.zone.zone, name) {
		res := s.zone.lookup(q.Name, q.Qtype)
		m := s.authoritative(req, res)
		if res.chase != "" {
			m.Answer = append(m.Answer, s.chase(res.chase, q.Qtype, 1)...)
		}
		return m
	}
	if q.Qclass == dns.ClassINET && q.Qtype == dns.TypePTR {
		if rrs := s.zone.reverse(q.Name); len(rrs) > 0 {
			return s.authoritative(req, result{answer: rrs})
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, 2*forwardTimeout)
	defer cancel()
	m, err := s.fwd.forward(ctx, req)
	if err != nil {
		klog.V(4).InfoS("Forwarding failed", "name", q.Name, "type", dns.TypeToString[q.Qtype], "err", err)
		return new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
	}
	return m
}

func (s *Server) authoritative(req *dns.Msg, res result) *dns.Msg {
	m := new(dns.Msg).SetRcode(req, res.rcode)
	m.Authoritative = true
	m.Answer, m.Ns, m.Extra = res.answer, res.ns, res.extra
	return m
}

// chase answers an ExternalName's target as CoreDNS does: from the zone
// when the target is in it, else from the upstreams.
func (s *Server) chase(target string, qtype uint16, depth int) []dns.RR {
	if depth > maxChase {
		return nil
	}
	if dns.IsSubDomain(s.zone.zone, target) {
		res := s.zone.lookup(target, qtype)
		if res.chase != "" {
			return append(res.answer, s.chase(res.chase, qtype, depth+1)...)
		}
		return res.answer
	}
	q := new(dns.Msg).SetQuestion(target, qtype)
	ctx, cancel := context.WithTimeout(s.ctx, 2*forwardTimeout)
	defer cancel()
	m, err := s.fwd.forward(ctx, q)
	if err != nil || m.Rcode != dns.RcodeSuccess {
		return nil
	}
	return m.Answer
}

// writeSized writes resp as the client can take it: with an OPT record
// when the query had one, cut to the client's UDP buffer (512 bytes
// without EDNS0) with the TC bit set, so that it retries over TCP.
func writeSized(w dns.ResponseWriter, req, resp *dns.Msg, tcp bool) {
	removeOPT(resp)
	size := dns.MinMsgSize
	if o := req.IsEdns0(); o != nil {
		size = max(int(o.UDPSize()), dns.MinMsgSize)
		resp.SetEdns0(uint16(min(size, dns.DefaultMsgSize)), o.Do())
	}
	if tcp {
		size = dns.MaxMsgSize
	}
	resp.Compress = true
	resp.Truncate(size)
	if err := w.WriteMsg(resp); err != nil {
		klog.V(4).InfoS("Writing a DNS answer failed", "client", w.RemoteAddr(), "err", err)
	}
}
