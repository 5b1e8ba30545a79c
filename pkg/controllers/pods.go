package controllers

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/kubectl/pkg/util/podutils"
)

// IsPodActive reports whether a pod still counts: not finished and not being deleted.
func IsPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// FilterActivePods keeps the active pods.
func FilterActivePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// IsPodReady reports the pod's Ready condition.
func IsPodReady(p *corev1.Pod) bool { return podutils.IsPodReady(p) }

// IsPodAvailable reports whether the pod has been Ready for minReadySeconds at now.
func IsPodAvailable(p *corev1.Pod, minReadySeconds int32, now metav1.Time) bool {
	return podutils.IsPodAvailable(p, minReadySeconds, now)
}

// SortPodsForDeletion orders pods so that the first are the best to delete when
// scaling down, as upstream ranks them: unassigned before assigned, pending before
// unknown before running, not ready before ready, ready for less time first, more
// restarts first, newer first.
func SortPodsForDeletion(pods []*corev1.Pod) {
	sort.Sort(podutils.ActivePods(pods))
}

// PodControl creates and deletes pods for a controller, recording the events upstream
// records (SuccessfulCreate, FailedCreate, SuccessfulDelete, FailedDelete) on the owner.
type PodControl struct {
	Client   kubernetes.Interface
	Recorder record.EventRecorder
}

// PodFromTemplate builds the pod a controller creates from its template: the
// template's labels, annotations, finalizers and spec, named after the owner.
func PodFromTemplate(template *corev1.PodTemplateSpec, owner metav1.Object, ref *metav1.OwnerReference) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Labels:       copyMap(template.Labels),
			Annotations:  copyMap(template.Annotations),
			GenerateName: owner.GetName() + "-",
			Finalizers:   append([]string(nil), template.Finalizers...),
			Namespace:    owner.GetNamespace(),
		},
	}
	if ref != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	pod.Spec = *template.Spec.DeepCopy()
	return pod
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// CreatePod creates pod on behalf of owner (a runtime.Object for the events).
func (pc PodControl) CreatePod(ctx context.Context, pod *corev1.Pod, owner OwnerObject) (*corev1.Pod, error) {
	if len(labels.Set(pod.Labels)) == 0 {
		return nil, fmt.Errorf("unable to create pods, no labels")
	}
	created, err := pc.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			pc.Recorder.Eventf(owner, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return nil, err
	}
	pc.Recorder.Eventf(owner, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return created, nil
}

// DeletePod deletes a pod of owner; a pod already gone is not an error.
func (pc PodControl) DeletePod(ctx context.Context, namespace, name string, owner OwnerObject) error {
	err := pc.Client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		pc.Recorder.Eventf(owner, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("unable to delete pods: %w", err)
	}
	pc.Recorder.Eventf(owner, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", name)
	return nil
}
