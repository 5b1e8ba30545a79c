package pod

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSubresourcePrepareKeepsOnlyItsPart(t *testing.T) {
	old := minimalPod()
	old.ResourceVersion, old.Generation = "5", 1
	old.Labels = map[string]string{"app": "x"}
	old.Status.Phase = corev1.PodRunning
	p := old.DeepCopy()
	p.ResourceVersion = "4" // the request's precondition
	p.Labels = map[string]string{"app": "changed"}
	p.Status.Phase = corev1.PodFailed
	p.Spec.NodeName = "elsewhere"
	p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
	ephemeralStrategy{}.PrepareForUpdate(context.Background(), p, old)
	if p.ResourceVersion != "4" || p.Labels["app"] != "x" || p.Status.Phase != corev1.PodRunning || p.Spec.NodeName != "" ||
		len(p.Spec.EphemeralContainers) != 1 || p.Generation != 2 {
		t.Errorf("ephemeralcontainers: rv %s labels %v phase %s node %q ephemeral %d generation %d",
			p.ResourceVersion, p.Labels, p.Status.Phase, p.Spec.NodeName, len(p.Spec.EphemeralContainers), p.Generation)
	}
	if old.ResourceVersion != "5" {
		t.Errorf("old changed: rv %s", old.ResourceVersion)
	}
}
