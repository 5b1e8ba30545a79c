package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/network"
	"github.com/skiff-k8s/skiff/pkg/proxy"
)

// These tests run the service proxy in process against a fake clientset,
// with real backends: pod networks made by the CNI plugins (netNewNode),
// each serving its name over TCP and UDP. The eBPF programs attach to the
// machine's root cgroup, so the services live in a /24 no route uses and
// every frontend is the test's own; maps and links are pinned on a bpffs
// the test mounts, and everything is detached and unmounted at the end.

const (
	proxyTCPPort = 8080
	proxyUDPPort = 5353
)

type proxyEnv struct {
	t       *testing.T
	client  *fake.Clientset
	node    *netNode
	pods    map[string]string // pod name -> IP
	nsPaths map[string]string // pod name -> netns path
	vipNet  string            // "10.243.N." prefix of the service addresses
	pinDir  string
	table   string
	nodeIP  netip.Addr // the host's address on the outside client's veth
	outNS   string     // netns path of the outside client

	syncs atomic.Int64 // syncs that changed something
}

type proxyRun struct {
	p      *proxy.Proxier
	cancel context.CancelFunc
	done   chan error
}

func proxyRequire(t *testing.T) {
	t.Helper()
	netRequireRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed")
	}
	if _, err := proxy.CgroupV2Root(); err != nil {
		t.Skipf("no cgroup v2: %v", err)
	}
}

// proxyNewEnv makes three pods (a, b, c), the outside client's namespace
// and a private bpffs.
func proxyNewEnv(t *testing.T) *proxyEnv {
	proxyRequire(t)
	e := &proxyEnv{t: t, client: fake.NewClientset(), pods: map[string]string{}, nsPaths: map[string]string{}}
	e.node = netNewNode(t, 24)
	for _, name := range []string{"a", "b", "c"} {
		_, pn := netSetup(t, e.node, name)
		e.pods[name] = pn.IPs[0].String()
		e.nsPaths[name] = pn.NetnsPath
		proxyServe(t, pn, name)
	}
	e.vipNet = proxyFreeNet(t, 243)

	bpffs := t.TempDir()
	if out, err := exec.Command("mount", "-t", "bpf", "bpf", bpffs).CombinedOutput(); err != nil {
		t.Skipf("mount bpffs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", bpffs).Run() })
	e.pinDir = filepath.Join(bpffs, "skiff")
	e.table = "skiff-proxy-" + netRandomHex(t, 4)
	t.Cleanup(func() {
		if err := proxy.Uninstall(e.pinDir, e.table); err != nil {
			t.Errorf("uninstall: %v", err)
		}
	})

	// The outside client: a namespace with a veth to the host.
	outNet, ns := netOutside(t, 253, true)
	e.nodeIP = netip.MustParseAddr(outNet + "1")
	e.outNS = "/var/run/netns/" + ns
	return e
}

// proxyFreeNet returns "10.<second>.N." for a /24 that no address or route
// on the host uses.
func proxyFreeNet(t *testing.T, second int) string {
	t.Helper()
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	addrs, _ := exec.Command("ip", "-4", "addr").Output()
	for i := 0; i < 100; i++ {
		var b [1]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		p := fmt.Sprintf("10.%d.%d.", second, b[0])
		if !strings.Contains(string(routes), p) && !strings.Contains(string(addrs), p) {
			return p
		}
	}
	t.Fatalf("no free /24 in 10.%d.0.0/16", second)
	return ""
}

// proxyServe answers every TCP connection on :8080 and every UDP datagram
// on :5353 of the pod with the pod's name.
func proxyServe(t *testing.T, pn *network.PodNetwork, name string) {
	t.Helper()
	var l net.Listener
	var pc net.PacketConn
	err := network.Do(pn.NetnsPath, func() error {
		var err error
		if l, err = net.Listen("tcp4", fmt.Sprintf(":%d", proxyTCPPort)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", proxyUDPPort))
		return err
	})
	if err != nil {
		t.Fatalf("listen in pod %s: %v", name, err)
	}
	t.Cleanup(func() { l.Close(); pc.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, name)
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(name), from)
		}
	}()
}

