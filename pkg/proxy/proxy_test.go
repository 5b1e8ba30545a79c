package proxy

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// recorder is a Datapath that keeps what it is told, as a kernel would.
type recorder struct {
	mu      sync.Mutex
	state   map[FrontendKey]*Frontend
	applies int
}

func (r *recorder) Name() string { return "recorder" }
func (r *recorder) Close() error { return nil }
func (r *recorder) Keys() []FrontendKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []FrontendKey
	for k := range r.state {
		out = append(out, k)
	}
	return out
}
func (r *recorder) Apply(ch map[FrontendKey]*Frontend) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applies++
	for k, f := range ch {
		if f == nil {
			delete(r.state, k)
		} else {
			r.state[k] = f
		}
	}
	return nil
}

func (r *recorder) get(k FrontendKey) (*Frontend, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state[k], len(r.state)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProxierSync(t *testing.T) {
	stale := key("10.43.9.9:80", TCP)
	rec := &recorder{state: map[FrontendKey]*Frontend{stale: {}}} // left by an earlier run
	client := fake.NewClientset(testService(nil))
	_, p := newProxier(Config{Client: client, NodeName: "n1", NodeIPs: testNode.Addresses})
	p.dps = []Datapath{rec}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	http := key("10.43.0.5:80", TCP)
	eventually(t, "the service's frontends without the stale one", func() bool {
		f, n := rec.get(http)
		return f != nil && len(f.Backends) == 0 && n == 2
	})
	c := client.DiscoveryV1().EndpointSlices("ns")
	s := testSlice(ep{ip: "10.42.0.2", node: "n1"}, ep{ip: "10.42.0.3", node: "n2"})
	if _, err := c.Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two backends", func() bool { f, _ := rec.get(http); return backends(f) == "10.42.0.2:8080,10.42.0.3:8080" })
	s.Endpoints[1].Conditions.Ready = ptr.To(false)
	if _, err := c.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the unready backend to leave", func() bool { f, _ := rec.get(http); return backends(f) == "10.42.0.2:8080" })

	svc, _ := client.CoreV1().Services("ns").Get(ctx, "web", metav1.GetOptions{})
	svc.Spec.Type = corev1.ServiceTypeNodePort
	svc.Spec.Ports[0].NodePort = 30080
	if _, err := client.CoreV1().Services("ns").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the NodePort frontends", func() bool {
		f, _ := rec.get(key("127.0.0.1:30080", TCP))
		g, _ := rec.get(key("192.0.2.10:30080", TCP))
		return f != nil && g != nil && f.External
	})
	if err := client.CoreV1().Services("ns").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every frontend to go", func() bool { _, n := rec.get(http); return n == 0 })

	// A burst of changes is applied in batches.
	rec.mu.Lock()
	before := rec.applies
	rec.mu.Unlock()
	for i := 0; i < 200; i++ {
		s := testService(nil)
		s.Name = "burst-" + strconv.Itoa(i)
		s.Spec.ClusterIP = ""
		s.Spec.ClusterIPs = []string{"10.43.1." + strconv.Itoa(i)}
		client.CoreV1().Services("ns").Create(ctx, s, metav1.CreateOptions{})
	}
	eventually(t, "400 frontends", func() bool { _, n := rec.get(http); return n == 400 })
	rec.mu.Lock()
	batches := rec.applies - before
	rec.mu.Unlock()
	if batches >= 200 {
		t.Errorf("200 services took %d datapath writes; changes are not batched", batches)
	}
	t.Logf("200 services created one by one were applied in %d batches", batches)
}

// NodePorts follow the host's addresses as they change.
func TestProxierHostAddresses(t *testing.T) {
	var mu sync.Mutex
	host := []netip.Addr{netip.MustParseAddr("192.0.2.20")}
	rec := &recorder{state: map[FrontendKey]*Frontend{}}
	client := fake.NewClientset(testService(func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = 30080
	}))
	_, p := newProxier(Config{Client: client, NodeName: "n1", NodeIPs: testNode.Addresses,
		HostAddresses: func() []netip.Addr {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(host)
		},
		AddressPeriod: 20 * time.Millisecond})
	p.dps = []Datapath{rec}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	has := func(addr string) bool { f, _ := rec.get(key(addr+":30080", TCP)); return f != nil }
	eventually(t, "NodePorts on the configured and the host's address", func() bool {
		return has("192.0.2.10") && has("192.0.2.20") && has("127.0.0.1")
	})
	mu.Lock()
	host = []netip.Addr{netip.MustParseAddr("192.0.2.30")}
	mu.Unlock()
	eventually(t, "the NodePort to move to the host's new address", func() bool {
		return has("192.0.2.10") && has("192.0.2.30") && !has("192.0.2.20")
	})
}
