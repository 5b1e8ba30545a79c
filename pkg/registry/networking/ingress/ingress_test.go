package ingress

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func prefix() *networkingv1.PathType { p := networkingv1.PathTypePrefix; return &p }

func svc(name string, port int32) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: port}}}
}

func valid() *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: "foo.example.com",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
				{Path: "/", PathType: prefix(), Backend: svc("web", 80)},
			}}},
		}}},
	}
}

func TestValidate(t *testing.T) {
	path := func(i *networkingv1.Ingress) *networkingv1.HTTPIngressPath { return &i.Spec.Rules[0].HTTP.Paths[0] }
	cases := []struct {
		name   string
		mutate func(*networkingv1.Ingress)
		field  string
		detail string
	}{
		{"valid", func(*networkingv1.Ingress) {}, "", ""},
		{"wildcard host", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "*.example.com" }, "", ""},
		{"empty spec", func(i *networkingv1.Ingress) { i.Spec.Rules = nil }, "spec", "either `defaultBackend` or `rules` must be specified"},
		{"ip host", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "1.2.3.4" }, "spec.rules[0].host", "must be a DNS name, not an IP address"},
		{"no pathType", func(i *networkingv1.Ingress) { path(i).PathType = nil }, "spec.rules[0].http.paths[0].pathType", "pathType must be specified"},
		{"relative", func(i *networkingv1.Ingress) { path(i).Path = "foo" }, "spec.rules[0].http.paths[0].path", "must be an absolute path"},
		{"double slash", func(i *networkingv1.Ingress) { path(i).Path = "/a//b" }, "spec.rules[0].http.paths[0].path", "must not contain '//'"},
		{"both backends", func(i *networkingv1.Ingress) {
			path(i).Backend.Resource = &corev1Ref
		}, "spec.rules[0].http.paths[0].backend", "cannot set both resource and service backends"},
		{"no backend", func(i *networkingv1.Ingress) { path(i).Backend = networkingv1.IngressBackend{} }, "spec.rules[0].http.paths[0].backend", "resource or service backend is required"},
		{"no port", func(i *networkingv1.Ingress) { path(i).Backend.Service.Port = networkingv1.ServiceBackendPort{} }, "spec.rules[0].http.paths[0].backend.service.port", "port name or number is required"},
		{"both ports", func(i *networkingv1.Ingress) { path(i).Backend.Service.Port.Name = "http" }, "spec.rules[0].http.paths[0].backend.service.port", "cannot set both port name & port number"},
		{"no paths", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths = nil }, "spec.rules[0].http.paths", ""},
	}
	for _, c := range cases {
		i := valid()
		c.mutate(i)
		errs := Validate(i)
		if c.field == "" {
			if len(errs) != 0 {
				t.Errorf("%s: unexpected %v", c.name, errs)
			}
			continue
		}
		if len(errs) != 1 || errs[0].Field != c.field || errs[0].Detail != c.detail {
			t.Errorf("%s: got %v, want %s: %s", c.name, errs, c.field, c.detail)
		}
	}
}

func TestRow(t *testing.T) {
	i := valid()
	i.Spec.Rules = append(i.Spec.Rules, networkingv1.IngressRule{}, networkingv1.IngressRule{Host: "b.example.com"}, networkingv1.IngressRule{Host: "c.example.com"})
	i.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"foo.example.com"}}}
	i.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.1"}, {Hostname: "lb.example.com"}}
	got := Row(i)[:5]
	want := []any{"web", "<none>", "foo.example.com,*,b.example.com + 1 more...", "10.0.0.1,lb.example.com", "80, 443"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("row %v, want %v", got, want)
	}
}

func TestValidateStatus(t *testing.T) {
	s := &networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "not-an-ip"}}}}
	if errs := ValidateStatus(s); len(errs) != 1 || errs[0].Field != "status.loadBalancer.ingress[0].ip" {
		t.Errorf("got %v", errs)
	}
}

var corev1Ref = corev1.TypedLocalObjectReference{Kind: "StorageBucket", Name: "static"}