func (e *proxyEnv) start(mod func(*proxy.Config)) *proxyRun {
	e.t.Helper()
	cfg := proxy.Config{
		Client:        e.client,
		NodeName:      "node-e2e",
		NodeIPs:       []netip.Addr{e.nodeIP},
		PinDir:        e.pinDir,
		NFTable:       e.table,
		MinSyncPeriod: 5 * time.Millisecond,
		OnSync: func(n int, err error) {
			if err != nil {
				e.t.Errorf("proxy sync: %v", err)
			}
			if n > 0 {
				e.syncs.Add(1)
			}
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := proxy.New(cfg)
	if err != nil {
		e.t.Fatalf("proxy.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &proxyRun{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	e.t.Cleanup(r.stop)
	return r
}

func (r *proxyRun) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

// apply runs f (a change to the fake API) and waits until the proxy has
// programmed it.
func (e *proxyEnv) apply(f func()) {
	e.t.Helper()
	before := e.syncs.Load()
	f()
	deadline := time.Now().Add(10 * time.Second)
	for e.syncs.Load() == before {
		if time.Now().After(deadline) {
			e.t.Fatal("the proxy did not sync the change in 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *proxyEnv) service(name, ip string, mod func(*corev1.Service)) *corev1.Service {
	e.t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  ip,
			ClusterIPs: []string{ip},
			Ports: []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")},
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(proxyUDPPort)},
			},
		},
	}
	if mod != nil {
		mod(svc)
	}
	e.apply(func() {
		if _, err := e.client.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
			e.t.Fatal(err)
		}
	})
	return svc
}

// slice makes the service's EndpointSlice with the named pods (ready,
// on node-e2e unless listed in remote).
func (e *proxyEnv) slice(svc string, pods []string, remote ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: svc + "-x1",
			Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(proxyTCPPort))},
			{Name: ptr.To("dns"), Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(int32(proxyUDPPort))},
		},
	}
	for _, p := range pods {
		node := "node-e2e"
		for _, r := range remote {
			if r == p {
				node = "node-other"
			}
		}
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.pods[p]},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			NodeName:   ptr.To(node),
		})
	}
	return s
}

func (e *proxyEnv) putSlice(s *discoveryv1.EndpointSlice) {
	e.t.Helper()
	e.apply(func() {
		c := e.client.DiscoveryV1().EndpointSlices("default")
		if _, err := c.Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
			if _, err := c.Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
				e.t.Fatal(err)
			}
		}
	})
}

// tcpName connects to addr (from the netns at nsPath, or the host) and
// returns what the backend answers, and the peer address the socket shows.
func tcpName(nsPath, addr string) (string, string, error) {
	var c net.Conn
	dial := func() error {
		var err error
		c, err = net.DialTimeout("tcp4", addr, 5*time.Second)
		return err
	}
	if err := netIn(nsPath, dial); err != nil {
		return "", "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), c.RemoteAddr().String(), err
}

// udpName sends one datagram to addr from an unconnected socket and
// returns the answer and the address it came from.
func udpName(nsPath, addr string) (string, string, error) {
	var pc net.PacketConn
	listen := func() error {
		var err error
		pc, err = net.ListenPacket("udp4", ":0")
		return err
	}
	if err := netIn(nsPath, listen); err != nil {
		return "", "", err
	}
	defer pc.Close()
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return "", "", err
	}
	buf := make([]byte, 512)
	for try := 0; try < 3; try++ {
		if _, err := pc.WriteTo([]byte("who"), to); err != nil {
			return "", "", err
		}
		pc.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, from, err := pc.ReadFrom(buf)
		if err == nil {
			return string(buf[:n]), from.String(), nil
		}
	}
	return "", "", errors.New("no UDP answer")
}

