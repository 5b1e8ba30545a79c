package dns

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// fakeUpstream is a DNS server on loopback standing for the node's
// resolvers: it answers A for any name under example. with 192.0.2.1
// (NXDOMAIN for nx.example.), PTR with host.example., and truncates UDP
// answers for names starting with "big".
type fakeUpstream struct {
	addr    string
	queries atomic.Int32
	tcp     atomic.Int32
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{}
	pc, l, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		u.queries.Add(1)
		_, tcp := w.RemoteAddr().(*net.TCPAddr)
		if tcp {
			u.tcp.Add(1)
		}
		q := r.Question[0]
		m := new(dns.Msg).SetReply(r)
		m.RecursionAvailable = true
		switch {
		case strings.HasPrefix(q.Name, "nx."):
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
				Ns: "ns.example.", Mbox: "h.example.", Minttl: 20}}
		case q.Qtype == dns.TypePTR:
			m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 60}, Ptr: "host.example."}}
		case q.Qtype == dns.TypeA:
			n := 1
			if strings.HasPrefix(q.Name, "big") {
				n = 60
			}
			for i := 0; i < n; i++ {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, byte(1+i))})
			}
			if n > 1 && !tcp {
				m.Answer, m.Truncated = m.Answer[:1], true
			}
		}
		_ = w.WriteMsg(m)
	})
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcps := &dns.Server{Listener: l, Handler: h}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcps.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcps.Shutdown() })
	return u
}

func ns(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func svc(namespace, name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: clusterIP, Ports: ports}}
	if clusterIP != corev1.ClusterIPNone {
		s.Spec.ClusterIPs = []string{clusterIP}
	}
	return s
}

type ep struct {
	ip, hostname string
	notReady     bool
}

func slice(namespace, name, service string, ports []discoveryv1.EndpointPort, eps ...ep) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
		Labels: map[string]string{discoveryv1.LabelServiceName: service}}, AddressType: discoveryv1.AddressTypeIPv4, Ports: ports}
	for _, e := range eps {
		end := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(!e.notReady)}}
		if e.hostname != "" {
			end.Hostname = ptr.To(e.hostname)
		}
		es.Endpoints = append(es.Endpoints, end)
	}
	return es
}

func port(name string, proto corev1.Protocol, p int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(proto), Port: ptr.To(p)}
}

type testServer struct {
	*Server
	client *fake.Clientset
	up     *fakeUpstream
}

// startServer runs a server on the objects, forwarding to a fakeUpstream.
func startServer(t *testing.T, objs ...k8sruntime.Object) *testServer {
	t.Helper()
	up := startUpstream(t)
	client := fake.NewClientset(objs...)
	s := runServer(t, Config{Client: client, Addr: "127.0.0.1:0", ClusterDomain: "cluster.local",
		ClusterDNS: []net.IP{net.ParseIP("10.43.0.10")}, Upstreams: []string{up.addr}})
	s.client, s.up = client, up
	return s
}

// runServer runs a server with cfg until the test ends.
func runServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}
	return &testServer{Server: s}
}

func (s *testServer) query(t *testing.T, name string, qtype uint16, opts ...func(*dns.Msg, *dns.Client)) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(name, qtype)
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	for _, o := range opts {
		o(m, c)
	}
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

func overTCP(_ *dns.Msg, c *dns.Client) { c.Net = "tcp" }
func withEDNS(size uint16) func(*dns.Msg, *dns.Client) {
	return func(m *dns.Msg, _ *dns.Client) { m.SetEdns0(size, false) }
}

// rrs renders a section without TTLs, sorted, for comparison.
func rrs(sec []dns.RR) []string {
	var out []string
	for _, rr := range sec {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(append([]string{f[0]}, f[2:]...), " "))
	}
	sort.Strings(out)
	return out
}

