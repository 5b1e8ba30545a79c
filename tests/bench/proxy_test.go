package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/proxy"
	"github.com/skiff-k8s/skiff/tests/nodetest"
)

// BenchmarkProxy measures the eBPF service proxy (as root; it skips
// otherwise): connect+request latency through a ClusterIP against straight
// to the backend's IP, the time to program 10,000 services of 3 endpoints,
// and the time from an EndpointSlice change to the map update. The proxy
// runs in process against a fake clientset (no apiserver in the path); the
// backend serves in a network namespace behind a veth, as a pod does.
func BenchmarkProxy(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to load eBPF programs and make a network namespace")
	}
	if _, err := proxy.CgroupV2Root(); err != nil {
		b.Skipf("no cgroup v2: %v", err)
	}
	bpffs := b.TempDir()
	if out, err := exec.Command("mount", "-t", "bpf", "bpf", bpffs).CombinedOutput(); err != nil {
		b.Skipf("mount bpffs: %v: %s", err, out)
	}
	b.Cleanup(func() { exec.Command("umount", "-l", bpffs).Run() })
	id := benchHex(3)
	pinDir, table := filepath.Join(bpffs, "skiff"), "skiff-bench-"+id
	b.Cleanup(func() { proxy.Uninstall(pinDir, table) })

	subnet := benchFreeNet(b)
	ns, host, peer := "skb-"+id, "skbh"+id, "skbp"+id
	for _, args := range [][]string{
		{"netns", "add", ns},
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", ns},
		{"addr", "add", subnet + "1/30", "dev", host},
		{"link", "set", host, "up"},
		{"-n", ns, "addr", "add", subnet + "2/30", "dev", peer},
		{"-n", ns, "link", "set", peer, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			b.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		if args[0] == "netns" {
			b.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		}
		if args[0] == "link" && args[1] == "add" {
			b.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
		}
	}
	backendIP := subnet + "2"
	l, err := nodetest.ServeTCP("/var/run/netns/"+ns, backendIP+":8080", func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 64)
		if n, err := c.Read(buf); err == nil {
			c.Write(buf[:n])
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()

	// 10,000 services of 3 endpoints each, already in the API when the
	// proxy starts: the time to its first complete sync.
	const nSvc = 10000
	objs := make([]runtime.Object, 0, 2*nSvc+2)
	for i := 0; i < nSvc; i++ {
		ip := fmt.Sprintf("10.%d.%d.%d", 200+i/65536, i/256%256, i%256)
		objs = append(objs, benchService(fmt.Sprintf("svc-%d", i), ip),
			benchSlice(fmt.Sprintf("svc-%d", i), []string{backendIP, subnet + "3", subnet + "4"}))
	}
	vip := subnet + "0" // the /30's network address: nothing answers on it
	objs = append(objs, benchService("bench", vip), benchSlice("bench", []string{backendIP}))
	client := fake.NewClientset(objs...)

	synced := make(chan time.Time, 100)
	p, err := proxy.New(proxy.Config{
		Client: client, NodeName: "bench", NodeIPs: []netip.Addr{netip.MustParseAddr(subnet + "1")},
		PinDir: pinDir, NFTable: table,
		OnSync: func(n int, err error) {
			if err != nil {
				b.Errorf("sync: %v", err)
			}
			if n > 0 {
				synced <- time.Now()
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	if mode, why := p.Mode(); mode != "ebpf" {
		b.Skipf("eBPF datapath unavailable: %v", why)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	start := time.Now()
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	first := <-synced
	report(b, "program %d services x 3 endpoints (list + build + eBPF maps, first sync): %v", nSvc, first.Sub(start).Round(time.Millisecond))
	b.ReportMetric(first.Sub(start).Seconds()*1000, "10k-svc-ms")

	// Latency: connect + one request/reply, straight and through the ClusterIP.
	direct := net.JoinHostPort(backendIP, "8080")
	viaVIP := net.JoinHostPort(vip, "80")
	const rounds = 3000
	var dLat, vLat []time.Duration
	for i := 0; i < rounds; i++ {
		for _, c := range []struct {
			addr string
			lat  *[]time.Duration
		}{{direct, &dLat}, {viaVIP, &vLat}} {
			t0 := time.Now()
			if err := benchRequest(c.addr); err != nil {
				b.Fatalf("%s: %v", c.addr, err)
			}
			*c.lat = append(*c.lat, time.Since(t0))
		}
	}
	dp50, vp50 := benchPct(dLat, 0.5), benchPct(vLat, 0.5)
	dMean, vMean := benchMean(dLat), benchMean(vLat)
	report(b, "connect+request, %d rounds: direct p50 %v mean %v; ClusterIP p50 %v mean %v; overhead p50 %+.1f%% mean %+.1f%%",
		rounds, dp50, dMean, vp50, vMean, 100*(float64(vp50)/float64(dp50)-1), 100*(float64(vMean)/float64(dMean)-1))
	b.ReportMetric(float64(dp50.Microseconds()), "direct-p50-us")
	b.ReportMetric(float64(vp50.Microseconds()), "clusterip-p50-us")

	// EndpointSlice change -> map update: alternate 1 and 2 endpoints.
	key := proxy.FrontendKey{IP: netip.MustParseAddr(vip), Port: 80, Proto: proxy.TCP}
	var changes []time.Duration
	for i := 0; i < 50; i++ {
		want := 2 - i%2
		s := benchSlice("bench", []string{backendIP, subnet + "3"}[:want])
		t0 := time.Now()
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		for {
			n, err := proxy.PinnedBackends(pinDir, key)
			if err != nil {
				b.Fatal(err)
			}
			if n == want {
				break
			}
			if time.Since(t0) > 10*time.Second {
				b.Fatalf("map not updated in 10s (have %d backends, want %d)", n, want)
			}
			time.Sleep(200 * time.Microsecond)
		}
		changes = append(changes, time.Since(t0))
	}
	report(b, "EndpointSlice change -> eBPF map updated (incl. the 10ms batching window), 50 changes: p50 %v p99 %v max %v",
		benchPct(changes, 0.5), benchPct(changes, 0.99), benchPct(changes, 1))
	b.ReportMetric(float64(benchPct(changes, 0.5).Microseconds())/1000, "endpoint-change-p50-ms")
}

func benchRequest(addr string) error {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	return err
}

func benchService(name, ip string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: ip, ClusterIPs: []string{ip}, Type: corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
}

func benchSlice(svc string, ips []string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: svc + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(8080))}},
	}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	return s
}

func benchHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// benchFreeNet returns "10.252.N." for a /24 nothing on the host uses.
func benchFreeNet(b *testing.B) string {
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	addrs, _ := exec.Command("ip", "-4", "addr").Output()
	for i := 0; i < 100; i++ {
		var r [1]byte
		rand.Read(r[:])
		p := fmt.Sprintf("10.252.%d.", r[0])
		if !strings.Contains(string(routes), p) && !strings.Contains(string(addrs), p) {
			return p
		}
	}
	b.Fatal("no free /24 in 10.252.0.0/16")
	return ""
}

func benchPct(d []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q * float64(len(s)-1))
	return s[i]
}

func benchMean(d []time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}
