// Package scheduling assembles the storages of the scheduling.k8s.io/v1 group version,
// and creates the built-in priority classes at start (EnsureBuiltin).
package scheduling

import (
	"context"
	"fmt"

	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/pkg/registry/scheduling/priorityclass"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	priorityclass.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds scheduling.k8s.io/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(schedulingv1.SchemeGroupVersion, opts, resources...)
}

// EnsureBuiltin creates system-node-critical and system-cluster-critical when they are
// missing, as kube-apiserver's scheduling post-start hook does. Existing classes are
// left as they are.
func EnsureBuiltin(ctx context.Context, client kubernetes.Interface) error {
	for _, pc := range priorityclass.SystemPriorityClasses() {
		_, err := client.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create priority class %s: %w", pc.Name, err)
		}
	}
	return nil
}