func expect(t *testing.T, r *dns.Msg, rcode int, aa bool, answer ...string) {
	t.Helper()
	q := r.Question[0]
	if r.Rcode != rcode {
		t.Errorf("%s %s: rcode %s, want %s", q.Name, dns.TypeToString[q.Qtype], dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
	}
	if r.Authoritative != aa {
		t.Errorf("%s %s: authoritative %v, want %v", q.Name, dns.TypeToString[q.Qtype], r.Authoritative, aa)
	}
	sort.Strings(answer)
	if got := rrs(r.Answer); strings.Join(got, "\n") != strings.Join(answer, "\n") {
		t.Errorf("%s %s: answer\n%s\nwant\n%s", q.Name, dns.TypeToString[q.Qtype], strings.Join(got, "\n"), strings.Join(answer, "\n"))
	}
	if len(r.Answer) == 0 && aa {
		if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("%s %s: authority %v, want the zone's SOA", q.Name, dns.TypeToString[q.Qtype], r.Ns)
		} else if soa := r.Ns[0].(*dns.SOA); soa.Hdr.Name != "cluster.local." || soa.Ns != "ns.dns.cluster.local." || soa.Minttl != DefaultTTL {
			t.Errorf("SOA %v", soa)
		}
	}
	for _, rr := range r.Answer {
		if aa && rr.Header().Ttl != DefaultTTL && rr.Header().Rrtype != dns.TypeTXT && !strings.HasSuffix(rr.Header().Name, "example.") {
			t.Errorf("%s: TTL %d, want %d", rr, rr.Header().Ttl, DefaultTTL)
		}
	}
}

func clusterObjects() []k8sruntime.Object {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	return []k8sruntime.Object{
		ns("default"), ns("apps"),
		svc("default", "web", "10.43.0.20", corev1.ServicePort{Name: "http", Protocol: tcp, Port: 80}, corev1.ServicePort{Name: "dns", Protocol: udp, Port: 53}),
		slice("default", "web-abc", "web", []discoveryv1.EndpointPort{port("http", tcp, 8080)}, ep{ip: "10.42.0.5"}),
		svc("apps", "db", corev1.ClusterIPNone, corev1.ServicePort{Name: "pg", Protocol: tcp, Port: 5432}),
		slice("apps", "db-1", "db", []discoveryv1.EndpointPort{port("pg", tcp, 5432)},
			ep{ip: "10.42.1.10", hostname: "db-0"}, ep{ip: "10.42.1.11", hostname: "db-1"}, ep{ip: "10.42.1.12", hostname: "db-2", notReady: true}),
		svc("apps", "bare", corev1.ClusterIPNone),
		slice("apps", "bare-1", "bare", nil, ep{ip: "10.42.2.7"}),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "www.example"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "alias", Namespace: "default"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "web.default.svc.cluster.local"}},
	}
}

