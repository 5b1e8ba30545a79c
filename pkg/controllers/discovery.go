package controllers

import (
	"errors"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// APIResource is one resource found through discovery: what the garbage collector,
// the namespace controller and quota need to list, watch and delete it.
type APIResource struct {
	schema.GroupVersionResource
	Kind       string
	Namespaced bool
	Verbs      []string
}

// Supports reports whether the resource serves every one of verbs.
func (r APIResource) Supports(verbs ...string) bool {
	return discovery.SupportsAllVerbs{Verbs: verbs}.Match(r.GroupVersion().String(), &metav1.APIResource{Verbs: r.Verbs})
}

// PreferredResources lists the top-level resources (no subresources) of every
// group's preferred version that serve all of verbs. When some groups could not be
// discovered (an aggregated API down) it returns what it found together with the
// failed groups, so that callers keep what they had for those.
func PreferredResources(dc discovery.DiscoveryInterface, verbs ...string) ([]APIResource, map[schema.GroupVersion]error, error) {
	lists, err := discovery.ServerPreferredResources(dc)
	var failed map[schema.GroupVersion]error
	if err != nil {
		var gdf *discovery.ErrGroupDiscoveryFailed
		if !errors.As(err, &gdf) || len(lists) == 0 {
			return nil, nil, err
		}
		failed = gdf.Groups
	}
	var out []APIResource
	for _, l := range discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: verbs}, lists) {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			out = append(out, APIResource{GroupVersionResource: gv.WithResource(r.Name), Kind: r.Kind, Namespaced: r.Namespaced, Verbs: r.Verbs})
		}
	}
	return out, failed, nil
}
