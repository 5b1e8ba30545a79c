// Package defaulttolerationseconds is the DefaultTolerationSeconds admission plugin, as
// kube-apiserver's: every pod that does not already tolerate the NoExecute taints
// node.kubernetes.io/not-ready and node.kubernetes.io/unreachable gets a toleration of
// each for 300 seconds, so that the taint eviction controller moves it off a failed
// node after five minutes rather than at once.
//
//	plugins := admission.NewPlugins()
//	defaulttolerationseconds.Register(plugins)
package defaulttolerationseconds

import (
	"context"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/admission"
)

const (
	// PluginName is the name kube-apiserver gives this plugin.
	PluginName = "DefaultTolerationSeconds"
	// DefaultTolerationSeconds is upstream's --default-not-ready-toleration-seconds and
	// --default-unreachable-toleration-seconds.
	DefaultTolerationSeconds int64 = 300
)

// Register registers the plugin.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) { return New(), nil })
}

// Plugin is the DefaultTolerationSeconds admission plugin.
type Plugin struct{ *admission.Handler }

var _ admission.MutationInterface = &Plugin{}

// New returns the plugin.
func New() *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update)}
}

// Admit adds the missing default tolerations to a pod being created or updated.
func (p *Plugin) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != corev1.Resource("pods") || a.GetSubresource() != "" {
		return nil
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest(fmt.Sprintf("expected *api.Pod but got %T", a.GetObject()))
	}
	notReady, unreachable := false, false
	for _, t := range pod.Spec.Tolerations {
		// An empty key tolerates every taint, an empty effect every effect.
		noExecute := t.Effect == corev1.TaintEffectNoExecute || t.Effect == ""
		notReady = notReady || noExecute && (t.Key == corev1.TaintNodeNotReady || t.Key == "")
		unreachable = unreachable || noExecute && (t.Key == corev1.TaintNodeUnreachable || t.Key == "")
	}
	if !notReady {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, toleration(corev1.TaintNodeNotReady))
	}
	if !unreachable {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, toleration(corev1.TaintNodeUnreachable))
	}
	return nil
}

func toleration(key string) corev1.Toleration {
	seconds := DefaultTolerationSeconds
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds}
}