func TestClusterRecords(t *testing.T) {
	s := startServer(t, clusterObjects()...)
	const z = "cluster.local."
	cases := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
	}{
		{"web.default.svc." + z, dns.TypeA, dns.RcodeSuccess, []string{"web.default.svc.cluster.local. IN A 10.43.0.20"}},
		{"WEB.Default.svc." + z, dns.TypeA, dns.RcodeSuccess, []string{"WEB.Default.svc.cluster.local. IN A 10.43.0.20"}},
		{"web.default.svc." + z, dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"web.default.svc." + z, dns.TypeMX, dns.RcodeSuccess, nil},
		{"web.default.svc." + z, dns.TypeTXT, dns.RcodeSuccess, nil},
		{"nope.default.svc." + z, dns.TypeA, dns.RcodeNameError, nil},
		{"web.nons.svc." + z, dns.TypeA, dns.RcodeNameError, nil},
		{"default.svc." + z, dns.TypeA, dns.RcodeSuccess, nil},
		{"nons.svc." + z, dns.TypeA, dns.RcodeNameError, nil},
		{"svc." + z, dns.TypeA, dns.RcodeSuccess, nil},
		{z, dns.TypeA, dns.RcodeSuccess, nil},
		{"foo." + z, dns.TypeA, dns.RcodeNameError, nil},
		{"a.b.c.web.default.svc." + z, dns.TypeA, dns.RcodeNameError, nil},
		{"_http._tcp.web.default.svc." + z, dns.TypeSRV, dns.RcodeSuccess, []string{"_http._tcp.web.default.svc.cluster.local. IN SRV 0 100 80 web.default.svc.cluster.local."}},
		{"_dns._udp.web.default.svc." + z, dns.TypeSRV, dns.RcodeSuccess, []string{"_dns._udp.web.default.svc.cluster.local. IN SRV 0 100 53 web.default.svc.cluster.local."}},
		{"web.default.svc." + z, dns.TypeSRV, dns.RcodeSuccess, []string{
			"web.default.svc.cluster.local. IN SRV 0 50 80 web.default.svc.cluster.local.",
			"web.default.svc.cluster.local. IN SRV 0 50 53 web.default.svc.cluster.local."}},
		{"_http._udp.web.default.svc." + z, dns.TypeSRV, dns.RcodeNameError, nil},
		{"_http._tcp.web.default.svc." + z, dns.TypeA, dns.RcodeSuccess, []string{"_http._tcp.web.default.svc.cluster.local. IN A 10.43.0.20"}},
		// An endpoint of a ClusterIP Service, by its dashed address.
		{"10-42-0-5.web.default.svc." + z, dns.TypeA, dns.RcodeSuccess, []string{"10-42-0-5.web.default.svc.cluster.local. IN A 10.42.0.5"}},
		// Headless: the ready endpoints only.
		{"db.apps.svc." + z, dns.TypeA, dns.RcodeSuccess, []string{"db.apps.svc.cluster.local. IN A 10.42.1.10", "db.apps.svc.cluster.local. IN A 10.42.1.11"}},
		{"db-0.db.apps.svc." + z, dns.TypeA, dns.RcodeSuccess, []string{"db-0.db.apps.svc.cluster.local. IN A 10.42.1.10"}},
		{"db-2.db.apps.svc." + z, dns.TypeA, dns.RcodeNameError, nil},
		{"_pg._tcp.db.apps.svc." + z, dns.TypeSRV, dns.RcodeSuccess, []string{
			"_pg._tcp.db.apps.svc.cluster.local. IN SRV 0 50 5432 db-0.db.apps.svc.cluster.local.",
			"_pg._tcp.db.apps.svc.cluster.local. IN SRV 0 50 5432 db-1.db.apps.svc.cluster.local."}},
		{"bare.apps.svc." + z, dns.TypeA, dns.RcodeSuccess, []string{"bare.apps.svc.cluster.local. IN A 10.42.2.7"}},
		{"bare.apps.svc." + z, dns.TypeSRV, dns.RcodeSuccess, nil},
		{"10-42-2-7.bare.apps.svc." + z, dns.TypeA, dns.RcodeSuccess, []string{"10-42-2-7.bare.apps.svc.cluster.local. IN A 10.42.2.7"}},
		// Pods, insecure: any address spelled in an existing namespace.
		{"10-42-0-9.default.pod." + z, dns.TypeA, dns.RcodeSuccess, []string{"10-42-0-9.default.pod.cluster.local. IN A 10.42.0.9"}},
		{"10-42-0-9.default.pod." + z, dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"fd00--9.default.pod." + z, dns.TypeAAAA, dns.RcodeSuccess, []string{"fd00--9.default.pod.cluster.local. IN AAAA fd00::9"}},
		{"10-42-0-9.nons.pod." + z, dns.TypeA, dns.RcodeNameError, nil},
		{"not-an-ip.default.pod." + z, dns.TypeA, dns.RcodeNameError, nil},
		{"default.pod." + z, dns.TypeA, dns.RcodeSuccess, nil},
		// ExternalName: a CNAME, and the target's addresses from upstream
		// or from the zone.
		{"ext.default.svc." + z, dns.TypeA, dns.RcodeSuccess, []string{"ext.default.svc.cluster.local. IN CNAME www.example.", "www.example. IN A 192.0.2.1"}},
		{"ext.default.svc." + z, dns.TypeCNAME, dns.RcodeSuccess, []string{"ext.default.svc.cluster.local. IN CNAME www.example."}},
		{"ext.default.svc." + z, dns.TypeSRV, dns.RcodeSuccess, nil},
		{"alias.default.svc." + z, dns.TypeA, dns.RcodeSuccess, []string{"alias.default.svc.cluster.local. IN CNAME web.default.svc.cluster.local.", "web.default.svc.cluster.local. IN A 10.43.0.20"}},
		// The zone's own records.
		{z, dns.TypeNS, dns.RcodeSuccess, []string{"cluster.local. IN NS ns.dns.cluster.local."}},
		{"ns.dns." + z, dns.TypeA, dns.RcodeSuccess, []string{"ns.dns.cluster.local. IN A 10.43.0.10"}},
		{"dns-version." + z, dns.TypeTXT, dns.RcodeSuccess, []string{`dns-version.cluster.local. IN TXT "1.1.0"`}},
		// PTR: a cluster IP, endpoint addresses (by hostname or dashed).
		{"20.0.43.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"20.0.43.10.in-addr.arpa. IN PTR web.default.svc.cluster.local."}},
		{"10.1.42.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"10.1.42.10.in-addr.arpa. IN PTR db-0.db.apps.svc.cluster.local."}},
		{"5.0.42.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"5.0.42.10.in-addr.arpa. IN PTR 10-42-0-5.web.default.svc.cluster.local."}},
	}
	for _, c := range cases {
		r := s.query(t, c.name, c.qtype)
		expect(t, r, c.rcode, true, c.answer...)
	}

	// SRV answers carry their targets' addresses.
	r := s.query(t, "_pg._tcp.db.apps.svc."+z, dns.TypeSRV)
	if got := strings.Join(rrs(r.Extra), "\n"); got != "db-0.db.apps.svc.cluster.local. IN A 10.42.1.10\ndb-1.db.apps.svc.cluster.local. IN A 10.42.1.11" {
		t.Errorf("SRV additional section:\n%s", got)
	}
	// The apex NS answer carries the name server's address.
	r = s.query(t, z, dns.TypeNS)
	if got := strings.Join(rrs(r.Extra), "\n"); got != "ns.dns.cluster.local. IN A 10.43.0.10" {
		t.Errorf("NS additional section:\n%s", got)
	}
	if r.RecursionAvailable {
		t.Errorf("cluster answers must not claim recursion")
	}

	// Reverse lookups of other addresses go upstream, as do other names.
	expect(t, s.query(t, "1.2.0.192.in-addr.arpa.", dns.TypePTR), dns.RcodeSuccess, false, "1.2.0.192.in-addr.arpa. IN PTR host.example.")
	expect(t, s.query(t, "nx.example.", dns.TypeA), dns.RcodeNameError, false)
}

func TestInformerUpdates(t *testing.T) {
	s := startServer(t, ns("default"))
	ctx := context.Background()
	const name = "late.default.svc.cluster.local."
	expect(t, s.query(t, name, dns.TypeA), dns.RcodeNameError, true)
	if _, err := s.client.CoreV1().Services("default").Create(ctx, svc("default", "late", "10.43.1.1", corev1.ServicePort{Name: "x", Protocol: corev1.ProtocolTCP, Port: 1}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return s.query(t, name, dns.TypeA).Rcode == dns.RcodeSuccess && len(s.query(t, name, dns.TypeA).Answer) == 1
	})
	if err := s.client.CoreV1().Services("default").Delete(ctx, "late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.query(t, name, dns.TypeA).Rcode == dns.RcodeNameError })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestForwardingAndCache(t *testing.T) {
	s := startServer(t, ns("default"))
	r := s.query(t, "www.example.", dns.TypeA)
	expect(t, r, dns.RcodeSuccess, false, "www.example. IN A 192.0.2.1")
	if !r.RecursionAvailable {
		t.Error("forwarded answer lost the upstream's RA flag")
	}
	n := s.up.queries.Load()
	r = s.query(t, "WWW.example.", dns.TypeA)
	expect(t, r, dns.RcodeSuccess, false, "WWW.example. IN A 192.0.2.1")
	if s.up.queries.Load() != n {
		t.Errorf("a cached name went upstream again")
	}
	if ttl := r.Answer[0].Header().Ttl; ttl > 30 {
		t.Errorf("cached TTL %d, want at most 30", ttl)
	}
	// NXDOMAIN is cached too, with the upstream's SOA.
	expect(t, s.query(t, "nx.example.", dns.TypeA), dns.RcodeNameError, false)
	n = s.up.queries.Load()
	expect(t, s.query(t, "nx.example.", dns.TypeA), dns.RcodeNameError, false)
	if s.up.queries.Load() != n {
		t.Errorf("a cached NXDOMAIN went upstream again")
	}

	// A truncated upstream answer is asked again over TCP; the client gets
	// what fits its buffer with TC set, and all of it over TCP.
	r = s.query(t, "big.example.", dns.TypeA)
	if s.up.tcp.Load() == 0 {
		t.Error("no TCP retry after a truncated upstream answer")
	}
	if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) >= 60 {
		t.Errorf("UDP answer without EDNS0: TC=%v with %d records, want TC and a cut answer", r.Truncated, len(r.Answer))
	}
	r = s.query(t, "big.example.", dns.TypeA, overTCP)
	if r.Truncated || len(r.Answer) != 60 {
		t.Errorf("TCP answer: TC=%v with %d records, want 60", r.Truncated, len(r.Answer))
	}
	r = s.query(t, "big.example.", dns.TypeA, withEDNS(4096))
	if r.Truncated || len(r.Answer) != 60 || r.IsEdns0() == nil {
		t.Errorf("UDP answer with EDNS0 4096: TC=%v with %d records, OPT %v", r.Truncated, len(r.Answer), r.IsEdns0())
	}
}

func TestTruncation(t *testing.T) {
	objs := []k8sruntime.Object{ns("default"), svc("default", "many", corev1.ClusterIPNone)}
	var eps []ep
	for i := 0; i < 200; i++ {
		eps = append(eps, ep{ip: fmt.Sprintf("10.42.%d.%d", i/250, 1+i%250)})
	}
	objs = append(objs, slice("default", "many-1", "many", nil, eps...))
	s := startServer(t, objs...)
	r := s.query(t, "many.default.svc.cluster.local.", dns.TypeA)
	r.Compress = true
	if !r.Truncated || r.Len() > 512 {
		t.Errorf("UDP: TC=%v, %d bytes", r.Truncated, r.Len())
	}
	r = s.query(t, "many.default.svc.cluster.local.", dns.TypeA, withEDNS(1232))
	r.Compress = true
	if !r.Truncated || r.Len() > 1232 || r.IsEdns0() == nil || r.IsEdns0().UDPSize() != 1232 {
		t.Errorf("EDNS0 1232: TC=%v, %d bytes, OPT %v", r.Truncated, r.Len(), r.IsEdns0())
	}
	r = s.query(t, "many.default.svc.cluster.local.", dns.TypeA, overTCP)
	if r.Truncated || len(r.Answer) != 200 {
		t.Errorf("TCP: TC=%v, %d records", r.Truncated, len(r.Answer))
	}
}

func TestBadInput(t *testing.T) {
	s := startServer(t, clusterObjects()...)
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	good := new(dns.Msg).SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
	wire, _ := good.Pack()
	two := new(dns.Msg).SetQuestion("a.example.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "b.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	twoWire, _ := two.Pack()
	badVers := new(dns.Msg).SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
	badVers.SetEdns0(1232, false)
	badVers.IsEdns0().SetVersion(1)
	badVersWire, _ := badVers.Pack()
	// A label pointer loop, a name running past the end, junk, a header only.
	loop := append(append([]byte(nil), wire[:12]...), 0xc0, 12, 0, 1, 0, 1)
	for i, pkt := range [][]byte{{}, {1}, wire[:12], wire[:len(wire)-3], loop, []byte(strings.Repeat("\xff", 600)), append(wire[:12:12], 63)} {
		if _, err := conn.Write(pkt); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	read := func(want uint16) *dns.Msg {
		t.Helper()
		buf := make([]byte, 4096)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("no answer with id %d: %v", want, err)
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) == nil && m.Id == want {
				return m
			}
		}
	}
	twoWire[0], twoWire[1] = 0x12, 0x34
	if _, err := conn.Write(twoWire); err != nil {
		t.Fatal(err)
	}
	if m := read(0x1234); m.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: %s, want FORMERR", dns.RcodeToString[m.Rcode])
	}
	badVersWire[0], badVersWire[1] = 0x22, 0x22
	if _, err := conn.Write(badVersWire); err != nil {
		t.Fatal(err)
	}
	if m := read(0x2222); m.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS version 1: %s, want BADVERS", dns.RcodeToString[m.Rcode])
	}
	// The longest legal name (255 octets) is just another name.
	long := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61) + "."
	expect(t, s.query(t, long, dns.TypeA), dns.RcodeSuccess, false, long+" IN A 192.0.2.1")
	// Still serving.
	expect(t, s.query(t, "web.default.svc.cluster.local.", dns.TypeA), dns.RcodeSuccess, true, "web.default.svc.cluster.local. IN A 10.43.0.20")

	// Garbage over TCP: a length prefix promising more than comes, then a
	// close; a huge length; the server stays up.
	for _, pkt := range [][]byte{{0xff, 0xff, 1, 2, 3}, {0, 2, 0xde, 0xad}} {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(pkt)
		c.Close()
	}
	expect(t, s.query(t, "web.default.svc.cluster.local.", dns.TypeA, overTCP), dns.RcodeSuccess, true, "web.default.svc.cluster.local. IN A 10.43.0.20")
}

