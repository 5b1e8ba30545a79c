package apiserver

import (
	"net"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/skiff-k8s/skiff/pkg/apiserver/scheme"
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

// TestDefinitionsCoverServedTypes: every served kind has an OpenAPI definition and
// every definition's dependencies are generated too (hack/update-openapi.sh lists
// the packages; a missing one fails the server at start).
func TestDefinitionsCoverServedTypes(t *testing.T) {
	defs := sharedDefinitions()(func(path string) spec.Ref { return spec.MustCreateRef("#/definitions/" + path) })
	for _, gv := range append(append([]schema.GroupVersion{}, scheme.GroupVersions...), scheme.ScaleGroupVersion) {
		for kind, typ := range scheme.External.KnownTypes(gv) {
			if !strings.HasPrefix(typ.PkgPath(), "k8s.io/api/") {
				continue // meta types registered in every group
			}
			named, ok := reflect.New(typ).Interface().(interface{ OpenAPIModelName() string })
			if !ok {
				continue // option types (PodLogOptions, …) are not schemas
			}
			name := named.OpenAPIModelName()
			if _, ok := defs[name]; !ok {
				t.Errorf("%s %s: no definition %s", gv, kind, name)
			}
		}
	}
	for name, d := range defs {
		for _, dep := range d.Dependencies {
			if _, ok := defs[dep]; !ok {
				t.Errorf("%s depends on %s, which is not generated", name, dep)
			}
		}
	}
}
