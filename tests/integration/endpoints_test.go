package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

const epTimeout = 90 * time.Second

// TestEndpointsAndSlices runs pods on simulated nodes behind Services and checks the
// Endpoints and EndpointSlices the controllers keep for them.
func TestEndpointsAndSlices(t *testing.T) {
	s := framework.Start(t, "--sim-nodes=2")
	// Endpoints are deprecated: every call would print the server's warning.
	cfg := rest.CopyConfig(s.Config)
	cfg.WarningHandler = rest.NoWarnings{}
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := "ep-test"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// web selects four pods: ready on 8080, ready on 9090 (the same port name on
	// another number), not ready, and terminating (a finalizer keeps it).
	mustCreateService(t, c, ns, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}})
	simPod(t, c, ns, "web-a", "web", 8080, nil)
	simPod(t, c, ns, "web-b", "web", 9090, nil)
	simPod(t, c, ns, "web-c", "web", 8080, map[string]string{"sim.skiff.io/not-ready": "true"})
	term := simPod(t, c, ns, "web-d", "web", 8080, nil)
	waitPodIP(t, c, ns, "web-a", "web-b", "web-c", "web-d")
	waitPodReady(t, c, ns, "web-a", "web-b", "web-d")
	if err := c.CoreV1().Pods(ns).Delete(ctx, term.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("endpoints", func(t *testing.T) {
		ep := waitEndpoints(t, c, ns, "web", "8080:ready=web-a notready=web-c; 9090:ready=web-b")
		if ep.Labels["team"] != "a" {
			t.Errorf("labels = %v, want the service's", ep.Labels)
		}
		// As upstream, the trigger time is that of the change the last write came from,
		// and a write with no pod or service change behind it (a pod gone) clears it.
		if v, ok := ep.Annotations[corev1.EndpointsLastChangeTriggerTime]; ok {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				t.Errorf("%s = %q: %v", corev1.EndpointsLastChangeTriggerTime, v, err)
			}
		}
		for _, ss := range ep.Subsets {
			for _, a := range append(ss.Addresses, ss.NotReadyAddresses...) {
				if a.NodeName == nil || !strings.HasPrefix(*a.NodeName, "skiff-sim-") || a.TargetRef == nil || a.TargetRef.Kind != "Pod" {
					t.Errorf("address %+v lacks nodeName or targetRef", a)
				}
			}
		}
	})

	t.Run("slices", func(t *testing.T) {
		want := "web-a:8080 ready serving; web-b:9090 ready serving; web-c:8080 -; web-d:8080 serving terminating"
		slices := waitSlices(t, c, ns, "web", want)
		for _, sl := range slices {
			if !strings.HasPrefix(sl.Name, "web-") || sl.Labels[discoveryv1.LabelManagedBy] != "endpointslice-controller.k8s.io" {
				t.Errorf("slice %s labels %v", sl.Name, sl.Labels)
			}
			if len(sl.OwnerReferences) != 1 || sl.OwnerReferences[0].Kind != "Service" || sl.OwnerReferences[0].Name != "web" {
				t.Errorf("slice %s owners %v", sl.Name, sl.OwnerReferences)
			}
			if sl.Labels["team"] != "a" {
				t.Errorf("slice %s labels %v, want the service's", sl.Name, sl.Labels)
			}
		}
	})

	t.Run("readiness changes", func(t *testing.T) {
		// web-c becomes ready once the sim's annotation is gone.
		patch := []byte(`{"metadata":{"annotations":{"sim.skiff.io/not-ready":null}}}`)
		if _, err := c.CoreV1().Pods(ns).Patch(ctx, "web-c", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitEndpoints(t, c, ns, "web", "8080:ready=web-a,web-c; 9090:ready=web-b")
		waitSlices(t, c, ns, "web", "web-a:8080 ready serving; web-b:9090 ready serving; web-c:8080 ready serving; web-d:8080 serving terminating")
		// The terminating pod goes when its finalizer does.
		removeFinalizers(t, c, ns, "web-d")
		waitSlices(t, c, ns, "web", "web-a:8080 ready serving; web-b:9090 ready serving; web-c:8080 ready serving")
	})

	t.Run("publishNotReadyAddresses", func(t *testing.T) {
		mustCreateService(t, c, ns, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "pub"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "pub"}, PublishNotReadyAddresses: true,
				Ports: []corev1.ServicePort{{Name: "p", Port: 80, TargetPort: intstr.FromInt32(8080)}}}})
		simPod(t, c, ns, "pub-a", "pub", 8080, map[string]string{"sim.skiff.io/not-ready": "true"})
		waitEndpoints(t, c, ns, "pub", "8080:ready=pub-a")
		waitSlices(t, c, ns, "pub", "pub-a:8080 ready")
	})

	t.Run("headless with hostname", func(t *testing.T) {
		mustCreateService(t, c, ns, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "db"}, ClusterIP: corev1.ClusterIPNone}})
		p := simPodSpec(ns, "db-0", "db", 5432, nil)
		p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db"
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ep := waitEndpoints(t, c, ns, "db", "-:ready=db-0")
		if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
			t.Errorf("labels = %v, want %s", ep.Labels, corev1.IsHeadlessService)
		}
		if h := ep.Subsets[0].Addresses[0].Hostname; h != "db-0" {
			t.Errorf("hostname = %q, want db-0", h)
		}
		slices := waitSlices(t, c, ns, "db", "db-0: ready serving")
		if h := slices[0].Endpoints[0].Hostname; h == nil || *h != "db-0" {
			t.Errorf("slice hostname = %v, want db-0", h)
		}
		if _, ok := slices[0].Labels[corev1.IsHeadlessService]; !ok {
			t.Errorf("slice labels = %v, want %s", slices[0].Labels, corev1.IsHeadlessService)
		}
	})

	t.Run("selector-less services left alone and mirrored", func(t *testing.T) {
		mustCreateService(t, c, ns, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "manual"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "p", Port: 80}}}})
		manual := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "manual"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}},
				Ports: []corev1.EndpointPort{{Name: "p", Port: 80}}}}}
		if _, err := c.CoreV1().Endpoints(ns).Create(ctx, manual, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// A pod change in the namespace makes the controllers look at every matching
		// service; a later sync of web proves they have been around since.
		simPod(t, c, ns, "web-e", "web", 8080, nil)
		waitEndpoints(t, c, ns, "web", "8080:ready=web-a,web-c,web-e; 9090:ready=web-b")
		got, err := c.CoreV1().Endpoints(ns).Get(ctx, "manual", metav1.GetOptions{})
		if err != nil || len(got.Subsets) != 1 || got.Subsets[0].Addresses[0].IP != "192.0.2.10" {
			t.Errorf("manual endpoints = %+v, %v; want them untouched", got, err)
		}
		// Its Endpoints are mirrored into a slice of the mirroring controller.
		mirrored := waitSlices(t, c, ns, "manual", "?:80 ready")
		if m := mirrored[0].Labels[discoveryv1.LabelManagedBy]; m != "endpointslicemirroring-controller.k8s.io" ||
			mirrored[0].Endpoints[0].Addresses[0] != "192.0.2.10" {
			t.Errorf("mirrored slice managed by %q, endpoints %+v", m, mirrored[0].Endpoints)
		}
		// default/kubernetes keeps the apiserver's Endpoints and its one slice.
		kep, err := c.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil || len(kep.Subsets) != 1 || kep.Subsets[0].Ports[0].Name != "https" {
			t.Errorf("default/kubernetes endpoints = %+v, %v", kep, err)
		}
		klist, err := c.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"})
		if err != nil || len(klist.Items) != 1 || klist.Items[0].Name != "kubernetes" {
			t.Errorf("default/kubernetes slices = %+v, %v", klist, err)
		}
	})

	t.Run("service deleted", func(t *testing.T) {
		if err := c.CoreV1().Services(ns).Delete(ctx, "pub", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, epTimeout, func() error {
			_, err := c.CoreV1().Endpoints(ns).Get(ctx, "pub", metav1.GetOptions{})
			if err == nil {
				return fmt.Errorf("endpoints of the deleted service still there")
			}
			return nil
		})
	})

	t.Run("kubectl", func(t *testing.T) {
		s.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
			out := k.Run("get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web")
			if !strings.Contains(out, "IPv4") || !strings.Contains(out, "8080") || !strings.Contains(out, "9090") {
				t.Errorf("kubectl get endpointslices:\n%s", out)
			}
		})
	})
}

