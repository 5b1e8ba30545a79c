package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/network"
	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// dnsUpstream is the test's stand-in for the node's resolvers, on port 53
// of a loopback address of its own (resolv.conf names no ports): A for
// *.external.test, NXDOMAIN for everything else.
type dnsUpstream struct {
	ip      string
	queries atomic.Int32
}

func dnsStartUpstream(t *testing.T) *dnsUpstream {
	t.Helper()
	u := &dnsUpstream{}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		u.queries.Add(1)
		m := new(dns.Msg).SetReply(r)
		m.RecursionAvailable = true
		q := r.Question[0]
		if strings.HasSuffix(q.Name, "external.test.") && q.Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 77)}}
		} else if !strings.HasSuffix(q.Name, "external.test.") {
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60}, Ns: "ns.test.", Mbox: "h.test.", Minttl: 60}}
		}
		_ = w.WriteMsg(m)
	})
	var pc net.PacketConn
	var l net.Listener
	for i := 0; ; i++ {
		u.ip = fmt.Sprintf("127.53.%s.%d", strconv.Itoa(int(time.Now().UnixNano()%250)+1), 1+i)
		var err error
		if pc, err = net.ListenPacket("udp", u.ip+":53"); err == nil {
			if l, err = net.Listen("tcp", u.ip+":53"); err == nil {
				break
			}
			pc.Close()
		}
		if i == 20 {
			t.Fatalf("no loopback address with port 53 free: %v", err)
		}
	}
	udp, tcp := &dns.Server{PacketConn: pc, Handler: h}, &dns.Server{Listener: l, Handler: h}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	return u
}

// dnsQuery asks server over net ("udp" or "tcp"), from the network
// namespace at nsPath when it is set.
func dnsQuery(t *testing.T, server, netw, nsPath, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(name, qtype)
	c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
	var r *dns.Msg
	ask := func() error {
		var err error
		r, _, err = c.Exchange(m, server)
		return err
	}
	if err := netIn(nsPath, ask); err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], netw, err)
	}
	return r
}

