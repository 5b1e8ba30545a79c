package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/skiff-k8s/skiff/pkg/network"
	"github.com/skiff-k8s/skiff/tests/nodetest"
)

// These tests set up real pod networks with the CNI plugins from Debian's
// containernetworking-plugins, each on its own bridge and a podCIDR in
// 10.244.0.0/16 that nothing on the host uses, and undo everything the
// plugins made (bridge, namespaces, iptables rules) when they end.

// netRequireRoot skips unless the test can make namespaces, bridges and
// iptables rules and the CNI plugins are installed.
func netRequireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and bridges")
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "bandwidth", "loopback"} {
		found := false
		for _, d := range network.DefaultPluginDirs {
			if _, err := os.Stat(filepath.Join(d, p)); err == nil {
				found = true
			}
		}
		if !found {
			t.Skipf("CNI plugin %s not installed (apt-get install containernetworking-plugins)", p)
		}
	}
	for _, b := range []string{"ip", "iptables", "iptables-save"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed", b)
		}
	}
}

// netRandomHex returns n random bytes in hex.
func netRandomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// netFreeSubnet picks a /prefix in 10.244.0.0/16 that overlaps no address
// or route on the host.
func netFreeSubnet(t *testing.T, prefix int) *net.IPNet {
	t.Helper()
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	addrs, _ := net.InterfaceAddrs()
	for i := 0; i < 100; i++ {
		b := make([]byte, 2)
		rand.Read(b)
		ip := net.IPv4(10, 244, b[0], b[1]).To4()
		mask := net.CIDRMask(prefix, 32)
		cand := &net.IPNet{IP: ip.Mask(mask), Mask: mask}
		used := strings.Contains(string(routes), fmt.Sprintf("10.244.%d.", b[0]))
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && (n.Contains(cand.IP) || cand.Contains(n.IP)) {
				used = true
			}
		}
		if !used {
			return cand
		}
	}
	t.Fatal("no free subnet in 10.244.0.0/16")
	return nil
}

type netNode struct {
	m      *network.Manager
	cfg    network.Config
	bridge string
}

// netNewNode makes a Manager on its own bridge and podCIDR, and registers
// the cleanup of everything it and the plugins create.
func netNewNode(t *testing.T, prefix int) *netNode {
	t.Helper()
	netRequireRoot(t)
	cidr := netFreeSubnet(t, prefix)
	dir := t.TempDir()
	cfg := network.Config{
		PodCIDR:     cidr,
		ClusterCIDR: &net.IPNet{IP: net.IPv4(10, 244, 0, 0).To4(), Mask: net.CIDRMask(16, 32)},
		DataDir:     dir,
		BridgeName:  "skt" + netRandomHex(t, 4),
		NetnsDir:    filepath.Join(dir, "netns"),
	}
	hostportChainsBefore := netHasChain(t, "CNI-HOSTPORT-DNAT")
	m, err := network.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &netNode{m: m, cfg: m.Config(), bridge: cfg.BridgeName}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		uids, err := m.List()
		if err != nil {
			t.Errorf("list pod networks: %v", err)
		}
		for _, uid := range uids {
			if err := m.TeardownPod(ctx, uid); err != nil {
				t.Errorf("teardown %s: %v", uid, err)
				// what a failed teardown leaves: libcni's cached results
				// and the namespace mount (which would block TempDir's removal)
				leftovers, _ := filepath.Glob("/var/lib/cni/results/*-" + uid + "-*")
				for _, f := range leftovers {
					os.Remove(f)
				}
				p := filepath.Join(n.cfg.NetnsDir, "skiff-"+uid)
				exec.Command("umount", "-l", p).Run()
				os.Remove(p)
			}
		}
		if err := m.Uninstall(); err != nil {
			t.Errorf("uninstall: %v", err)
		}
		if out, err := exec.Command("nft", "list", "table", "ip", "skiff-net-"+n.bridge).CombinedOutput(); err == nil {
			t.Errorf("masquerade table left behind:\n%s", out)
		}
		// portmap's top-level chains outlive the pods; remove them only if
		// this test brought them and nobody has rules in them now.
		if !hostportChainsBefore {
			netDropEmptyHostportChains(t)
		}
		if out, _ := exec.Command("iptables-save", "-t", "nat").Output(); strings.Contains(string(out), netCIDRPrefix(n.cfg.PodCIDR)) {
			t.Errorf("iptables rules for %s left behind:\n%s", n.cfg.PodCIDR, out)
		}
	})
	return n
}

