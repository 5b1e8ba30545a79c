// Package metrics serves metrics.k8s.io/v1beta1 (NodeMetrics and PodMetrics) from the
// apiserver itself, so `kubectl top node|pod` works without a metrics-server add-on.
//
// Usage is read on demand from each node's kubelet (/metrics/resource over TLS, with
// the apiserver's kubelet-client certificate, as pod logs and exec reach it). As
// metrics-server does, CPU is the rate of the cumulative counter between two samples
// (the Window field) and memory the working set of the later one. A node's samples
// serve requests for 15 s; a node asked about for the first time, or after a minute,
// is sampled twice a second apart. Nodes whose kubelet cannot be reached, and the
// simulated nodes, have no metrics and are left out of lists.
//
//	g, err := metrics.Group(opts, coreGroup) // after core/v1 is built
package metrics

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/klog/v2"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// simLabel marks the simulated nodes of pkg/sim, which have no kubelet to scrape.
const simLabel = "node.skiff.io/sim"

// scrapeParallelism bounds the kubelets scraped at once for one request.
const scrapeParallelism = 16

// readStorage is what the metrics storages read of nodes and pods.
type readStorage interface {
	rest.Getter
	rest.Lister
}

// Group builds metrics.k8s.io/v1beta1 over core/v1's nodes and pods storages.
func Group(opts *store.Options, core *store.Group) (*store.Group, error) {
	nodes, ok := core.Storage["nodes"].(readStorage)
	if !ok {
		return nil, fmt.Errorf("metrics.k8s.io: core/v1 has no nodes storage")
	}
	pods, ok := core.Storage["pods"].(readStorage)
	if !ok {
		return nil, fmt.Errorf("metrics.k8s.io: core/v1 has no pods storage")
	}
	kubelets := pod.NewKubeletConnector(opts.KubeletClient)
	kubelets.Nodes = nodes
	src := &source{nodes: nodes, scraper: newScraper(kubelets.Transport)}
	return &store.Group{
		Version: metricsv1beta1.SchemeGroupVersion,
		Storage: map[string]rest.Storage{
			"nodes": &NodeMetricsREST{src: src},
			"pods":  &PodMetricsREST{src: src, pods: pods},
		},
	}, nil
}

// source finds nodes' kubelets and their usage.
type source struct {
	nodes   readStorage
	scraper *scraper
}

// fromCache reads through the watch cache.
var fromCache = &metav1.GetOptions{ResourceVersion: "0"}

// cachedList turns a request's list options into a list from the watch cache with
// the same selectors.
func cachedList(o *metainternalversion.ListOptions) *metainternalversion.ListOptions {
	out := &metainternalversion.ListOptions{ResourceVersion: "0"}
	if o != nil {
		out.LabelSelector, out.FieldSelector = o.LabelSelector, o.FieldSelector
	}
	return out
}

