package dns

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestParseRequest(t *testing.T) {
	cases := []struct {
		base string
		want request
		ok   bool
	}{
		{"", request{}, true},
		{"svc", request{}, true},
		{"ns.svc", request{podOrSvc: "svc", namespace: "ns"}, true},
		{"web.ns.svc", request{podOrSvc: "svc", namespace: "ns", service: "web"}, true},
		{"web-0.web.ns.svc", request{podOrSvc: "svc", namespace: "ns", service: "web", endpoint: "web-0"}, true},
		{"_http._tcp.web.ns.svc", request{podOrSvc: "svc", namespace: "ns", service: "web", port: "http", protocol: "tcp"}, true},
		{"1-2-3-4.ns.pod", request{podOrSvc: "pod", namespace: "ns", service: "1-2-3-4"}, true},
		{"a.b.c.web.ns.svc", request{}, false},
		{"web.ns.other", request{}, false},
	}
	for _, c := range cases {
		got, ok := parseRequest(c.base)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseRequest(%q) = %+v, %v; want %+v, %v", c.base, got, ok, c.want, c.ok)
		}
	}
}

func TestAddressFromReverse(t *testing.T) {
	cases := map[string]string{
		"4.3.2.1.in-addr.arpa.":   "1.2.3.4",
		"3.2.1.in-addr.arpa.":     "",
		"x.3.2.1.in-addr.arpa.":   "",
		"256.3.2.1.in-addr.arpa.": "",
		"in-addr.arpa.":           "",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.": "fd00::1",
		"1.0.0.0.ip6.arpa.": "",
		"10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.": "",
		"www.example.": "",
	}
	for in, want := range cases {
		if got := addressFromReverse(in); got != want {
			t.Errorf("addressFromReverse(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEndpointHostname(t *testing.T) {
	for _, c := range []struct {
		ep   endpoint
		want string
	}{
		{endpoint{ip: "10.42.0.5"}, "10-42-0-5"},
		{endpoint{ip: "fd00::5"}, "fd00--5"},
		{endpoint{ip: "10.42.0.5", hostname: "web-0"}, "web-0"},
	} {
		if got := endpointHostname(c.ep); got != c.want {
			t.Errorf("endpointHostname(%+v) = %q, want %q", c.ep, got, c.want)
		}
	}
}

func TestCacheBounds(t *testing.T) {
	c := newCache(100, 0)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	answer := func(name string, ttl uint32) (*dns.Msg, *dns.Msg) {
		q := new(dns.Msg).SetQuestion(name, dns.TypeA)
		r := new(dns.Msg).SetReply(q)
		r.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.IPv4(192, 0, 2, 1)}}
		return q, r
	}
	for i := 0; i < 1000; i++ {
		c.put(answer(fmt.Sprintf("n%d.example.", i), 300))
	}
	if n := c.len(); n != 100 {
		t.Errorf("%d entries, want the bound of 100", n)
	}
	q, _ := answer("n999.example.", 0)
	if m := c.get(q); m == nil || m.Answer[0].Header().Ttl != 30 {
		t.Errorf("recent entry: %v, want it with TTL 30", m)
	}
	if q, _ := answer("n0.example.", 0); c.get(q) != nil {
		t.Error("the oldest entry was not evicted")
	}
	now = now.Add(31 * time.Second)
	if c.get(q) != nil {
		t.Error("entry outlived the 30 s cap")
	}
	// Zero TTL, SERVFAIL and truncated answers are not kept.
	q0, r0 := answer("zero.example.", 0)
	c.put(q0, r0)
	q1, r1 := answer("fail.example.", 60)
	r1.Rcode = dns.RcodeServerFailure
	c.put(q1, r1)
	if c.get(q0) != nil || c.get(q1) != nil {
		t.Error("cached an answer that must not be")
	}
	// A byte bound holds too.
	small := newCache(1000, 4096)
	for i := 0; i < 1000; i++ {
		small.put(answer(fmt.Sprintf("n%d.example.", i), 300))
	}
	if small.bytes > 4096 {
		t.Errorf("%d bytes cached, bound 4096", small.bytes)
	}
}

func TestUpstreamsFromResolvConf(t *testing.T) {
	dir := t.TempDir()
	stub := filepath.Join(dir, "resolv.conf")
	real := filepath.Join(dir, "systemd.conf")
	if err := os.WriteFile(stub, []byte("nameserver 127.0.0.53\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("# systemd\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	u := &upstreams{candidates: []string{stub, real}, exclude: map[string]bool{}}
	got, err := u.list()
	if err != nil || fmt.Sprint(got) != "[192.0.2.53:53 [2001:db8::53]:53]" {
		t.Errorf("with a loopback stub: %v, %v; want systemd-resolved's upstreams", got, err)
	}
	// Only the stub: the node can still use it.
	u = &upstreams{candidates: []string{stub}, exclude: map[string]bool{}}
	if got, err := u.list(); err != nil || fmt.Sprint(got) != "[127.0.0.53:53]" {
		t.Errorf("stub only: %v, %v", got, err)
	}
	u = &upstreams{candidates: []string{filepath.Join(dir, "missing")}, exclude: map[string]bool{}}
	if _, err := u.list(); err == nil {
		t.Error("missing resolv.conf: no error")
	}
}

func TestPublishEndpoint(t *testing.T) {
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: ServiceNamespace, UID: "svc-uid"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", UID: "node-uid"}},
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- PublishEndpoint(ctx, client, "node-a", net.ParseIP("192.0.2.10"), 5353) }()
	slices := client.DiscoveryV1().EndpointSlices(ServiceNamespace)
	var es *discoveryv1.EndpointSlice
	waitFor(t, func() bool {
		var err error
		es, err = slices.Get(context.Background(), "kube-dns-node-a", metav1.GetOptions{})
		return err == nil
	})
	if es.Labels[discoveryv1.LabelServiceName] != ServiceName || es.Labels[discoveryv1.LabelManagedBy] != ManagedBy ||
		len(es.Endpoints) != 1 || es.Endpoints[0].Addresses[0] != "192.0.2.10" || *es.Endpoints[0].NodeName != "node-a" ||
		!*es.Endpoints[0].Conditions.Ready || len(es.Ports) != 2 || *es.Ports[0].Port != 5353 || *es.Ports[0].Name != "dns" ||
		*es.Ports[1].Protocol != corev1.ProtocolTCP || len(es.OwnerReferences) != 2 {
		t.Errorf("slice %+v", es)
	}
	// Deleted by someone else: back at once.
	if err := slices.Delete(context.Background(), es.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, err := slices.Get(context.Background(), "kube-dns-node-a", metav1.GetOptions{})
		return err == nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := slices.Get(context.Background(), "kube-dns-node-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("slice left after the agent stopped: %v", err)
	}
}

func TestService(t *testing.T) {
	s := Service(net.ParseIP("10.43.0.10"))
	if s.Spec.Selector != nil || *s.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal ||
		s.Spec.ClusterIP != "10.43.0.10" || s.Labels["k8s-app"] != "kube-dns" || len(s.Spec.Ports) != 2 {
		t.Errorf("kube-dns Service %+v", s)
	}
	client := fake.NewClientset()
	for i := 0; i < 2; i++ {
		if err := EnsureService(context.Background(), client, net.ParseIP("10.43.0.10")); err != nil {
			t.Fatal(err)
		}
	}
}
