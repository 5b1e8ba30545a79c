package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// fakeStore serves a fixed set of objects, filtered by namespace and label selector.
type fakeStore struct {
	resource string
	objs     []runtime.Object
}

func (f *fakeStore) New() runtime.Object { return nil }
func (f *fakeStore) Destroy()            {}
func (f *fakeStore) NewList() runtime.Object {
	if f.resource == "nodes" {
		return &corev1.NodeList{}
	}
	return &corev1.PodList{}
}

func (f *fakeStore) ConvertToTable(context.Context, runtime.Object, runtime.Object) (*metav1.Table, error) {
	return nil, nil
}

func (f *fakeStore) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	ns, _ := genericapirequest.NamespaceFrom(ctx)
	for _, o := range f.objs {
		m := o.(metav1.Object)
		if m.GetName() == name && m.GetNamespace() == ns {
			return o, nil
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: f.resource}, name)
}

func (f *fakeStore) List(ctx context.Context, o *metainternalversion.ListOptions) (runtime.Object, error) {
	ns, _ := genericapirequest.NamespaceFrom(ctx)
	nodes, pods := &corev1.NodeList{}, &corev1.PodList{}
	for _, obj := range f.objs {
		m := obj.(metav1.Object)
		if (ns != "" && m.GetNamespace() != ns) || (o.LabelSelector != nil && !o.LabelSelector.Matches(labelSet(m.GetLabels()))) {
			continue
		}
		switch x := obj.(type) {
		case *corev1.Node:
			nodes.Items = append(nodes.Items, *x)
		case *corev1.Pod:
			pods.Items = append(pods.Items, *x)
		}
	}
	if f.resource == "nodes" {
		return nodes, nil
	}
	return pods, nil
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool              { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string            { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) { v, ok := l[k]; return v, ok }

func node(name, host string, port int, labels map[string]string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	return n
}

func TestNodeAndPodMetrics(t *testing.T) {
	var scrapes atomic.Int64
	kubelet := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := scrapes.Add(1)
		// One scrape a second apart in kubelet time: node 0.5 core, container 0.25.
		fmt.Fprint(w, kubeletText(1_700_000_000_000+n*1000, float64(n)/2, float64(n)/4))
	}))
	defer kubelet.Close()
	host, portStr, _ := net.SplitHostPort(kubelet.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedPort := closed.Listener.Addr().(*net.TCPAddr).Port
	closed.Close()

	nodes := &fakeStore{resource: "nodes", objs: []runtime.Object{
		node("n1", host, port, map[string]string{"role": "real"}),
		node("sim1", host, port, map[string]string{simLabel: "true", "role": "sim"}),
		node("gone", host, closedPort, map[string]string{"role": "gone"}),
	}}
	running := corev1.PodStatus{Phase: corev1.PodRunning}
	pods := &fakeStore{resource: "pods", objs: []runtime.Object{
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "n1"}, Status: running},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "n1"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "gone"}, Status: running},
	}}
	sc := newScraper(func() (*http.Transport, error) { return kubelet.Client().Transport.(*http.Transport), nil })
	sc.sleep = func(context.Context, time.Duration) error { return nil }
	src := &source{nodes: nodes, scraper: sc}
	nr, pr := &NodeMetricsREST{src: src}, &PodMetricsREST{src: src, pods: pods}
	ctx := context.Background()

	obj, err := nr.List(ctx, &metainternalversion.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nl := obj.(*metricsv1beta1.NodeMetricsList)
	if len(nl.Items) != 1 || nl.Items[0].Name != "n1" || nl.Items[0].Labels["role"] != "real" {
		t.Fatalf("node metrics: %+v (the simulated and unreachable nodes are left out)", nl.Items)
	}
	if m := nl.Items[0]; m.Usage.Cpu().String() != "500m" || m.Usage.Memory().String() != "1Gi" || m.Window.Duration != time.Second {
		t.Errorf("n1 usage %v window %v", m.Usage, m.Window)
	}
	if _, err := nr.Get(ctx, "gone", nil); !apierrors.IsNotFound(err) {
		t.Errorf("get of an unreachable node: %v", err)
	}
	if _, err := nr.Get(ctx, "sim1", nil); !apierrors.IsNotFound(err) {
		t.Errorf("get of a simulated node: %v", err)
	}

	nsCtx := genericapirequest.WithNamespace(ctx, "default")
	obj, err = pr.List(nsCtx, &metainternalversion.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pl := obj.(*metricsv1beta1.PodMetricsList)
	if len(pl.Items) != 1 || pl.Items[0].Name != "p" || pl.Items[0].Labels["app"] != "web" {
		t.Fatalf("pod metrics: %+v (only running pods on reachable nodes)", pl.Items)
	}
	if c := pl.Items[0].Containers; len(c) != 1 || c[0].Name != "web" || c[0].Usage.Cpu().String() != "250m" || c[0].Usage.Memory().String() != "4Mi" {
		t.Errorf("containers of p: %+v", c)
	}
	if _, err := pr.Get(nsCtx, "pending", nil); !apierrors.IsNotFound(err) || err.Error() != `pods.metrics.k8s.io "default/pending" not found` {
		t.Errorf("get of a pending pod: %v", err)
	}

	table, err := pr.ConvertToTable(ctx, pl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(table.ColumnDefinitions) != 4 || len(table.Rows) != 1 || fmt.Sprint(table.Rows[0].Cells) != "[p 250m 4Mi 1s]" {
		t.Errorf("pod metrics table: %+v %+v", table.ColumnDefinitions, table.Rows)
	}
}