// samples returns the last two samples of each node that has them, scraping in
// parallel; nodes that cannot be scraped are left out.
func (s *source) samples(ctx context.Context, nodes []*corev1.Node) map[string][2]*sample {
	out := map[string][2]*sample{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, scrapeParallelism)
	for _, n := range nodes {
		if n.Labels[simLabel] == "true" {
			continue
		}
		host, port, err := pod.KubeletEndpoint(n)
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			prev, last, err := s.scraper.samples(ctx, n.Name, net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				klog.V(2).InfoS("Failed to scrape kubelet metrics", "node", n.Name, "err", err)
				return
			}
			mu.Lock()
			out[n.Name] = [2]*sample{prev, last}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// NodeMetricsREST serves nodes.metrics.k8s.io: get and list, with label and field
// selectors on the nodes.
type NodeMetricsREST struct {
	src *source
}

var (
	_ rest.Storage        = &NodeMetricsREST{}
	_ rest.KindProvider   = &NodeMetricsREST{}
	_ rest.Scoper         = &NodeMetricsREST{}
	_ rest.Getter         = &NodeMetricsREST{}
	_ rest.Lister         = &NodeMetricsREST{}
	_ rest.TableConvertor = &NodeMetricsREST{}

	_ rest.SingularNameProvider = &NodeMetricsREST{}
)

func (r *NodeMetricsREST) New() runtime.Object     { return &metricsv1beta1.NodeMetrics{} }
func (r *NodeMetricsREST) NewList() runtime.Object { return &metricsv1beta1.NodeMetricsList{} }
func (r *NodeMetricsREST) Destroy()                {}
func (r *NodeMetricsREST) Kind() string            { return "NodeMetrics" }

// GetSingularName implements rest.SingularNameProvider: none, as metrics-server.
func (r *NodeMetricsREST) GetSingularName() string { return "" }

func (r *NodeMetricsREST) NamespaceScoped() bool { return false }

// Get implements rest.Getter: a node without metrics is NotFound, as in metrics-server.
func (r *NodeMetricsREST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.src.nodes.Get(ctx, name, fromCache)
	if err != nil {
		return nil, err
	}
	items := r.metrics(ctx, []*corev1.Node{obj.(*corev1.Node)})
	if len(items) == 0 {
		return nil, apierrors.NewNotFound(metricsv1beta1.Resource("nodes"), name)
	}
	return &items[0], nil
}

// List implements rest.Lister.
func (r *NodeMetricsREST) List(ctx context.Context, o *metainternalversion.ListOptions) (runtime.Object, error) {
	obj, err := r.src.nodes.List(ctx, cachedList(o))
	if err != nil {
		return nil, err
	}
	list := obj.(*corev1.NodeList)
	nodes := make([]*corev1.Node, len(list.Items))
	for i := range list.Items {
		nodes[i] = &list.Items[i]
	}
	return &metricsv1beta1.NodeMetricsList{Items: r.metrics(ctx, nodes)}, nil
}

func (r *NodeMetricsREST) metrics(ctx context.Context, nodes []*corev1.Node) []metricsv1beta1.NodeMetrics {
	samples := r.src.samples(ctx, nodes)
	items := make([]metricsv1beta1.NodeMetrics, 0, len(samples))
	now := metav1.Now()
	for _, n := range nodes {
		s, ok := samples[n.Name]
		if !ok {
			continue
		}
		u, ok := nodeUsage(s[0], s[1])
		if !ok {
			continue
		}
		items = append(items, metricsv1beta1.NodeMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, CreationTimestamp: now},
			Timestamp:  metav1.NewTime(u.at),
			Window:     metav1.Duration{Duration: u.window},
			Usage:      u.list(),
		})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	return items
}

// ConvertToTable implements rest.TableConvertor with metrics-server's columns.
func (r *NodeMetricsREST) ConvertToTable(_ context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	var items []metricsv1beta1.NodeMetrics
	switch t := obj.(type) {
	case *metricsv1beta1.NodeMetrics:
		items = []metricsv1beta1.NodeMetrics{*t}
	case *metricsv1beta1.NodeMetricsList:
		items = t.Items
	default:
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	rows := make([]row, len(items))
	for i := range items {
		rows[i] = row{name: items[i].Name, usage: items[i].Usage, window: items[i].Window.Duration, obj: &items[i]}
	}
	return table(obj, rows), nil
}

// PodMetricsREST serves pods.metrics.k8s.io: get and list in a namespace or all, with
// label and field selectors on the pods. Only running pods have metrics.
type PodMetricsREST struct {
	src  *source
	pods readStorage
}

var (
	_ rest.Storage        = &PodMetricsREST{}
	_ rest.KindProvider   = &PodMetricsREST{}
	_ rest.Scoper         = &PodMetricsREST{}
	_ rest.Getter         = &PodMetricsREST{}
	_ rest.Lister         = &PodMetricsREST{}
	_ rest.TableConvertor = &PodMetricsREST{}

	_ rest.SingularNameProvider = &PodMetricsREST{}
)

func (r *PodMetricsREST) New() runtime.Object     { return &metricsv1beta1.PodMetrics{} }
func (r *PodMetricsREST) NewList() runtime.Object { return &metricsv1beta1.PodMetricsList{} }
func (r *PodMetricsREST) Destroy()                {}
func (r *PodMetricsREST) Kind() string            { return "PodMetrics" }

// GetSingularName implements rest.SingularNameProvider: none, as metrics-server.
func (r *PodMetricsREST) GetSingularName() string { return "" }

func (r *PodMetricsREST) NamespaceScoped() bool { return true }

// Get implements rest.Getter: a pod without metrics is NotFound as "namespace/name",
// as in metrics-server.
func (r *PodMetricsREST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.pods.Get(ctx, name, fromCache)
	if err != nil {
		return nil, err
	}
	items := r.metrics(ctx, []*corev1.Pod{obj.(*corev1.Pod)})
	if len(items) == 0 {
		ns, _ := genericapirequest.NamespaceFrom(ctx)
		return nil, apierrors.NewNotFound(metricsv1beta1.Resource("pods"), ns+"/"+name)
	}
	return &items[0], nil
}

// List implements rest.Lister.
func (r *PodMetricsREST) List(ctx context.Context, o *metainternalversion.ListOptions) (runtime.Object, error) {
	obj, err := r.pods.List(ctx, cachedList(o))
	if err != nil {
		return nil, err
	}
	list := obj.(*corev1.PodList)
	pods := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		pods[i] = &list.Items[i]
	}
	return &metricsv1beta1.PodMetricsList{Items: r.metrics(ctx, pods)}, nil
}

func (r *PodMetricsREST) metrics(ctx context.Context, pods []*corev1.Pod) []metricsv1beta1.PodMetrics {
	var nodes []*corev1.Node
	seen := map[string]bool{}
	clusterCtx := genericapirequest.WithNamespace(ctx, metav1.NamespaceNone)
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName == "" || seen[p.Spec.NodeName] {
			continue
		}
		seen[p.Spec.NodeName] = true
		obj, err := r.src.nodes.Get(clusterCtx, p.Spec.NodeName, fromCache)
		if err != nil {
			continue
		}
		nodes = append(nodes, obj.(*corev1.Node))
	}
	samples := r.src.samples(ctx, nodes)
	now := metav1.Now()
	items := make([]metricsv1beta1.PodMetrics, 0, len(pods))
	for _, p := range pods {
		s, ok := samples[p.Spec.NodeName]
		if p.Status.Phase != corev1.PodRunning || !ok {
			continue
		}
		m := metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, CreationTimestamp: now},
		}
		for _, c := range s[1].byPod[podKey{p.Namespace, p.Name}] {
			u, ok := containerUsage(s[0], s[1], containerKey{p.Namespace, p.Name, c})
			if !ok {
				continue
			}
			m.Containers = append(m.Containers, metricsv1beta1.ContainerMetrics{Name: c, Usage: u.list()})
			if u.at.After(m.Timestamp.Time) {
				m.Timestamp, m.Window = metav1.NewTime(u.at), metav1.Duration{Duration: u.window}
			}
		}
		if len(m.Containers) > 0 {
			items = append(items, m)
		}
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].Namespace != items[j].Namespace {
			return items[i].Namespace < items[j].Namespace
		}
		return items[i].Name < items[j].Name
	})
	return items
}

