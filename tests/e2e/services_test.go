package e2e

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestServicesWalkthrough is issue 5's walkthrough on a real node, with
// kubectl only: a Deployment exposed as a ClusterIP answers from the host and
// from a pod, by address and by every form of its name through the cluster
// DNS at the kube-dns Service's address; NodePort answers on loopback and on
// the node's IP; a LoadBalancer gets the node's IP and answers there.
func TestServicesWalkthrough(t *testing.T) {
	proxyRequire(t)
	n := kubeletStart(t) // with a service CIDR of its own
	k := func(args ...string) string { t.Helper(); return n.s.Kubectl(t, args...) }
	t.Cleanup(func() {
		n.s.KubectlErr("", "", "delete", "deployment", "nginx", "--ignore-not-found")
		n.s.KubectlErr("", "", "delete", "service", "nginx", "nginx-np", "nginx-lb", "--ignore-not-found")
	})

	k("create", "deployment", "nginx", "--image="+ctdAgnhostRef, "--port=80", "--replicas=2", "--", "/agnhost-lite", "serve-http", "--port", "80")
	k("run", "client", "--image="+ctdAgnhostRef, "--image-pull-policy=Never", "--command", "--", "/agnhost-lite", "sleep", "infinity")
	k("run", "box", "--image="+ctdBusyboxRef, "--image-pull-policy=Never", "--command", "--", "sleep", "3600")
	k("rollout", "status", "deployment/nginx", "--timeout=120s")
	k("wait", "--for=condition=Ready", "--timeout=120s", "pod/client", "pod/box")

	k("expose", "deployment", "nginx", "--port=8080", "--target-port=80")
	ip := strings.TrimSpace(k("get", "svc", "nginx", "-o", "jsonpath={.spec.clusterIP}"))
	pods := strings.Fields(k("get", "pods", "-l", "app=nginx", "-o", "jsonpath={.items[*].metadata.name}"))
	sort.Strings(pods)
	if len(pods) != 2 {
		t.Fatalf("nginx pods: %v", pods)
	}

	// From the host, until both backends have answered.
	seen := map[string]bool{}
	servicesEventually(t, "the ClusterIP from the host reaches both pods", func() bool {
		if body, err := proxyHTTPGet("", "http://"+net.JoinHostPort(ip, "8080")+"/hostname"); err == nil {
			seen[body] = true
		}
		return seen[pods[0]] && seen[pods[1]]
	})
	// From a pod, by address.
	var last string
	servicesEventually(t, "the ClusterIP from a pod", func() bool {
		// busybox's nc: its static wget crashes on name service lookups.
		out, err := n.s.KubectlErr("", "", "exec", "box", "--", "sh", "-c", "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 5 "+ip+" 8080")
		last = fmt.Sprint(out, err)
		return err == nil && strings.HasPrefix(out, "HTTP/1.0 200") && (strings.HasSuffix(out, "\n"+pods[0]) || strings.HasSuffix(out, "\n"+pods[1]))
	}, &last)
	// From a pod, by name: the resolver of the pod's resolv.conf (search
	// path, ndots:5) asks the cluster DNS through the kube-dns Service.
	dnsIP := strings.TrimSpace(k("get", "svc", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"))
	if conf := k("exec", "client", "--", "/agnhost-lite", "cat", "/etc/resolv.conf"); !strings.Contains(conf, "nameserver "+dnsIP) || !strings.Contains(conf, "ndots:5") {
		t.Errorf("pod resolv.conf does not name the kube-dns Service %s:\n%s", dnsIP, conf)
	}
	for _, name := range []string{"nginx", "nginx.default", "nginx.default.svc", "nginx.default.svc.cluster.local"} {
		var out string
		servicesEventually(t, "resolving "+name+" in a pod", func() bool {
			var err error
			out, err = n.s.KubectlErr("", "", "exec", "client", "--", "/agnhost-lite", "resolve", name)
			return err == nil && strings.TrimSpace(out) == ip
		})
	}
	if out, err := n.s.KubectlErr("", "", "exec", "client", "--", "/agnhost-lite", "resolve", "nope.default.svc.cluster.local"); err == nil || !strings.Contains(out, "no such host") {
		t.Errorf("a missing name resolved: %v %q", err, out)
	}

	// NodePort, on loopback and on the node's IP.
	k("expose", "deployment", "nginx", "--name=nginx-np", "--type=NodePort", "--port=8080", "--target-port=80")
	nodePort := strings.TrimSpace(k("get", "svc", "nginx-np", "-o", "jsonpath={.spec.ports[0].nodePort}"))
	nodeIP := servicesNodeIP(t, n)
	for _, host := range []string{"127.0.0.1", nodeIP} {
		url := "http://" + net.JoinHostPort(host, nodePort) + "/hostname"
		servicesEventually(t, "NodePort "+url, func() bool {
			body, err := proxyHTTPGet("", url)
			return err == nil && (body == pods[0] || body == pods[1])
		})
	}

	// LoadBalancer: the node's IP in the status, answering there.
	k("expose", "deployment", "nginx", "--name=nginx-lb", "--type=LoadBalancer", "--port=8081", "--target-port=80")
	servicesEventually(t, "the LoadBalancer's ingress is the node's IP", func() bool {
		return strings.TrimSpace(n.s.Kubectl(t, "get", "svc", "nginx-lb", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")) == nodeIP
	})
	url := "http://" + net.JoinHostPort(nodeIP, "8081") + "/hostname"
	servicesEventually(t, "LoadBalancer "+url, func() bool {
		body, err := proxyHTTPGet("", url)
		return err == nil && (body == pods[0] || body == pods[1])
	})

	// The pods keep their IPs: the Service's endpoints stay complete.
	time.Sleep(12 * time.Second)
	eps := k("get", "endpointslices", "-l", "kubernetes.io/service-name=nginx", "-o", "jsonpath={.items[*].endpoints[*].addresses[0]}")
	if len(strings.Fields(eps)) != 2 {
		t.Errorf("nginx's endpoints a while later: %q\n%s", eps, k("get", "pods", "-o", "wide"))
	}

	// Scaled to zero, the ClusterIP refuses at once.
	k("scale", "deployment", "nginx", "--replicas=0")
	servicesEventually(t, "the ClusterIP refuses without endpoints", func() bool {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "8080"), 2*time.Second)
		if err == nil {
			c.Close()
			return false
		}
		return strings.Contains(err.Error(), "connection refused")
	})
}

// servicesNodeIP is the node's InternalIP.
func servicesNodeIP(t *testing.T, n *kubeletNode) string {
	t.Helper()
	node, err := n.s.Client.CoreV1().Nodes().Get(context.Background(), n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	t.Fatalf("node %s has no InternalIP: %+v", n.name, node.Status.Addresses)
	return ""
}

// servicesEventually polls cond for up to a minute; last, when given, is
// what the last try saw.
func servicesEventually(t *testing.T, what string, cond func() bool, last ...*string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		for _, l := range last {
			what += " (last: " + *l + ")"
		}
		t.Fatal(fmt.Errorf("%s: %w", what, err))
	}
}
