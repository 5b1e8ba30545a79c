package apiserver

import (
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"

	"github.com/skiff-k8s/skiff/pkg/apiserver/scheme"
	generatedopenapi "github.com/skiff-k8s/skiff/pkg/generated/openapi"
)

// servedDefinitions wraps the generated definitions for the whole server chain: they
// are built once (the three chained servers would each build their own) and keep
// only the served versions of k8s.io/api and what those reference, not the
// alpha and beta versions nothing serves. The three servers share one definition
// namer, so the references the first call resolves are the same for all.
func servedDefinitions() common.GetOpenAPIDefinitions {
	var once sync.Once
	var defs map[string]common.OpenAPIDefinition
	return func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		once.Do(func() { defs = pruneDefinitions(generatedopenapi.GetOpenAPIDefinitions(ref), servedModelPrefixes()) })
		return defs
	}
}

// servedModelPrefixes are the OpenAPI model-name prefixes of the served k8s.io/api
// versions ("io.k8s.api.apps.v1.", …), read off the Go package of a type of each.
func servedModelPrefixes() []string {
	var out []string
	for _, gv := range append(append([]schema.GroupVersion{}, scheme.GroupVersions...), scheme.ScaleGroupVersion) {
		for _, t := range scheme.External.KnownTypes(gv) {
			if p := t.PkgPath(); strings.HasPrefix(p, "k8s.io/api/") {
				out = append(out, "io.k8s.api."+strings.ReplaceAll(strings.TrimPrefix(p, "k8s.io/api/"), "/", ".")+".")
				break
			}
		}
	}
	for _, t := range scheme.External.AllKnownTypes() { // versions registered beside (autoscaling/v1)
		if p := t.PkgPath(); strings.HasPrefix(p, "k8s.io/api/") {
			out = append(out, "io.k8s.api."+strings.ReplaceAll(strings.TrimPrefix(p, "k8s.io/api/"), "/", ".")+".")
		}
	}
	return out
}

// pruneDefinitions keeps every definition outside k8s.io/api, those of the served
// prefixes, and everything they depend on.
func pruneDefinitions(all map[string]common.OpenAPIDefinition, served []string) map[string]common.OpenAPIDefinition {
	keep := make(map[string]common.OpenAPIDefinition, len(all)/2)
	var queue []string
	for name := range all {
		if !strings.HasPrefix(name, "io.k8s.api.") || hasAnyPrefix(name, served) {
			queue = append(queue, name)
		}
	}
	for len(queue) > 0 {
		name := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if _, done := keep[name]; done {
			continue
		}
		def, ok := all[name]
		if !ok {
			continue
		}
		keep[name] = def
		queue = append(queue, def.Dependencies...)
	}
	return keep
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