// ConvertToTable implements rest.TableConvertor with metrics-server's columns: a
// pod's usage is the sum of its containers'.
func (r *PodMetricsREST) ConvertToTable(_ context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	var items []metricsv1beta1.PodMetrics
	switch t := obj.(type) {
	case *metricsv1beta1.PodMetrics:
		items = []metricsv1beta1.PodMetrics{*t}
	case *metricsv1beta1.PodMetricsList:
		items = t.Items
	default:
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	rows := make([]row, len(items))
	for i := range items {
		sum := corev1.ResourceList{}
		for _, c := range items[i].Containers {
			for k, v := range c.Usage {
				q := sum[k]
				q.Add(v)
				sum[k] = q
			}
		}
		rows[i] = row{name: items[i].Name, usage: sum, window: items[i].Window.Duration, obj: &items[i]}
	}
	return table(obj, rows), nil
}

type row struct {
	name   string
	usage  corev1.ResourceList
	window time.Duration
	obj    runtime.Object
}

// table prints Name, cpu, memory and Window.
func table(obj runtime.Object, rows []row) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: "Name of the resource"},
		{Name: "cpu", Type: "string", Format: "quantity"},
		{Name: "memory", Type: "string", Format: "quantity"},
		{Name: "Window", Type: "string", Format: "duration"},
	}}
	if m, err := meta.ListAccessor(obj); err == nil {
		t.ResourceVersion, t.Continue = m.GetResourceVersion(), m.GetContinue()
	}
	for _, r := range rows {
		cpu, mem := r.usage[corev1.ResourceCPU], r.usage[corev1.ResourceMemory]
		t.Rows = append(t.Rows, metav1.TableRow{
			Cells:  []any{r.name, cpu.String(), mem.String(), r.window.String()},
			Object: runtime.RawExtension{Object: r.obj},
		})
	}
	return t
}