func mustCreateService(t *testing.T, c kubernetes.Interface, ns string, svc *corev1.Service) {
	t.Helper()
	if _, err := c.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// simPodSpec is a pod bound to the first simulated node (no scheduler needed) with
// one container port named http, and a finalizer so that a deleted pod stays
// terminating until the test lets it go.
func simPodSpec(ns, name, app string, port int32, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": app},
			Annotations: annotations, Finalizers: []string{"skiff.io/test"}},
		Spec: corev1.PodSpec{NodeName: "skiff-sim-0", Containers: []corev1.Container{{Name: "c", Image: "busybox:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}}}}},
	}
}

func simPod(t *testing.T, c kubernetes.Interface, ns, name, app string, port int32, annotations map[string]string) *corev1.Pod {
	t.Helper()
	p, err := c.CoreV1().Pods(ns).Create(context.Background(), simPodSpec(ns, name, app, port, annotations), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeFinalizers(t, c, ns, name) })
	return p
}

func removeFinalizers(t *testing.T, c kubernetes.Interface, ns, name string) {
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	_, _ = c.CoreV1().Pods(ns).Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{})
}

func waitPodIP(t *testing.T, c kubernetes.Interface, ns string, names ...string) {
	t.Helper()
	for _, n := range names {
		eventually(t, epTimeout, func() error {
			p, err := c.CoreV1().Pods(ns).Get(context.Background(), n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.PodIP == "" {
				return fmt.Errorf("pod %s has no IP yet", n)
			}
			return nil
		})
	}
}

func waitPodReady(t *testing.T, c kubernetes.Interface, ns string, names ...string) {
	t.Helper()
	for _, n := range names {
		eventually(t, epTimeout, func() error {
			p, err := c.CoreV1().Pods(ns).Get(context.Background(), n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("pod %s not ready", n)
		})
	}
}

// describeEndpoints renders subsets as "<port>:ready=<pods> notready=<pods>; …"
// sorted, with "-" for a subset without ports.
func describeEndpoints(ep *corev1.Endpoints) string {
	var parts []string
	names := func(as []corev1.EndpointAddress) string {
		var n []string
		for _, a := range as {
			if a.TargetRef != nil {
				n = append(n, a.TargetRef.Name)
			}
		}
		sort.Strings(n)
		return strings.Join(n, ",")
	}
	for _, ss := range ep.Subsets {
		port := "-"
		if len(ss.Ports) > 0 {
			port = fmt.Sprint(ss.Ports[0].Port)
		}
		d := port + ":"
		if len(ss.Addresses) > 0 {
			d += "ready=" + names(ss.Addresses)
		}
		if len(ss.NotReadyAddresses) > 0 {
			if len(ss.Addresses) > 0 {
				d += " "
			}
			d += "notready=" + names(ss.NotReadyAddresses)
		}
		parts = append(parts, d)
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func waitEndpoints(t *testing.T, c kubernetes.Interface, ns, name, want string) *corev1.Endpoints {
	t.Helper()
	var ep *corev1.Endpoints
	eventually(t, epTimeout, func() error {
		var err error
		ep, err = c.CoreV1().Endpoints(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got := describeEndpoints(ep); got != want {
			return fmt.Errorf("endpoints %s: %q, want %q", name, got, want)
		}
		return nil
	})
	return ep
}

// describeSlices renders every endpoint of the slices as "<pod>:<port> <conditions>"
// sorted; conditions are those true of ready, serving, terminating, or "-".
func describeSlices(slices []discoveryv1.EndpointSlice) string {
	var parts []string
	for _, sl := range slices {
		port := ""
		if len(sl.Ports) > 0 && sl.Ports[0].Port != nil {
			port = fmt.Sprint(*sl.Ports[0].Port)
		}
		for _, e := range sl.Endpoints {
			var conds []string
			for _, c := range []struct {
				name string
				v    *bool
			}{{"ready", e.Conditions.Ready}, {"serving", e.Conditions.Serving}, {"terminating", e.Conditions.Terminating}} {
				if c.v != nil && *c.v {
					conds = append(conds, c.name)
				}
			}
			if len(conds) == 0 {
				conds = []string{"-"}
			}
			name := "?"
			if e.TargetRef != nil {
				name = e.TargetRef.Name
			}
			parts = append(parts, name+":"+port+" "+strings.Join(conds, " "))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func waitSlices(t *testing.T, c kubernetes.Interface, ns, svc, want string) []discoveryv1.EndpointSlice {
	t.Helper()
	var items []discoveryv1.EndpointSlice
	eventually(t, epTimeout, func() error {
		list, err := c.DiscoveryV1().EndpointSlices(ns).List(context.Background(),
			metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
		if err != nil {
			return err
		}
		items = list.Items
		if got := describeSlices(items); got != want {
			return fmt.Errorf("slices of %s: %q, want %q", svc, got, want)
		}
		return nil
	})
	return items
}
