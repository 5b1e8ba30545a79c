// Package service serves core/v1 Services: upstream's defaults and validation, the
// table kubectl prints, and the allocation of ClusterIPs and NodePorts.
//
// Allocation. Every ClusterIP a Service holds is a networking.k8s.io/v1 IPAddress
// (package ipallocator) and every NodePort a claim under /ranges/servicenodeports
// (package portallocator), each created atomically in storage before the Service is
// written; a create or update that fails gives back what it claimed, a delete or a
// type change releases what is no longer used. The store is the only allocation
// table, so restarts and concurrent creates never hand out a value twice. At start the
// "kubernetes" ServiceCIDR object records the service CIDR.
package service

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/registry/core/service/ipallocator"
	"github.com/skiff-k8s/skiff/pkg/registry/core/service/portallocator"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Columns are upstream's service columns.
var Columns = []metav1.TableColumnDefinition{
	store.NameColumn,
	{Name: "Type", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["type"]},
	{Name: "Cluster-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]},
	{Name: "External-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]},
	{Name: "Port(s)", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["ports"]},
	store.AgeColumn,
	store.Wide(metav1.TableColumnDefinition{Name: "Selector", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["selector"]}),
}

// newResource describes services; a nil allocators serves without allocation (tests).
// A service resource's scheme functions do not depend on its allocators.
func init() { store.MustRegister(newResource(nil)) }

func newResource(a *allocators) *store.Resource {
	return &store.Resource{
		Name: "services", Singular: "service", Namespaced: true,
		ShortNames: []string{"svc"}, Categories: []string{"all"},
		New:          func() runtime.Object { return &corev1.Service{} },
		NewList:      func() runtime.Object { return &corev1.ServiceList{} },
		ValidateName: ValidateName,
		Status:       true,
		Defaults:     func(obj runtime.Object) { Defaults(obj.(*corev1.Service)) },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return Validate(obj.(*corev1.Service))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return ValidateUpdate(obj.(*corev1.Service), old.(*corev1.Service))
		},
		ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
			return ValidateStatus(obj.(*corev1.Service))
		},
		Fields: func(obj runtime.Object) fields.Set {
			svc := obj.(*corev1.Service)
			return fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)}
		},
		FieldLabels: []string{"spec.clusterIP", "spec.type"},
		Columns:     Columns,
		Row:         func(obj runtime.Object) []any { return Row(obj.(*corev1.Service)) },
		Customize: func(s *genericregistry.Store) error {
			if a != nil {
				a.exists = func(ctx context.Context, name string) bool {
					_, err := s.Get(ctx, name, &metav1.GetOptions{})
					return err == nil
				}
				if r := a.repair; r != nil {
					r.services = func(ctx context.Context) ([]corev1.Service, error) {
						obj, err := s.List(genericapirequest.WithNamespace(ctx, metav1.NamespaceAll), &metainternalversion.ListOptions{})
						if err != nil {
							return nil, err
						}
						return obj.(*corev1.ServiceList).Items, nil
					}
					ctx, cancel := context.WithCancel(context.Background())
					go r.run(ctx, repairInterval)
					destroy := s.DestroyFunc
					s.DestroyFunc = func() {
						cancel()
						if destroy != nil {
							destroy()
						}
					}
				}
				s.BeginCreate = a.beginCreate
				s.BeginUpdate = a.beginUpdate
				s.AfterDelete = a.afterDelete
			}
			return nil
		},
	}
}

// New returns the services resource, allocating from opts.ServiceCIDR and the node
// port range, with its claims in the storage behind opts.RESTOptions.
func New(opts *store.Options) (*store.Resource, error) {
	if opts.ServiceCIDR == nil || opts.NodePortSize <= 0 {
		return nil, fmt.Errorf("services: a service CIDR and a node port range are required")
	}
	ipStore, ipPrefix, err := rawStorage(opts, networkingv1.SchemeGroupVersion.WithResource("ipaddresses").GroupResource(),
		func() runtime.Object { return &networkingv1.IPAddress{} }, func() runtime.Object { return &networkingv1.IPAddressList{} }, "")
	if err != nil {
		return nil, err
	}
	portStore, _, err := rawStorage(opts, schema.GroupResource{Resource: "servicenodeportallocations"},
		func() runtime.Object { return &corev1.RangeAllocation{} }, nil, portallocator.Prefix)
	if err != nil {
		return nil, err
	}
	cidrStore, cidrPrefix, err := rawStorage(opts, networkingv1.SchemeGroupVersion.WithResource("servicecidrs").GroupResource(),
		func() runtime.Object { return &networkingv1.ServiceCIDR{} }, func() runtime.Object { return &networkingv1.ServiceCIDRList{} }, "")
	if err != nil {
		return nil, err
	}
	go ensureServiceCIDR(cidrStore, cidrPrefix+"/"+DefaultServiceCIDRName, opts.ServiceCIDR)
	ipClaims := ipallocator.NewStorage(ipStore, ipPrefix, opts.ServiceCIDR)
	portClaims := portallocator.NewStorage(portStore, opts.NodePortBase, opts.NodePortSize)
	a := &allocators{
		ips:    ipallocator.New(opts.ServiceCIDR, ipClaims),
		ports:  portallocator.New(opts.NodePortBase, opts.NodePortSize, portClaims),
		repair: &repair{ips: ipClaims, ports: portClaims, grace: repairGrace},
	}
	return newResource(a), nil
}

