// Package componentstatus serves the deprecated core/v1 ComponentStatuses, read-only:
// "etcd-0" is the datastore, healthy when a real read through the storage answers;
// "scheduler" and "controller-manager" are probed on their upstream secure health
// ports on the loopback address (10259, 10257), as kube-apiserver probes them, and
// reported unhealthy with the probe's error when nothing answers there.
package componentstatus

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Probe checks one component: healthy, and a message or error.
type Probe func(ctx context.Context) (healthy bool, message, errMsg string)

// REST serves componentstatuses.
type REST struct {
	names  []string
	probes map[string]Probe
}

var (
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.ShortNamesProvider   = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// NewREST returns the storage of componentstatuses, probing the datastore through
// opts.RESTOptions.
func NewREST(opts *store.Options) (*REST, error) {
	ro, err := opts.RESTOptions.GetRESTOptions(schema.GroupResource{Resource: "componentstatuses"}, &corev1.ComponentStatus{})
	if err != nil {
		return nil, fmt.Errorf("componentstatuses storage: %w", err)
	}
	var (
		once sync.Once
		s    storage.Interface
		serr error
	)
	etcd := func(ctx context.Context) (bool, string, string) {
		once.Do(func() {
			s, _, serr = generic.NewRawStorage(ro.StorageConfig,
				func() runtime.Object { return &corev1.ComponentStatus{} },
				func() runtime.Object { return &corev1.ComponentStatusList{} }, "/componentstatuses")
		})
		if serr != nil {
			return false, "", serr.Error()
		}
		return DatastoreProbe(s)(ctx)
	}
	return New(map[string]Probe{
		"etcd-0":             etcd,
		"scheduler":          HTTPProbe("https://127.0.0.1:10259/healthz"),
		"controller-manager": HTTPProbe("https://127.0.0.1:10257/healthz"),
	}), nil
}

// New returns a REST over the given probes, listed in name order.
func New(probes map[string]Probe) *REST {
	r := &REST{probes: probes}
	for _, n := range []string{"controller-manager", "etcd-0", "scheduler"} {
		if _, ok := probes[n]; ok {
			r.names = append(r.names, n)
		}
	}
	return r
}

// DatastoreProbe reads a key through the storage: an answer, even "not found", shows
// the datastore is reachable and serving.
func DatastoreProbe(s storage.Interface) Probe {
	return func(ctx context.Context) (bool, string, string) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		err := s.Get(ctx, "/componentstatuses/health", storage.GetOptions{IgnoreNotFound: true}, &corev1.ComponentStatus{})
		if err != nil {
			return false, "", err.Error()
		}
		return true, `{"health":"true","reason":""}`, ""
	}
}

// HTTPProbe gets url (a loopback health endpoint) and is healthy on 200 "ok".
func HTTPProbe(url string) Probe {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a local health probe, as upstream's
		Proxy:           nil,
	}}
	return func(ctx context.Context) (bool, string, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, "", err.Error()
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, "", err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return false, string(body), fmt.Sprintf("unhealthy: %s", resp.Status)
		}
		return true, strings.TrimSpace(string(body)), ""
	}
}

func (r *REST) status(ctx context.Context, name string) *corev1.ComponentStatus {
	healthy, msg, errMsg := r.probes[name](ctx)
	c := corev1.ComponentCondition{Type: corev1.ComponentHealthy, Status: corev1.ConditionFalse, Message: msg, Error: errMsg}
	if healthy {
		c.Status = corev1.ConditionTrue
	}
	return &corev1.ComponentStatus{
		TypeMeta:   metav1.TypeMeta{Kind: "ComponentStatus", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Conditions: []corev1.ComponentCondition{c},
	}
}

// New implements rest.Storage.
func (r *REST) New() runtime.Object { return &corev1.ComponentStatus{} }

// Destroy implements rest.Storage.
func (r *REST) Destroy() {}

// NewList implements rest.Lister.
func (r *REST) NewList() runtime.Object { return &corev1.ComponentStatusList{} }

// NamespaceScoped implements rest.Scoper.
func (r *REST) NamespaceScoped() bool { return false }

// ShortNames implements rest.ShortNamesProvider.
func (r *REST) ShortNames() []string { return []string{"cs"} }

// GetSingularName implements rest.SingularNameProvider.
func (r *REST) GetSingularName() string { return "componentstatus" }

// Get implements rest.Getter.
func (r *REST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	if _, ok := r.probes[name]; !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("componentstatuses"), name)
	}
	return r.status(ctx, name), nil
}

// List implements rest.Lister; components are probed in parallel.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	items := make([]corev1.ComponentStatus, len(r.names))
	var wg sync.WaitGroup
	for i, n := range r.names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			items[i] = *r.status(ctx, n)
		}()
	}
	wg.Wait()
	list := &corev1.ComponentStatusList{}
	for _, it := range items {
		if options != nil && options.LabelSelector != nil && !options.LabelSelector.Empty() {
			continue // components carry no labels
		}
		if options != nil && options.FieldSelector != nil && !options.FieldSelector.Matches(fieldSet(it.Name)) {
			continue
		}
		list.Items = append(list.Items, it)
	}
	return list, nil
}

type fieldSet string

func (f fieldSet) Has(field string) bool { return field == "metadata.name" }
func (f fieldSet) Get(field string) string {
	if field == "metadata.name" {
		return string(f)
	}
	return ""
}

// Columns are upstream's componentstatus columns.
var Columns = []metav1.TableColumnDefinition{store.NameColumn,
	{Name: "Status", Type: "string", Description: "Status of the component conditions"},
	{Name: "Message", Type: "string", Description: "Message of the component conditions"},
	{Name: "Error", Type: "string", Description: "Error of the component conditions"},
}

// Row prints a component as kubectl does.
func Row(c *corev1.ComponentStatus) []any {
	status, msg, errMsg := "Unknown", "", ""
	for _, cond := range c.Conditions {
		if cond.Type == corev1.ComponentHealthy {
			status = "Unhealthy"
			if cond.Status == corev1.ConditionTrue {
				status = "Healthy"
			}
			msg, errMsg = cond.Message, cond.Error
			break
		}
	}
	return []any{c.Name, status, msg, errMsg}
}

// ConvertToTable implements rest.TableConvertor.
func (r *REST) ConvertToTable(_ context.Context, obj runtime.Object, opts runtime.Object) (*metav1.Table, error) {
	t := &metav1.Table{}
	if o, ok := opts.(*metav1.TableOptions); !ok || !o.NoHeaders {
		t.ColumnDefinitions = Columns
	}
	add := func(c *corev1.ComponentStatus) {
		t.Rows = append(t.Rows, metav1.TableRow{Cells: Row(c), Object: runtime.RawExtension{Object: c}})
	}
	switch o := obj.(type) {
	case *corev1.ComponentStatus:
		add(o)
	case *corev1.ComponentStatusList:
		for i := range o.Items {
			add(&o.Items[i])
		}
	default:
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	return t, nil
}