// netCIDRPrefix is the text every address of a /24 or longer podCIDR starts
// with, to spot rules left behind.
func netCIDRPrefix(n *net.IPNet) string {
	ip := n.IP.To4()
	return fmt.Sprintf("%d.%d.%d.", ip[0], ip[1], ip[2])
}

func netHasChain(t *testing.T, chain string) bool {
	return exec.Command("iptables", "-t", "nat", "-n", "-L", chain).Run() == nil
}

func netDropEmptyHostportChains(t *testing.T) {
	out, err := exec.Command("iptables", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").Output()
	if err != nil || strings.Count(string(out), "\n") > 1 {
		return // gone, or someone else's rules are in it
	}
	for _, r := range [][]string{
		{"-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"},
		{"-D", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"},
		{"-D", "POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ"},
	} {
		exec.Command("iptables", append([]string{"-t", "nat"}, r...)...).Run()
	}
	for _, c := range []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"} {
		exec.Command("iptables", "-t", "nat", "-F", c).Run()
		exec.Command("iptables", "-t", "nat", "-X", c).Run()
	}
}

func netSetup(t *testing.T, n *netNode, name string, ports ...network.PortMapping) (string, *network.PodNetwork) {
	t.Helper()
	uid := "e2e-" + netRandomHex(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pn, err := n.m.SetupPod(ctx, network.PodNetworkRequest{UID: uid, Namespace: "e2e", Name: name, PortMappings: ports})
	if err != nil {
		t.Fatalf("SetupPod %s: %v", name, err)
	}
	if len(pn.IPs) != 1 || !n.cfg.PodCIDR.Contains(pn.IPs[0]) {
		t.Fatalf("pod %s got IPs %v, want one in %s", name, pn.IPs, n.cfg.PodCIDR)
	}
	return uid, pn
}

// netEchoServer listens on addr inside the pod's namespace and echoes one
// line per connection; the socket stays in the namespace after the thread
// leaves it, so accepting happens in an ordinary goroutine.
func netEchoServer(t *testing.T, pn *network.PodNetwork, addr string) {
	t.Helper()
	var l net.Listener
	err := network.Do(pn.NetnsPath, func() error {
		var err error
		l, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen in pod: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				io.WriteString(c, "echo "+line)
			}()
		}
	}()
}

// netIn runs fn in the network namespace at nsPath, or on the host when
// nsPath is empty.
func netIn(nsPath string, fn func() error) error {
	if nsPath == "" {
		return fn()
	}
	return network.Do(nsPath, fn)
}

// netEcho dials addr (from the pod namespace nsPath, or the host when
// empty), sends a line and returns the answer.
func netEcho(nsPath, addr string) (string, error) {
	var c net.Conn
	dial := func() error {
		var err error
		c, err = net.DialTimeout("tcp4", addr, 10*time.Second)
		return err
	}
	if err := netIn(nsPath, dial); err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func netWantEcho(t *testing.T, from, nsPath, addr string) {
	t.Helper()
	got, err := netEcho(nsPath, addr)
	if err != nil {
		t.Fatalf("%s -> %s: %v", from, addr, err)
	}
	if got != "echo hello\n" {
		t.Fatalf("%s -> %s: got %q", from, addr, got)
	}
}

// netPing sends ICMP echo requests from the namespace at nsPath to dst
// until one is answered, or fails after a generous timeout.
func netPing(nsPath string, dst net.IP) error {
	return network.Do(nsPath, func() error {
		c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		defer c.Close()
		id := os.Getpid() & 0xffff
		deadline := time.Now().Add(30 * time.Second)
		for seq := 1; time.Now().Before(deadline); seq++ {
			req, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("skiff")}}).Marshal(nil)
			if _, err := c.WriteTo(req, &net.IPAddr{IP: dst}); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 1500)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					break // timeout: send the next request
				}
				m, err := icmp.ParseMessage(1, buf[:n])
				if err != nil || m.Type != ipv4.ICMPTypeEchoReply || !from.(*net.IPAddr).IP.Equal(dst) {
					continue
				}
				if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
					return nil
				}
			}
		}
		return fmt.Errorf("no echo reply from %s", dst)
	})
}

