package openapi

// The packages openapi-gen reads must be in the module graph.
import (
	_ "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	_ "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)
