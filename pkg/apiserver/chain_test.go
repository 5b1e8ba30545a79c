package apiserver

import (
	"net"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func TestGroupVersionOfPath(t *testing.T) {
	for p, want := range map[string]*schema.GroupVersion{
		"/api/v1":                 {Version: "v1"},
		"/apis/apps/v1":           {Group: "apps", Version: "v1"},
		"/apis/apps":              nil,
		"/apis/apps/v1/deploy":    nil,
		"/healthz":                nil,
		"/apis/":                  nil,
		"/apis/storage.k8s.io/v1": {Group: "storage.k8s.io", Version: "v1"},
	} {
		gv, ok := groupVersionOfPath(p)
		if (want == nil) == ok || (ok && gv != *want) {
			t.Errorf("groupVersionOfPath(%q) = %v, %v; want %v", p, gv, ok, want)
		}
	}
}

func TestFirstServiceIP(t *testing.T) {
	for cidr, want := range map[string]string{"10.43.0.0/16": "10.43.0.1", "10.96.0.0/12": "10.96.0.1", "192.168.255.0/24": "192.168.255.1"} {
		_, n, _ := net.ParseCIDR(cidr)
		if got := FirstServiceIP(n).String(); got != want {
			t.Errorf("FirstServiceIP(%s) = %s, want %s", cidr, got, want)
		}
	}
}

func TestPruneDefinitionsKeepsServedAndDependencies(t *testing.T) {
	defs := servedDefinitions()(func(path string) spec.Ref { return spec.MustCreateRef("#/definitions/" + path) })
	for _, must := range []string{"io.k8s.api.core.v1.Pod", "io.k8s.api.apps.v1.Deployment", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
		"io.k8s.api.autoscaling.v1.Scale", "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"} {
		if _, ok := defs[must]; !ok {
			t.Errorf("pruned definitions lack %s", must)
		}
	}
	if _, ok := defs["io.k8s.api.apps.v1beta2.Deployment"]; ok {
		t.Error("unserved apps/v1beta2 Deployment kept")
	}
	for name, d := range defs {
		for _, dep := range d.Dependencies {
			if _, ok := defs[dep]; !ok {
				t.Errorf("%s depends on %s, which was pruned", name, dep)
			}
		}
	}
}
