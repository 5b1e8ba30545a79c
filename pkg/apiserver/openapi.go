package apiserver

import (
	"sync"

	"k8s.io/kube-openapi/pkg/common"

	generatedopenapi "github.com/skiff-k8s/skiff/pkg/generated/openapi"
)

// sharedDefinitions builds the generated definitions once for the whole server chain:
// the three chained servers would each build their own. They share one definition
// namer, so the references the first call resolves are the same for all.
func sharedDefinitions() common.GetOpenAPIDefinitions {
	var once sync.Once
	var defs map[string]common.OpenAPIDefinition
	return func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		once.Do(func() { defs = generatedopenapi.GetOpenAPIDefinitions(ref) })
		return defs
	}
}