func (e *proxyEnv) wantPods(t *testing.T, what, nsPath, addr string, n int, allowed ...string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		name, peer, err := tcpName(nsPath, addr)
		if err != nil {
			t.Fatalf("%s: connect %s: %v", what, addr, err)
		}
		if !contains(allowed, name) {
			t.Fatalf("%s: %s answered by %q, want one of %v", what, addr, name, allowed)
		}
		if peer != addr {
			t.Fatalf("%s: getpeername shows %s, want the service address %s", what, peer, addr)
		}
		seen[name]++
	}
	return seen
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestProxyEBPF(t *testing.T) {
	e := proxyNewEnv(t)
	r := e.start(nil)
	if mode, why := r.p.Mode(); mode != "ebpf" {
		t.Skipf("the kernel cannot load the proxy's programs: %v", why)
	}
	vip := e.vipNet + "10"
	e.service("web", vip, nil)
	e.putSlice(e.slice("web", []string{"a", "b", "c"}))
	all := []string{"a", "b", "c"}
	http := net.JoinHostPort(vip, "80")

	t.Run("ClusterIPTCPFromHost", func(t *testing.T) {
		seen := e.wantPods(t, "host", "", http, 30, all...)
		if len(seen) < 2 {
			t.Errorf("30 connections reached only %v", seen)
		}
	})
	t.Run("ClusterIPFromDualStackSocket", func(t *testing.T) {
		// An AF_INET6 socket connecting to ::ffff:<ClusterIP>, as Java does.
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Skipf("no IPv6 sockets: %v", err)
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			t.Fatal(err)
		}
		mapped := netip.MustParseAddr("::ffff:" + vip).As16()
		sa := &unix.SockaddrInet6{Port: 80, Addr: mapped}
		if err := unix.Connect(fd, sa); err != nil {
			t.Fatalf("connect [::ffff:%s]:80: %v", vip, err)
		}
		peer, err := unix.Getpeername(fd)
		if err != nil {
			t.Fatal(err)
		}
		if p6, ok := peer.(*unix.SockaddrInet6); !ok || p6.Addr != mapped || p6.Port != 80 {
			t.Errorf("getpeername shows %+v, want [::ffff:%s]:80", peer, vip)
		}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
		buf := make([]byte, 16)
		n, err := unix.Read(fd, buf)
		if err != nil || n <= 0 || !contains(all, string(buf[:n])) {
			t.Fatalf("read from the backend: %q, %v", buf[:max(n, 0)], err)
		}
	})
	t.Run("ClusterIPUDPFromHost", func(t *testing.T) {
		name, from, err := udpName("", net.JoinHostPort(vip, "53"))
		if err != nil {
			t.Fatal(err)
		}
		if !contains(all, name) || from != net.JoinHostPort(vip, "53") {
			t.Fatalf("UDP answer %q from %s, want a pod's name from the service address", name, from)
		}
		// A connected UDP socket: connect4 picks the backend, getpeername
		// shows the service.
		c, err := net.Dial("udp4", net.JoinHostPort(vip, "53"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := c.RemoteAddr().String(); got != net.JoinHostPort(vip, "53") {
			t.Errorf("connected UDP socket's peer is %s, want the service address", got)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		c.Write([]byte("who"))
		n, err := c.Read(buf)
		if err != nil || !contains(all, string(buf[:n])) {
			t.Fatalf("connected UDP: %q, %v", buf[:n], err)
		}
	})
	t.Run("ClusterIPFromPod", func(t *testing.T) {
		e.wantPods(t, "pod a", e.nsPaths["a"], http, 10, all...)
		name, from, err := udpName(e.nsPaths["b"], net.JoinHostPort(vip, "53"))
		if err != nil || !contains(all, name) || from != net.JoinHostPort(vip, "53") {
			t.Fatalf("UDP from pod b: %q from %s, %v", name, from, err)
		}
	})
	t.Run("NoEndpointsRefused", func(t *testing.T) {
		empty := e.vipNet + "11"
		e.service("empty", empty, nil)
		start := time.Now()
		_, _, err := tcpName("", net.JoinHostPort(empty, "80"))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connect to a service without endpoints: %v, want ECONNREFUSED", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("refusal took %v", d)
		}
		_, _, err = udpName("", net.JoinHostPort(empty, "53"))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("sendto a service without endpoints: %v, want ECONNREFUSED", err)
		}
	})
	t.Run("SessionAffinity", func(t *testing.T) {
		ip := e.vipNet + "12"
		e.service("sticky", ip, func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(60))}}
		})
		e.putSlice(e.slice("sticky", all))
		seen := e.wantPods(t, "affinity", "", net.JoinHostPort(ip, "80"), 20, all...)
		if len(seen) != 1 {
			t.Fatalf("ClientIP affinity: connections went to %v", seen)
		}
		// The pinned backend leaves: the client moves to another one.
		var first string
		for n := range seen {
			first = n
		}
		var rest []string
		for _, n := range all {
			if n != first {
				rest = append(rest, n)
			}
		}
		e.putSlice(e.slice("sticky", rest))
		seen = e.wantPods(t, "affinity after leave", "", net.JoinHostPort(ip, "80"), 10, rest...)
		if len(seen) != 1 {
			t.Fatalf("ClientIP affinity after the backend left: %v", seen)
		}
	})
	t.Run("InternalTrafficPolicyLocal", func(t *testing.T) {
		ip := e.vipNet + "13"
		e.service("local", ip, func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
		})
		e.putSlice(e.slice("local", all, "b", "c"))
		e.wantPods(t, "iTP Local", "", net.JoinHostPort(ip, "80"), 10, "a")
	})
	t.Run("NodePort", func(t *testing.T) {
		ip := e.vipNet + "14"
		const nodePort = 31777
		e.service("np", ip, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = nodePort
			s.Spec.Ports = s.Spec.Ports[:1]
		})
		e.putSlice(e.slice("np", all))
		np := net.JoinHostPort(e.nodeIP.String(), fmt.Sprint(nodePort))
		// From another network namespace, through the veth: nftables DNAT.
		for i := 0; i < 10; i++ {
			name, _, err := tcpName(e.outNS, np)
			if err != nil || !contains(all, name) {
				t.Fatalf("outside client -> %s: %q, %v", np, name, err)
			}
		}
		// From the host, on the node address and on loopback: the socket hooks.
		e.wantPods(t, "host nodeport", "", np, 5, all...)
		e.wantPods(t, "loopback nodeport", "", net.JoinHostPort("127.0.0.1", fmt.Sprint(nodePort)), 5, all...)
	})
	t.Run("ExternalTrafficPolicyLocal", func(t *testing.T) {
		ip := e.vipNet + "17"
		const nodePort = 31779
		e.service("etp-local", ip, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.Ports[0].NodePort = nodePort
			s.Spec.Ports = s.Spec.Ports[:1]
		})
		e.putSlice(e.slice("etp-local", all, "b", "c"))
		np := net.JoinHostPort(e.nodeIP.String(), fmt.Sprint(nodePort))
		for i := 0; i < 10; i++ {
			name, _, err := tcpName(e.outNS, np)
			if err != nil || name != "a" {
				t.Fatalf("outside client -> %s with externalTrafficPolicy Local: %q, %v; want the node's own endpoint a", np, name, err)
			}
		}
		// The node's own sockets use every endpoint, as upstream does.
		e.wantPods(t, "host nodeport eTP Local", "", np, 5, all...)
	})
	t.Run("LoadBalancerAndExternalIP", func(t *testing.T) {
		ip := e.vipNet + "15"
		ext, lb := e.vipNet+"100", e.vipNet+"101"
		e.service("lb", ip, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.Ports[0].NodePort = 31778
			s.Spec.Ports = s.Spec.Ports[:1]
			s.Spec.ExternalIPs = []string{ext}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: lb}}
		})
		e.putSlice(e.slice("lb", all))
		e.wantPods(t, "externalIP", "", net.JoinHostPort(ext, "80"), 5, all...)
		e.wantPods(t, "LB ingress", "", net.JoinHostPort(lb, "80"), 5, all...)
		// From outside the node: the packet path (nftables DNAT + masquerade).
		for _, addr := range []string{ext, lb} {
			name, _, err := tcpName(e.outNS, net.JoinHostPort(addr, "80"))
			if err != nil || !contains(all, name) {
				t.Fatalf("outside client -> %s:80: %q, %v", addr, name, err)
			}
		}
	})
	t.Run("BackendsChurnWhileClientLoops", func(t *testing.T) {
		ip := e.vipNet + "16"
		addr := net.JoinHostPort(ip, "80")
		e.service("churn", ip, nil)
		e.putSlice(e.slice("churn", all))
		var mu sync.Mutex
		var failures []string
		removed := ""
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				gone := removed
				mu.Unlock()
				name, _, err := tcpName("", addr)
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else if gone != "" && name == gone {
					failures = append(failures, "reached removed backend "+name)
				}
				mu.Unlock()
			}
		}()
		for round := 0; round < 3; round++ {
			gone := all[round]
			var keep []string
			for _, n := range all {
				if n != gone {
					keep = append(keep, n)
				}
			}
			e.putSlice(e.slice("churn", keep))
			mu.Lock()
			removed = gone
			mu.Unlock()
			time.Sleep(150 * time.Millisecond)
			mu.Lock()
			removed = ""
			mu.Unlock()
			e.putSlice(e.slice("churn", all))
			time.Sleep(50 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("%d failures while backends churned: %v", len(failures), failures[:min(5, len(failures))])
		}
	})
	t.Run("RestartKeepsPinnedState", func(t *testing.T) {
		doomed := e.vipNet + "18"
		e.service("doomed", doomed, nil)
		r.stop()
		// No proxy runs: the pinned programs and maps keep balancing.
		e.wantPods(t, "while stopped", "", http, 5, all...)
		// A change made while the proxy is down is picked up by the next
		// one, which resynchronises instead of flushing.
		if err := e.client.CoreV1().Services("default").Delete(context.Background(), "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		r2 := e.start(nil)
		stopLoop := make(chan struct{})
		loopErr := make(chan error, 1)
		go func() {
			for {
				select {
				case <-stopLoop:
					loopErr <- nil
					return
				default:
				}
				if _, _, err := tcpName("", http); err != nil {
					loopErr <- err
					return
				}
			}
		}()
		gone := proxy.FrontendKey{IP: netip.MustParseAddr(doomed), Port: 80, Proto: proxy.TCP}
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := proxy.PinnedBackends(e.pinDir, gone)
			if err != nil {
				t.Fatal(err)
			}
			if n == -1 {
				break // the deleted service is no longer a frontend
			}
			if time.Now().After(deadline) {
				t.Fatal("the restarted proxy kept the frontend of a service deleted while it was down")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n, err := proxy.PinnedBackends(e.pinDir, proxy.FrontendKey{IP: netip.MustParseAddr(vip), Port: 80, Proto: proxy.TCP}); err != nil || n != 3 {
			t.Fatalf("after the resync the web frontend has %d backends (%v), want 3", n, err)
		}
		close(stopLoop)
		if err := <-loopErr; err != nil {
			t.Fatalf("a connection failed across the restart: %v", err)
		}
		e.wantPods(t, "after restart", "", http, 5, all...)
		r2.stop()
	})
}

// TestProxyNFTablesFallback runs the proxy as it runs where the kernel
// cannot load the programs: DNAT in nftables for ClusterIPs too.
func TestProxyNFTablesFallback(t *testing.T) {
	e := proxyNewEnv(t)
	r := e.start(func(c *proxy.Config) { c.ForceNFTables = true })
	if mode, _ := r.p.Mode(); mode != "nftables" {
		t.Fatalf("mode %s, want nftables", mode)
	}
	vip := e.vipNet + "20"
	e.service("web", vip, nil)
	e.putSlice(e.slice("web", []string{"a", "b"}))
	for i := 0; i < 10; i++ {
		name, _, err := tcpName("", net.JoinHostPort(vip, "80"))
		if err != nil || (name != "a" && name != "b") {
			t.Fatalf("host -> ClusterIP via nftables: %q, %v", name, err)
		}
		name, _, err = tcpName(e.nsPaths["c"], net.JoinHostPort(vip, "80"))
		if err != nil || (name != "a" && name != "b") {
			t.Fatalf("pod c -> ClusterIP via nftables: %q, %v", name, err)
		}
	}
	name, _, err := udpName("", net.JoinHostPort(vip, "53"))
	if err != nil || (name != "a" && name != "b") {
		t.Fatalf("host -> ClusterIP UDP via nftables: %q, %v", name, err)
	}
	empty := e.vipNet + "21"
	e.service("empty", empty, nil)
	if _, _, err := tcpName("", net.JoinHostPort(empty, "80")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("no endpoints via nftables: %v, want ECONNREFUSED", err)
	}
}

// TestProxyThroughAgent runs real pods through `skiff server`'s agent and
// reaches them through a Service that the agent's proxy programs.
func TestProxyThroughAgent(t *testing.T) {
	proxyRequire(t)
	n := kubeletStart(t) // with a service CIDR of its own
	ctx := context.Background()
	pods := n.s.Client.CoreV1().Pods("default")
	for _, name := range []string{"web-1", "web-2"} {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr.To(int64(5)),
				Containers: []corev1.Container{{Name: "c", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever,
					Args:  []string{"serve-http", "--port", "8080"},
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
			},
		}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var web1 *corev1.Pod
	var ips []string
	for _, name := range []string{"web-1", "web-2"} {
		p := n.waitPod(t, name, "ready", func(p *corev1.Pod) bool {
			return podRunning(p) && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].Ready
		})
		ips = append(ips, p.Status.PodIP)
		if name == "web-1" {
			web1 = p
		}
	}
	// The Service has no selector and the test writes its EndpointSlice
	// with the pods' IPs: the kubelet may drop a pod's IP from a later
	// status update, which empties the endpointslice controller's slice.
	svc, err := n.s.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "proxy-web"},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{{Name: "web", Port: 8080, TargetPort: intstr.FromString("http")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.s.Client.CoreV1().Services("default").Delete(context.Background(), "proxy-web", metav1.DeleteOptions{})
	})
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "proxy-web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "proxy-web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("web"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(8080))}},
	}
	for _, ip := range ips {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}, NodeName: ptr.To(n.name)})
	}
	if _, err := n.s.Client.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vip := net.JoinHostPort(svc.Spec.ClusterIP, "8080")
	seen := map[string]bool{}
	deadline := time.Now().Add(time.Minute)
	for len(seen) < 2 {
		if time.Now().After(deadline) {
			var logs []string
			for _, l := range strings.Split(n.s.LogText(), "\n") {
				if strings.Contains(l, "proxy") || strings.Contains(l, "ndpoint") || strings.Contains(l, "kipping") {
					logs = append(logs, l)
				}
			}
			t.Fatalf("ClusterIP %s from the host reached only %v\n%s", vip, seen, strings.Join(logs, "\n"))
		}
		if body, err := proxyHTTPGet("", "http://"+vip+"/hostname"); err == nil {
			seen[body] = true
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !seen["web-1"] || !seen["web-2"] {
		t.Fatalf("ClusterIP answered by %v, want web-1 and web-2", seen)
	}
	// From a pod: its namespace is the one the CNI made for it.
	nsPath := filepath.Join(n.netnsDir, "skiff-"+string(web1.UID))
	if body, err := proxyHTTPGet(nsPath, "http://"+vip+"/hostname"); err != nil || (body != "web-1" && body != "web-2") {
		t.Fatalf("ClusterIP from pod web-1: %q, %v", body, err)
	}
	np := fmt.Sprintf("http://127.0.0.1:%d/hostname", svc.Spec.Ports[0].NodePort)
	if body, err := proxyHTTPGet("", np); err != nil || (body != "web-1" && body != "web-2") {
		t.Fatalf("NodePort on loopback: %q, %v", body, err)
	}

	// kill -9 of skiff and a new start: the pinned programs keep the
	// service answering throughout.
	stop := make(chan struct{})
	loop := make(chan error, 1)
	var served atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				loop <- nil
				return
			default:
			}
			if _, err := proxyHTTPGet("", "http://"+vip+"/hostname"); err != nil {
				loop <- err
				return
			}
			served.Add(1)
		}
	}()
	n.s.Kill()
	time.Sleep(500 * time.Millisecond)
	if err := n.s.Resume(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the new agent's proxy resyncs
	close(stop)
	if err := <-loop; err != nil {
		t.Fatalf("a request failed while skiff restarted: %v", err)
	}
	t.Logf("%d requests through the ClusterIP while skiff was killed and started again", served.Load())
}

// proxyHTTPGet GETs url from the netns at nsPath (the host when empty).
func proxyHTTPGet(nsPath, url string) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	if nsPath != "" {
		tr.DialContext = func(ctx context.Context, network_, addr string) (net.Conn, error) {
			var c net.Conn
			err := network.Do(nsPath, func() error {
				var err error
				c, err = net.DialTimeout(network_, addr, 5*time.Second)
				return err
			})
			return c, err
		}
	}
	c := http.Client{Timeout: 5 * time.Second, Transport: tr}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}