// netMasqueradeRules returns the nat POSTROUTING rules for a pod IP (what
// the bridge plugin's ipMasq would make).
func netMasqueradeRules(t *testing.T, ip net.IP) string {
	out, err := exec.Command("iptables", "-t", "nat", "-S", "POSTROUTING").Output()
	if err != nil {
		t.Fatalf("iptables -S POSTROUTING: %v", err)
	}
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "-s "+ip.String()+"/32 ") {
			rules = append(rules, l)
		}
	}
	return strings.Join(rules, "\n")
}

func TestNetworkPodToPod(t *testing.T) {
	n := netNewNode(t, 24)
	uidA, a := netSetup(t, n, "a")
	uidB, b := netSetup(t, n, "b")
	if a.IPs[0].Equal(b.IPs[0]) {
		t.Fatalf("both pods got %s", a.IPs[0])
	}
	gw := n.cfg.PodCIDR.IP.To4()
	gw = net.IPv4(gw[0], gw[1], gw[2], gw[3]+1)
	if !a.Gateway.Equal(gw) {
		t.Errorf("gateway %s, want %s", a.Gateway, gw)
	}

	if err := netPing(b.NetnsPath, a.IPs[0]); err != nil {
		t.Errorf("ping pod a from pod b: %v", err)
	}
	if err := netPing(a.NetnsPath, gw); err != nil {
		t.Errorf("ping the gateway from pod a: %v", err)
	}
	// masquerade is one rule for the node (TestNetworkMasquerade), none per pod
	if r := netMasqueradeRules(t, a.IPs[0]); r != "" {
		t.Errorf("per-pod masquerade rules for %s: %s", a.IPs[0], r)
	}

	netEchoServer(t, a, net.JoinHostPort(a.IPs[0].String(), "8080"))
	netWantEcho(t, "pod b", b.NetnsPath, net.JoinHostPort(a.IPs[0].String(), "8080"))
	netWantEcho(t, "host", "", net.JoinHostPort(a.IPs[0].String(), "8080"))
	// loopback came up in the pod: a pod reaches its own localhost.
	netEchoServer(t, b, "127.0.0.1:9090")
	netWantEcho(t, "pod b", b.NetnsPath, "127.0.0.1:9090")

	// SetupPod again for the same pod, and after an agent restart (a new
	// Manager over the same directories), is the same network.
	ctx := context.Background()
	again, err := n.m.SetupPod(ctx, network.PodNetworkRequest{UID: uidA, Namespace: "e2e", Name: "a"})
	if err != nil || again.NetnsPath != a.NetnsPath || !again.IPs[0].Equal(a.IPs[0]) {
		t.Fatalf("second SetupPod: %+v, %v; first %+v", again, err, a)
	}
	restarted, err := network.New(n.cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := restarted.Status(ctx, uidB)
	if err != nil || st.NetnsPath != b.NetnsPath || !st.IPs[0].Equal(b.IPs[0]) || !st.Gateway.Equal(b.Gateway) {
		t.Fatalf("Status after restart: %+v, %v; want %+v", st, err, b)
	}
	uids, err := restarted.List()
	if err != nil || len(uids) != 2 {
		t.Fatalf("List: %v, %v", uids, err)
	}
	// the connection still works: nothing was re-added.
	netWantEcho(t, "pod b", b.NetnsPath, net.JoinHostPort(a.IPs[0].String(), "8080"))

	if err := restarted.TeardownPod(ctx, uidA); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.NetnsPath); !os.IsNotExist(err) {
		t.Errorf("netns %s still there after teardown: %v", a.NetnsPath, err)
	}
	if _, err := restarted.Status(ctx, uidA); !errors.Is(err, network.ErrNotFound) {
		t.Errorf("Status after teardown: %v, want ErrNotFound", err)
	}
	if err := restarted.TeardownPod(ctx, uidA); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

// netOutside makes a namespace standing for a host outside the node: a
// veth pair on a free /30 of 10.<second>.0.0/16, outNet+"1" on the host's
// side and outNet+"2" in the namespace (named ns, under /var/run/netns),
// with a default route back through the host when route is set.
func netOutside(t *testing.T, second int, route bool) (outNet, ns string) {
	t.Helper()
	outNet = proxyFreeNet(t, second)
	hexid := netRandomHex(t, 3)
	ns, host, peer := "sko-"+hexid, "skoh"+hexid, "skoo"+hexid
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run("link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	run("link", "set", peer, "netns", ns)
	run("addr", "add", outNet+"1/30", "dev", host)
	run("link", "set", host, "up")
	run("-n", ns, "addr", "add", outNet+"2/30", "dev", peer)
	run("-n", ns, "link", "set", peer, "up")
	run("-n", ns, "link", "set", "lo", "up")
	if route {
		run("-n", ns, "route", "add", "default", "via", outNet+"1")
	}
	return outNet, ns
}

// TestNetworkMasquerade: what a pod sends outside the cluster's pod network
// leaves with the node's address. The outside namespace has no route to the
// pods, so without masquerade no reply would come back.
func TestNetworkMasquerade(t *testing.T) {
	n := netNewNode(t, 24)
	_, a := netSetup(t, n, "a")

	outNet, ns := netOutside(t, 252, false)

	// The outside server answers with the address the connection came from.
	l, err := nodetest.ServeTCP("/var/run/netns/"+ns, outNet+"2:7000", func(c net.Conn) {
		defer c.Close()
		fmt.Fprintf(c, "%s\n", c.RemoteAddr().(*net.TCPAddr).IP)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got string
	err = netIn(a.NetnsPath, func() error {
		c, err := net.DialTimeout("tcp4", outNet+"2:7000", 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		got = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		t.Fatalf("pod -> outside %s: %v", outNet+"2", err)
	}
	if got != outNet+"1" {
		t.Errorf("the outside saw the pod as %s, want the node's %s1", got, outNet)
	}
}

// TestNetworkAddressReuse: a torn-down pod's address goes back to the pool;
// on a /29 (five addresses for pods) the sixth pod fails until one is
// released, and then gets that address.
func TestNetworkAddressReuse(t *testing.T) {
	n := netNewNode(t, 29)
	var uids []string
	var ips []net.IP
	for i := 0; i < 5; i++ {
		uid, pn := netSetup(t, n, fmt.Sprintf("p%d", i))
		uids = append(uids, uid)
		ips = append(ips, pn.IPs[0])
	}
	ctx := context.Background()
	if pn, err := n.m.SetupPod(ctx, network.PodNetworkRequest{UID: "e2e-full", Namespace: "e2e", Name: "full"}); err == nil {
		t.Fatalf("a sixth pod on a /29 got %v", pn.IPs)
	}
	if _, err := os.Stat(filepath.Join(n.cfg.NetnsDir, "skiff-e2e-full")); !os.IsNotExist(err) {
		t.Errorf("failed SetupPod left its namespace behind: %v", err)
	}
	if err := n.m.TeardownPod(ctx, uids[1]); err != nil {
		t.Fatal(err)
	}
	_, pn := netSetup(t, n, "again")
	if !pn.IPs[0].Equal(ips[1]) {
		t.Fatalf("new pod got %s, want the released %s", pn.IPs[0], ips[1])
	}
}

// TestNetworkHostPort: a hostPort reaches the pod through 127.0.0.1 on the
// node (portmap's SNAT sets route_localnet on the bridge for it).
func TestNetworkHostPort(t *testing.T) {
	n := netNewNode(t, 24)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, pn := netSetup(t, n, "web", network.PortMapping{HostPort: int32(hostPort), ContainerPort: 8080, Protocol: "TCP"})
	netEchoServer(t, pn, ":8080")
	netWantEcho(t, "host", "", fmt.Sprintf("127.0.0.1:%d", hostPort))
	if b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + n.bridge + "/route_localnet"); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Errorf("route_localnet on %s: %q %v", n.bridge, b, err)
	}
}

// TestNetworkParallel: pods set up at once (as a node starting many pods
// does) get distinct addresses.
func TestNetworkParallel(t *testing.T) {
	n := netNewNode(t, 24)
	const pods = 12
	type result struct {
		ip  net.IP
		err error
	}
	results := make(chan result, pods)
	for i := 0; i < pods; i++ {
		go func() {
			pn, err := n.m.SetupPod(context.Background(), network.PodNetworkRequest{UID: "e2e-" + netRandomHex(t, 8), Namespace: "e2e", Name: fmt.Sprint("p", i)})
			if err != nil {
				results <- result{err: err}
				return
			}
			results <- result{ip: pn.IPs[0]}
		}()
	}
	seen := map[string]bool{}
	for i := 0; i < pods; i++ {
		r := <-results
		if r.err != nil {
			t.Errorf("SetupPod: %v", r.err)
			continue
		}
		if seen[r.ip.String()] {
			t.Errorf("%s given twice", r.ip)
		}
		seen[r.ip.String()] = true
	}
}

// TestNetworkNamespaceLost: when a pod's namespace disappears (e.g. the
// node rebooted and /run was emptied), Status says so and SetupPod makes
// a new one instead of returning the dead one.
func TestNetworkNamespaceLost(t *testing.T) {
	n := netNewNode(t, 24)
	uid, pn := netSetup(t, n, "lost")
	if err := exec.Command("umount", pn.NetnsPath).Run(); err != nil {
		t.Fatalf("umount %s: %v", pn.NetnsPath, err)
	}
	ctx := context.Background()
	if _, err := n.m.Status(ctx, uid); !errors.Is(err, network.ErrNotFound) {
		t.Fatalf("Status with the namespace gone: %v", err)
	}
	again, err := n.m.SetupPod(ctx, network.PodNetworkRequest{UID: uid, Namespace: "e2e", Name: "lost"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.m.Status(ctx, uid); err != nil {
		t.Fatalf("Status after SetupPod: %v", err)
	}
	netEchoServer(t, again, net.JoinHostPort(again.IPs[0].String(), "8080"))
	netWantEcho(t, "host", "", net.JoinHostPort(again.IPs[0].String(), "8080"))
}

// TestNetworkBandwidth: the kubernetes.io/ingress-bandwidth and
// egress-bandwidth limits reach the bandwidth plugin, which shapes the
// pod's host-side interface (tbf) and, for egress, an ifb device; teardown
// removes them.
func TestNetworkBandwidth(t *testing.T) {
	n := netNewNode(t, 24)
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("tc not installed")
	}
	ctx := context.Background()
	uid := "e2e-" + netRandomHex(t, 8)
	pn, err := n.m.SetupPod(ctx, network.PodNetworkRequest{UID: uid, Namespace: "e2e", Name: "shaped",
		Bandwidth: &network.Bandwidth{IngressRate: 10_000_000, IngressBurst: 1 << 20, EgressRate: 10_000_000, EgressBurst: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("tc", "qdisc", "show").Output()
	if strings.Count(string(out), "qdisc tbf") < 2 {
		t.Errorf("no tbf qdiscs for ingress and egress:\n%s", out)
	}
	netEchoServer(t, pn, net.JoinHostPort(pn.IPs[0].String(), "8080"))
	netWantEcho(t, "host", "", net.JoinHostPort(pn.IPs[0].String(), "8080"))
	before := strings.Count(string(out), "qdisc tbf")
	if err := n.m.TeardownPod(ctx, uid); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command("tc", "qdisc", "show").Output()
	if after := strings.Count(string(out), "qdisc tbf"); after > before-2 {
		t.Errorf("tbf qdiscs left after teardown:\n%s", out)
	}
}
