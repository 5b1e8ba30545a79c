package bench

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sort"
	"sync"
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

	skiffdns "github.com/skiff-k8s/skiff/pkg/dns"
)

// BenchmarkDNS prints the cluster DNS's queries per second over UDP on
// loopback, for cluster names (a ClusterIP and a headless Service among
// 10,000 Services with 3 endpoints each), for external names answered from
// the cache, and for external names that each go to the upstream (a
// loopback server that answers at once), with the heap its caches take.
// The server is pkg/dns itself, fed by informers over a fake clientset: the
// figure is the server's, not the apiserver's.
func BenchmarkDNS(b *testing.B) {
	const services = 10000
	objs := []k8sruntime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}}
	for i := 0; i < services; i++ {
		name := fmt.Sprintf("svc-%d", i)
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench"}, Spec: corev1.ServiceSpec{
			ClusterIP: fmt.Sprintf("10.43.%d.%d", i/250, 1+i%250), Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}}}
		if i%2 == 1 {
			s.Spec.ClusterIP = corev1.ClusterIPNone
		} else {
			s.Spec.ClusterIPs = []string{s.Spec.ClusterIP}
		}
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name + "-x", Namespace: "bench",
			Labels: map[string]string{discoveryv1.LabelServiceName: name}}, AddressType: discoveryv1.AddressTypeIPv4,
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(8080))}}}
		for j := 0; j < 3; j++ {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", 100+j, i/250, 1+i%250)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
		}
		objs = append(objs, s, es)
	}
	upstream := benchUpstream(b)
	client := fake.NewClientset(objs...)
	objs = nil
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	srv, err := skiffdns.NewServer(skiffdns.Config{Client: client, Addr: "127.0.0.1:0", Upstreams: []string{upstream},
		ClusterDNS: []net.IP{net.ParseIP("10.43.0.10")}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-srv.Ready()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		report(b, "DNS: %d Services, 3 endpoints each; the server's informer caches take %.1f MB of heap", services, float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
		for _, c := range []struct {
			what  string
			names func(i int) string
		}{
			{"cluster name (ClusterIP A)", func(i int) string { return fmt.Sprintf("svc-%d.bench.svc.cluster.local.", 2*(i%5000)) }},
			{"cluster name (headless A, 3 endpoints)", func(i int) string { return fmt.Sprintf("svc-%d.bench.svc.cluster.local.", 2*(i%5000)+1) }},
			{"external name, cached", func(i int) string { return fmt.Sprintf("host-%d.example.", i%100) }},
			{"external name, forwarded (each name new)", func(i int) string { return fmt.Sprintf("new-%d-%d.example.", time.Now().UnixNano(), i) }},
		} {
			// Warm the cache for the cached case.
			for j := 0; j < 100; j++ {
				benchQuery(b, srv.Addr(), c.names(j))
			}
			qps, p50, p99 := benchLoad(b, srv.Addr(), 16, 2*time.Second, c.names)
			report(b, "DNS %-42s %8.0f queries/s over UDP, 16 clients (p50 %v, p99 %v)", c.what+":", qps, p50, p99)
		}
	}
}

// benchUpstream answers every A query at once with one address.
func benchUpstream(b *testing.B) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1)}}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = s.ActivateAndServe() }()
	b.Cleanup(func() { _ = s.Shutdown() })
	return pc.LocalAddr().String()
}

func benchQuery(b *testing.B, addr, name string) {
	c := &dns.Client{Timeout: 5 * time.Second}
	if _, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr); err != nil {
		b.Fatal(err)
	}
}

// benchLoad runs clients that each send a query and wait for its answer,
// for d; it returns the answers per second and the latency percentiles.
func benchLoad(b *testing.B, addr string, clients int, d time.Duration, names func(int) string) (float64, time.Duration, time.Duration) {
	var total atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			conn, err := net.Dial("udp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			buf := make([]byte, 4096)
			var mine []time.Duration
			for i := c; time.Now().Before(deadline); i += clients {
				m := new(dns.Msg).SetQuestion(names(i), dns.TypeA)
				wire, _ := m.Pack()
				start := time.Now()
				_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := conn.Write(wire); err != nil {
					continue
				}
				for {
					n, err := conn.Read(buf)
					if err != nil {
						break
					}
					if n >= 2 && uint16(buf[0])<<8|uint16(buf[1]) == m.Id {
						mine = append(mine, time.Since(start))
						break
					}
				}
			}
			total.Add(int64(len(mine)))
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	if len(lat) == 0 {
		return 0, 0, 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return float64(total.Load()) / d.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100]
}