// dnsAnswer renders the answer section as "name type data" lines, sorted.
func dnsAnswer(r *dns.Msg) string {
	var out []string
	for _, rr := range r.Answer {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(append([]string{f[0]}, f[3:]...), " "))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func dashed(ip string) string { return strings.ReplaceAll(ip, ".", "-") }

func reverseName(ip string) string {
	p := strings.Split(ip, ".")
	return p[3] + "." + p[2] + "." + p[1] + "." + p[0] + ".in-addr.arpa."
}

// TestDNS runs a whole node and checks its cluster DNS against objects
// made through the API: every record type CoreDNS' kubernetes plugin
// serves, from the host and from a pod's network namespace, over UDP and
// TCP; forwarding to the node's resolvers (a test-owned server named by
// --resolv-conf) with a cache; the kube-dns Service and the node's
// EndpointSlice; pods' resolv.conf; and malformed packets.
func TestDNS(t *testing.T) {
	up := dnsStartUpstream(t)
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+up.ip+"\nsearch example.test\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dnsPort := framework.FreePort(t)
	n := kubeletStart(t, "--resolv-conf", resolv, "--cluster-dns-port", strconv.Itoa(dnsPort))
	ctx := context.Background()
	c := n.s.Client
	node, err := c.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var nodeIP string
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			nodeIP = a.Address
		}
	}
	server := net.JoinHostPort(nodeIP, strconv.Itoa(dnsPort))

	// The node publishes its DNS as its endpoint of kube-system/kube-dns.
	var slice *discoveryv1.EndpointSlice
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		slice, err = c.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns-"+n.name, metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no kube-dns EndpointSlice for the node: %v\n%s", err, n.s.LogText())
	}
	if slice.Labels[discoveryv1.LabelServiceName] != "kube-dns" || len(slice.Endpoints) != 1 || slice.Endpoints[0].Addresses[0] != nodeIP ||
		ptr.Deref(slice.Endpoints[0].NodeName, "") != n.name || !ptr.Deref(slice.Endpoints[0].Conditions.Ready, false) ||
		len(slice.Ports) != 2 || *slice.Ports[0].Port != int32(dnsPort) || *slice.Ports[0].Protocol != corev1.ProtocolUDP {
		t.Errorf("kube-dns EndpointSlice %+v", slice)
	}

	// A StatefulSet behind a headless Service, a ClusterIP Service over
	// the same pods, and an ExternalName.
	labels := map[string]string{"app": "web"}
	httpPort := []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}}
	for _, s := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: labels, Ports: httpPort}},
		{ObjectMeta: metav1.ObjectMeta{Name: "api"}, Spec: corev1.ServiceSpec{Selector: labels, Ports: httpPort}},
		{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "www.external.test"}},
	} {
		if _, err := c.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.StatefulSetSpec{
		ServiceName: "web", Replicas: ptr.To(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To(int64(2)),
			Containers: []corev1.Container{{Name: "c", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever,
				Args:           []string{"serve-http", "--port", "8080"},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}}}}}}}
	if _, err := c.AppsV1().StatefulSets("default").Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.AppsV1().StatefulSets("default").Delete(context.Background(), "web", metav1.DeleteOptions{})
	})
	podIP := map[string]string{}
	for _, name := range []string{"web-0", "web-1"} {
		p := n.waitPod(t, name, "ready", func(p *corev1.Pod) bool {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return true
				}
			}
			return false
		})
		podIP[name] = p.Status.PodIP
	}
	api, err := c.CoreV1().Services("default").Get(ctx, "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const z = ".default.svc.cluster.local."
	both := []string{"web" + z + " A " + podIP["web-0"], "web" + z + " A " + podIP["web-1"]}
	sort.Strings(both)
	// The endpoints show up as the EndpointSlice controller writes them.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return dnsAnswer(dnsQuery(t, server, "udp", "", "web"+z, dns.TypeA)) == strings.Join(both, "\n"), nil
	})
	if err != nil {
		t.Fatalf("headless Service: %s, want %v", dnsAnswer(dnsQuery(t, server, "udp", "", "web"+z, dns.TypeA)), both)
	}

	// The node's service CIDR is its own (kubeletStart): kubernetes is its
	// first address, kube-dns its 10th.
	kubeDNS, err := c.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("kube-dns Service: %v", err)
	}
	kubeAPI, err := c.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dnsIP, apiIP := kubeDNS.Spec.ClusterIP, kubeAPI.Spec.ClusterIP
	if a, d := net.ParseIP(apiIP).To4(), net.ParseIP(dnsIP).To4(); a == nil || d == nil || a[3] != 1 || d[3] != 10 || a[1] != d[1] {
		t.Fatalf("kubernetes %s and kube-dns %s are not the 1st and 10th addresses of the service CIDR", apiIP, dnsIP)
	}
	cases := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
	}{
		{"api" + z, dns.TypeA, dns.RcodeSuccess, []string{"api" + z + " A " + api.Spec.ClusterIP}},
		{"api" + z, dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"kubernetes" + z, dns.TypeA, dns.RcodeSuccess, []string{"kubernetes" + z + " A " + apiIP}},
		{"kube-dns.kube-system.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"kube-dns.kube-system.svc.cluster.local. A " + dnsIP}},
		{"web" + z, dns.TypeA, dns.RcodeSuccess, both},
		{"web-0.web" + z, dns.TypeA, dns.RcodeSuccess, []string{"web-0.web" + z + " A " + podIP["web-0"]}},
		{"_http._tcp.api" + z, dns.TypeSRV, dns.RcodeSuccess, []string{"_http._tcp.api" + z + " SRV 0 100 80 api" + z}},
		{"_http._tcp.web" + z, dns.TypeSRV, dns.RcodeSuccess, []string{
			"_http._tcp.web" + z + " SRV 0 50 8080 web-0.web" + z, "_http._tcp.web" + z + " SRV 0 50 8080 web-1.web" + z}},
		{dashed(podIP["web-1"]) + ".default.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{dashed(podIP["web-1"]) + ".default.pod.cluster.local. A " + podIP["web-1"]}},
		{reverseName(api.Spec.ClusterIP), dns.TypePTR, dns.RcodeSuccess, []string{reverseName(api.Spec.ClusterIP) + " PTR api" + z}},
		{reverseName(podIP["web-0"]), dns.TypePTR, dns.RcodeSuccess, []string{
			// An endpoint of both: named by its hostname where its
			// subdomain is the Service, by its address elsewhere.
			reverseName(podIP["web-0"]) + " PTR " + dashed(podIP["web-0"]) + ".api" + z, reverseName(podIP["web-0"]) + " PTR web-0.web" + z}},
		{"ext" + z, dns.TypeA, dns.RcodeSuccess, []string{"ext" + z + " CNAME www.external.test.", "www.external.test. A 192.0.2.77"}},
		{"nope" + z, dns.TypeA, dns.RcodeNameError, nil},
		{"web.nons.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"www.external.test.", dns.TypeA, dns.RcodeSuccess, []string{"www.external.test. A 192.0.2.77"}},
		{"missing.example.", dns.TypeA, dns.RcodeNameError, nil},
	}
	for _, netw := range []string{"udp", "tcp"} {
		for _, cs := range cases {
			r := dnsQuery(t, server, netw, "", cs.name, cs.qtype)
			sort.Strings(cs.answer)
			if r.Rcode != cs.rcode || dnsAnswer(r) != strings.Join(cs.answer, "\n") {
				t.Errorf("%s %s over %s: %s\n%s\nwant %s\n%s", cs.name, dns.TypeToString[cs.qtype], netw,
					dns.RcodeToString[r.Rcode], dnsAnswer(r), dns.RcodeToString[cs.rcode], strings.Join(cs.answer, "\n"))
			}
			inZone := strings.HasSuffix(cs.name, ".cluster.local.") || strings.HasSuffix(cs.name, ".in-addr.arpa.")
			if r.Authoritative != inZone {
				t.Errorf("%s: authoritative %v", cs.name, r.Authoritative)
			}
			if inZone && len(r.Answer) == 0 && (len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA) {
				t.Errorf("%s: no SOA in the authority section: %v", cs.name, r.Ns)
			}
		}
	}
	// External names were cached: asked again, the upstream hears nothing.
	before := up.queries.Load()
	for i := 0; i < 5; i++ {
		dnsQuery(t, server, "udp", "", "www.external.test.", dns.TypeA)
	}
	if up.queries.Load() != before {
		t.Errorf("cached name asked upstream %d more times", up.queries.Load()-before)
	}

	// From a pod's network namespace: the node's DNS is reachable at the
	// node's address.
	pods, err := c.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := network.New(network.Config{PodCIDR: n.podCIDR, ClusterCIDR: n.cidr, DataDir: n.agentDir, BridgeName: n.bridge, NetnsDir: n.netnsDir})
	if err != nil {
		t.Fatal(err)
	}
	pn, err := m.Status(ctx, string(pods.UID))
	if err != nil || pn == nil {
		t.Fatalf("pod network of web-0: %v", err)
	}
	if out, err := exec.Command("nsenter", "--net="+pn.NetnsPath, "ip", "route").CombinedOutput(); err != nil || !strings.Contains(string(out), "default") {
		t.Fatalf("pod web-0 has no default route (%v):\n%s", err, out)
	}
	for _, netw := range []string{"udp", "tcp"} {
		r := dnsQuery(t, server, netw, pn.NetnsPath, "api"+z, dns.TypeA)
		if got := dnsAnswer(r); got != "api"+z+" A "+api.Spec.ClusterIP {
			t.Errorf("from a pod over %s: %q", netw, got)
		}
	}
	// Pods' resolv.conf names the cluster DNS, the cluster's searches then
	// the node's, and ndots:5.
	n.createPod(t, "resolv", corev1.RestartPolicyNever, "cat", "/etc/resolv.conf")
	n.waitPod(t, "resolv", "succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	want := "search default.svc.cluster.local svc.cluster.local cluster.local example.test\nnameserver " + dnsIP + "\noptions ndots:5\n"
	if got := n.s.Kubectl(t, "logs", "resolv"); got != want {
		t.Errorf("pod resolv.conf:\n%s\nwant\n%s", got, want)
	}

	// Malformed packets and junk over TCP do not stop it.
	conn, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	for _, pkt := range [][]byte{{}, {0}, []byte(strings.Repeat("\xff", 1400)), {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12}} {
		_, _ = conn.Write(pkt)
	}
	conn.Close()
	if tc, err := net.Dial("tcp", server); err == nil {
		_, _ = tc.Write([]byte{0xff, 0xff, 1, 2})
		tc.Close()
	}
	if r := dnsQuery(t, server, "udp", "", "api"+z, dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("after malformed packets: %v", r)
	}

	// Scaled down: the gone pod's name goes with its endpoint.
	if _, err := c.AppsV1().StatefulSets("default").Patch(ctx, "web", "application/merge-patch+json", []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return dnsQuery(t, server, "udp", "", "web-1.web"+z, dns.TypeA).Rcode == dns.RcodeNameError, nil
	})
	if err != nil {
		t.Errorf("web-1 still resolves after the scale-down")
	}
}
