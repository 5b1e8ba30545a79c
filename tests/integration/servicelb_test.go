package integration

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestServiceLB: `kubectl expose --type=LoadBalancer` gets the Ready,
// schedulable nodes' addresses in status.loadBalancer.ingress (ipMode VIP),
// which follow cordons, and lose them when the type changes; `--disable
// servicelb` leaves LoadBalancer Services pending, as k3s does.
func TestServiceLB(t *testing.T) {
	s := framework.Start(t, "--sim-nodes=2")
	ctx := ctxT(t)
	c := s.Client
	var nodeIPs []string
	eventually(t, time.Minute, func() error {
		nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		nodeIPs = nil
		for _, n := range nodes.Items {
			if !nodeReady(&n) {
				return fmt.Errorf("node %s not ready", n.Name)
			}
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP {
					nodeIPs = append(nodeIPs, a.Address)
				}
			}
		}
		if len(nodeIPs) != 2 {
			return fmt.Errorf("node addresses %v", nodeIPs)
		}
		return nil
	})
	sort.Strings(nodeIPs)

	s.Kubectl(t, "create", "deployment", "web", "--image=registry.example/web:1", "--port=80")
	s.Kubectl(t, "expose", "deployment", "web", "--type=LoadBalancer", "--port=8080", "--target-port=80")
	ingress := func(want []string) {
		t.Helper()
		eventually(t, time.Minute, func() error {
			svc, err := c.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			var got []string
			for _, i := range svc.Status.LoadBalancer.Ingress {
				if i.IPMode == nil || *i.IPMode != corev1.LoadBalancerIPModeVIP {
					return fmt.Errorf("ingress %+v without ipMode VIP", i)
				}
				got = append(got, i.IP)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				return fmt.Errorf("ingress %v, want %v", got, want)
			}
			return nil
		})
	}
	ingress(nodeIPs)
	// kubectl shows the addresses as EXTERNAL-IP, in full as upstream does.
	if out := s.Kubectl(t, "get", "svc", "web"); !strings.Contains(out, strings.Join(nodeIPs, ",")) {
		t.Errorf("kubectl get svc:\n%s", out)
	}

	s.Kubectl(t, "cordon", "skiff-sim-1")
	ingress(withoutIP(nodeIPs, nodeIP(t, s, "skiff-sim-1")))
	s.Kubectl(t, "uncordon", "skiff-sim-1")
	ingress(nodeIPs)

	s.Kubectl(t, "patch", "svc", "web", "-p", `{"spec":{"type":"ClusterIP"}}`)
	ingress(nil)

	// A Service of another load balancer class is left alone.
	s.Kubectl(t, "create", "service", "loadbalancer", "other", "--tcp=80:80")
	s.Kubectl(t, "patch", "svc", "web", "-p", `{"spec":{"type":"LoadBalancer"}}`)
	ingress(nodeIPs)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "classed"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: ptrTo("example.com/lb"),
		Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() error {
		o, err := c.CoreV1().Services("default").Get(ctx, "other", metav1.GetOptions{})
		if err != nil || len(o.Status.LoadBalancer.Ingress) != 2 {
			return fmt.Errorf("other: %v %v", err, o.Status.LoadBalancer)
		}
		return nil
	})
	if cl, err := c.CoreV1().Services("default").Get(ctx, "classed", metav1.GetOptions{}); err != nil || len(cl.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("Service of another class: %v %v", err, cl.Status.LoadBalancer)
	}
}

func TestServiceLBDisabled(t *testing.T) {
	s := framework.Start(t, "--sim-nodes=1", "--disable", "servicelb")
	ctx := ctxT(t)
	s.Kubectl(t, "create", "service", "loadbalancer", "lb", "--tcp=80:80")
	// The rest of the controller manager works: the endpointslice controller
	// answers for the same Service.
	eventually(t, time.Minute, func() error {
		l, err := s.Client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=lb"})
		if err != nil || len(l.Items) == 0 {
			return fmt.Errorf("no endpoint slice yet: %v", err)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	svc, err := s.Client.CoreV1().Services("default").Get(ctx, "lb", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("servicelb disabled, yet ingress %v", svc.Status.LoadBalancer.Ingress)
	}
	if out := s.Kubectl(t, "get", "svc", "lb"); !strings.Contains(out, "<pending>") {
		t.Errorf("kubectl get svc, want EXTERNAL-IP <pending>:\n%s", out)
	}
}

func nodeIP(t *testing.T, s *framework.Server, name string) string {
	t.Helper()
	n, err := s.Client.CoreV1().Nodes().Get(ctxT(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	t.Fatalf("node %s has no InternalIP", name)
	return ""
}

func withoutIP(ips []string, ip string) []string {
	var out []string
	for _, i := range ips {
		if i != ip {
			out = append(out, i)
		}
	}
	return out
}

func ptrTo[T any](v T) *T { return &v }

// TestKubeDNSService: the server creates kube-system/kube-dns at
// --cluster-dns without a selector and with internalTrafficPolicy Local
// (each node's agent publishes its own DNS as the endpoint), keeps an
// admin's changes across restarts, and does not create it with --disable
// coredns; a --cluster-dns outside the service CIDR stops the server.
func TestKubeDNSService(t *testing.T) {
	ctx := ctxT(t)
	var svc *corev1.Service
	eventually(t, time.Minute, func() error {
		var err error
		svc, err = srv.Client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		return err
	})
	if svc.Spec.ClusterIP != "10.43.0.10" || svc.Spec.Selector != nil || svc.Spec.InternalTrafficPolicy == nil ||
		*svc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal || svc.Labels["k8s-app"] != "kube-dns" {
		t.Errorf("kube-dns Service: %+v", svc)
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s/%d/%s", p.Name, p.Port, p.Protocol))
	}
	if strings.Join(ports, " ") != "dns/53/UDP dns-tcp/53/TCP" {
		t.Errorf("kube-dns ports %v", ports)
	}

	s := framework.Start(t, "--disable", "coredns", "--cluster-dns", "10.43.0.53")
	time.Sleep(time.Second)
	if _, err := s.Client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("--disable coredns: kube-dns Service: %v", err)
	}

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	outb, err := exec.CommandContext(cctx, srv.Bin, "server", "--data-dir", t.TempDir(), "--cluster-dns", "10.99.0.10",
		"--https-listen-port", fmt.Sprint(framework.FreePort(t)), "--disable-agent").CombinedOutput()
	out := string(outb)
	if err == nil || !strings.Contains(out, "--cluster-dns: 10.99.0.10 is not in --service-cidr 10.43.0.0/16") {
		t.Errorf("--cluster-dns outside the service CIDR: %v\n%s", err, out)
	}
}