func TestUpstreamDown(t *testing.T) {
	client := fake.NewClientset(ns("default"))
	// A port nothing listens on.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()
	ts := runServer(t, Config{Client: client, Addr: "127.0.0.1:0", Upstreams: []string{dead}})
	expect(t, ts.query(t, "www.example.", dns.TypeA), dns.RcodeServerFailure, false)
	expect(t, ts.query(t, "default.svc.cluster.local.", dns.TypeA), dns.RcodeSuccess, true)
}

func TestConfigErrors(t *testing.T) {
	c := fake.NewClientset()
	for _, cfg := range []Config{
		{Addr: "127.0.0.1:0"},
		{Client: c, Addr: "nope"},
		{Client: c, Addr: "127.0.0.1:0", Upstreams: []string{"resolver.example"}},
		{Client: c, Addr: "127.0.0.1:0", ClusterDomain: "bad..domain"},
	} {
		if _, err := NewServer(cfg); err == nil {
			t.Errorf("NewServer(%+v) accepted", cfg)
		}
	}
}

// TestFlood: queries for external names pile up behind a resolver that
// never answers; past the bound of waiting forwards the server answers
// SERVFAIL at once instead of holding a goroutine per query, and cluster
// names are answered all along.
func TestFlood(t *testing.T) {
	black, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer black.Close()
	s := runServer(t, Config{Client: fake.NewClientset(clusterObjects()...), Addr: "127.0.0.1:0",
		Upstreams: []string{black.LocalAddr().String()}, MaxConcurrentForwards: 16})
	base := runtime.NumGoroutine()
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// In bursts the sockets' buffers hold, answers read between them.
	const flood, burst = 3000, 100
	servfail, peak := 0, 0
	buf := make([]byte, 512)
	for i := 0; i < flood; i += burst {
		for j := i; j < i+burst; j++ {
			wire, _ := new(dns.Msg).SetQuestion(fmt.Sprintf("n%d.example.", j), dns.TypeA).Pack()
			_, _ = conn.Write(wire)
		}
		peak = max(peak, runtime.NumGoroutine())
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				break
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) == nil && m.Rcode == dns.RcodeServerFailure {
				servfail++
			}
		}
	}
	if peak-base > 200 {
		t.Errorf("%d goroutines during a flood of %d queries (base %d)", peak, flood, base)
	}
	// All but the 16 waiting ones (and those the kernel dropped).
	if servfail < flood*8/10 {
		t.Errorf("%d of %d queries over the bound answered SERVFAIL at once", servfail, flood)
	}
	expect(t, s.query(t, "web.default.svc.cluster.local.", dns.TypeA), dns.RcodeSuccess, true, "web.default.svc.cluster.local. IN A 10.43.0.20")
}