// rawStorage opens storage for gr without a watch cache; prefix "" means the key
// prefix gr's own store uses, so claims are the objects that store serves.
func rawStorage(opts *store.Options, gr schema.GroupResource, newFunc, newList func() runtime.Object, prefix string) (storage.Interface, string, error) {
	ro, err := opts.RESTOptions.GetRESTOptions(gr, newFunc())
	if err != nil {
		return nil, "", fmt.Errorf("storage for %s: %w", gr, err)
	}
	if prefix == "" {
		prefix = "/" + ro.ResourcePrefix
	}
	if newList == nil {
		newList = newFunc
	}
	s, _, err := generic.NewRawStorage(ro.StorageConfig, newFunc, newList, prefix)
	if err != nil {
		return nil, "", fmt.Errorf("storage for %s: %w", gr, err)
	}
	return s, prefix, nil
}

// Repairs run at start and every repairInterval; a claim no Service holds is
// released once older than repairGrace.
const (
	repairInterval = 3 * time.Minute
	repairGrace    = time.Minute
)

// DefaultServiceCIDRName is the ServiceCIDR that records the cluster's service CIDR.
const DefaultServiceCIDRName = "kubernetes"

// ensureServiceCIDR creates the "kubernetes" ServiceCIDR, retrying until the store
// answers; an existing one is left as it is.
func ensureServiceCIDR(s storage.Interface, key string, cidr *net.IPNet) {
	now := metav1.Now()
	obj := &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceCIDRName, UID: uuid.NewUUID(), CreationTimestamp: now},
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{cidr.String()}},
		Status: networkingv1.ServiceCIDRStatus{Conditions: []metav1.Condition{{
			Type: networkingv1.ServiceCIDRConditionReady, Status: metav1.ConditionTrue, LastTransitionTime: now,
			Reason: "", Message: "Kubernetes Service CIDR is ready",
		}}},
	}
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.Create(ctx, key, obj, &networkingv1.ServiceCIDR{}, 0)
		cancel()
		if err == nil || storage.IsExist(err) {
			return
		}
		if i%10 == 0 {
			klog.ErrorS(err, "create the default ServiceCIDR; retrying")
		}
		time.Sleep(time.Second)
	}
}

// Row prints a Service as upstream does.
func Row(svc *corev1.Service) []any {
	clusterIP := svc.Spec.ClusterIP
	if clusterIP == "" {
		clusterIP = "<none>"
	}
	ports := portString(svc.Spec.Ports)
	if ports == "" {
		ports = "<none>"
	}
	// The apiserver prints its tables wide, as upstream's does: a load
	// balancer's addresses are never cut to "…" in kubectl get.
	return []any{svc.Name, string(svc.Spec.Type), clusterIP, externalIP(svc, true), ports,
		store.Age(svc.CreationTimestamp), labels.FormatLabels(svc.Spec.Selector)}
}

func portString(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}

const loadBalancerWidth = 16

func loadBalancerString(s corev1.LoadBalancerStatus, wide bool) string {
	var out []string
	for _, ing := range s.Ingress {
		if ing.IP != "" {
			out = append(out, ing.IP)
		} else if ing.Hostname != "" {
			out = append(out, ing.Hostname)
		}
	}
	r := strings.Join(out, ",")
	if !wide && len(r) > loadBalancerWidth {
		r = r[0:(loadBalancerWidth-3)] + "..."
	}
	return r
}

func externalIP(svc *corev1.Service, wide bool) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		lb := loadBalancerString(svc.Status.LoadBalancer, wide)
		if len(svc.Spec.ExternalIPs) > 0 {
			r := append([]string{}, svc.Spec.ExternalIPs...)
			if lb != "" {
				r = append(r, lb)
			}
			return strings.Join(r, ",")
		}
		if lb != "" {
			return lb
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}