// TestAllowedClients: a client outside the allowed networks is REFUSED,
// cluster names and forwarding alike.
func TestAllowedClients(t *testing.T) {
	up := startUpstream(t)
	_, other, _ := net.ParseCIDR("10.99.0.0/16")
	s := runServer(t, Config{Client: fake.NewClientset(clusterObjects()...), Addr: "127.0.0.1:0",
		Upstreams: []string{up.addr}, AllowedClients: []*net.IPNet{other}})
	for _, name := range []string{"web.default.svc.cluster.local.", "www.example."} {
		if r := s.query(t, name, dns.TypeA); r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
			t.Errorf("%s from a client not allowed: %s %v", name, dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
	if n := up.queries.Load(); n != 0 {
		t.Errorf("%d queries forwarded for a client not allowed", n)
	}
	_, lo, _ := net.ParseCIDR("127.0.0.0/8")
	s = runServer(t, Config{Client: fake.NewClientset(clusterObjects()...), Addr: "127.0.0.1:0",
		Upstreams: []string{up.addr}, AllowedClients: []*net.IPNet{other, lo}})
	expect(t, s.query(t, "web.default.svc.cluster.local.", dns.TypeA, overTCP), dns.RcodeSuccess, true, "web.default.svc.cluster.local. IN A 10.43.0.20")
}
