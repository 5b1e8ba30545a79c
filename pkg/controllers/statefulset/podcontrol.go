package statefulset

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
)

// podControl creates, updates and deletes a set's pods and creates their claims,
// recording upstream's events ("create Pod web-0 in StatefulSet web successful").
// controllers.PodControl does not fit: stateful pods have fixed names, claims come
// first, and the event messages differ.
type podControl struct {
	client    kubernetes.Interface
	podLister corelisters.PodLister
	pvcLister corelisters.PersistentVolumeClaimLister
	recorder  record.EventRecorder
}

// createPod creates pod's claims, then pod, then sets the claims' owners.
func (pc *podControl) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := pc.createClaims(ctx, set, pod); err != nil {
		pc.recordPodEvent("create", set, pod, err)
		return err
	}
	_, err := pc.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return err
	}
	if err == nil {
		if err := pc.updateClaimsForRetention(ctx, set, pod); err != nil {
			pc.recordPodEvent("update", set, pod, err)
			return err
		}
	}
	pc.recordPodEvent("create", set, pod, err)
	return err
}

// updatePod restores pod's identity, storage and claim ownership when they drifted.
func (pc *podControl) updatePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	attempted := false
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		consistent := true
		if !identityMatches(set, pod) {
			updateIdentity(set, pod)
			consistent = false
		}
		if !storageMatches(set, pod) {
			updateStorage(set, pod)
			consistent = false
			if err := pc.createClaims(ctx, set, pod); err != nil {
				pc.recordPodEvent("update", set, pod, err)
				return err
			}
		}
		if match, err := pc.claimsMatchRetention(set, pod); err != nil {
			pc.recordPodEvent("update", set, pod, err)
			return err
		} else if !match {
			if err := pc.updateClaimsForRetention(ctx, set, pod); err != nil {
				pc.recordPodEvent("update", set, pod, err)
				return err
			}
		}
		if consistent {
			return nil
		}
		attempted = true
		_, err := pc.client.CoreV1().Pods(pod.Namespace).Update(ctx, pod, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if fresh, getErr := pc.podLister.Pods(set.Namespace).Get(pod.Name); getErr == nil {
			pod = fresh.DeepCopy()
		}
		return err
	})
	if attempted {
		pc.recordPodEvent("update", set, pod, err)
	}
	return err
}

func (pc *podControl) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	err := pc.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	pc.recordPodEvent("delete", set, pod, err)
	return err
}

// claimsMatchRetention reports whether pod's existing claims carry set's policy.
func (pc *podControl) claimsMatchRetention(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	for _, want := range claimsFor(set, pod) {
		claim, err := pc.pvcLister.PersistentVolumeClaims(set.Namespace).Get(want.Name)
		switch {
		case apierrors.IsNotFound(err):
			// picked up on a later sync
		case err != nil:
			return false, fmt.Errorf("could not retrieve claim %s for %s when checking PVC deletion policy: %w", want.Name, pod.Name, err)
		case !isClaimOwnerUpToDate(claim, set, pod):
			return false, nil
		}
	}
	return true, nil
}

// updateClaimsForRetention rewrites the ownerReferences of pod's claims for set's policy.
func (pc *podControl) updateClaimsForRetention(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	for _, want := range claimsFor(set, pod) {
		claim, err := pc.pvcLister.PersistentVolumeClaims(set.Namespace).Get(want.Name)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return fmt.Errorf("could not retrieve claim %s for %s when checking PVC deletion policy: %w", want.Name, pod.Name, err)
		}
		if hasUnexpectedController(claim, set, pod) {
			pc.recorder.Event(set, corev1.EventTypeWarning, "ConflictingController", fmt.Sprintf(
				"PersistentVolumeClaim %s has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim", want.Name))
		}
		if isClaimOwnerUpToDate(claim, set, pod) {
			continue
		}
		claim = claim.DeepCopy()
		updateClaimOwnerRefs(claim, set, pod)
		if _, err := pc.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("could not update claim %s for delete policy ownerRefs: %w", want.Name, err)
		}
	}
	return nil
}

// claimIsStale reports whether, under a Delete-on-scale-down policy, one of pod's
// claims still belongs to an earlier pod of the same name: the garbage collector
// is about to delete it, so the new pod must wait rather than mount it.
func (pc *podControl) claimIsStale(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	if retentionPolicy(set).WhenScaled == retain {
		return false, nil
	}
	for _, want := range claimsFor(set, pod) {
		claim, err := pc.pvcLister.PersistentVolumeClaims(want.Namespace).Get(want.Name)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return false, err
		case hasStaleOwnerRef(claim, pod, podKind):
			return true, nil
		}
	}
	return false, nil
}

// createMissingClaims creates pod's missing claims and sets their owners.
func (pc *podControl) createMissingClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := pc.createClaims(ctx, set, pod); err != nil {
		return err
	}
	if err := pc.updateClaimsForRetention(ctx, set, pod); err != nil {
		pc.recordPodEvent("update", set, pod, err)
		return err
	}
	return nil
}

// createClaims creates the claims of pod that do not exist yet.
func (pc *podControl) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	var errs []error
	for _, claim := range claimsFor(set, pod) {
		existing, err := pc.pvcLister.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
		switch {
		case apierrors.IsNotFound(err):
			_, err := pc.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Create(ctx, &claim, metav1.CreateOptions{})
			if err != nil {
				errs = append(errs, fmt.Errorf("failed to create PVC %s: %w", claim.Name, err))
			}
			if err == nil || !apierrors.IsAlreadyExists(err) {
				pc.recordClaimEvent("create", set, pod, &claim, err)
			}
		case err != nil:
			errs = append(errs, fmt.Errorf("failed to retrieve PVC %s: %w", claim.Name, err))
			pc.recordClaimEvent("create", set, pod, &claim, err)
		case existing.DeletionTimestamp != nil:
			errs = append(errs, fmt.Errorf("pvc %s is being deleted", claim.Name))
		}
	}
	return errors.Join(errs...)
}

func (pc *podControl) recordPodEvent(verb string, set *appsv1.StatefulSet, pod *corev1.Pod, err error) {
	if err == nil {
		pc.recorder.Event(set, corev1.EventTypeNormal, "Successful"+title(verb),
			fmt.Sprintf("%s Pod %s in StatefulSet %s successful", verb, pod.Name, set.Name))
		return
	}
	pc.recorder.Event(set, corev1.EventTypeWarning, "Failed"+title(verb),
		fmt.Sprintf("%s Pod %s in StatefulSet %s failed error: %s", verb, pod.Name, set.Name, err))
}

func (pc *podControl) recordClaimEvent(verb string, set *appsv1.StatefulSet, pod *corev1.Pod, claim *corev1.PersistentVolumeClaim, err error) {
	if err == nil {
		pc.recorder.Event(set, corev1.EventTypeNormal, "Successful"+title(verb),
			fmt.Sprintf("%s Claim %s Pod %s in StatefulSet %s success", verb, claim.Name, pod.Name, set.Name))
		return
	}
	pc.recorder.Event(set, corev1.EventTypeWarning, "Failed"+title(verb),
		fmt.Sprintf("%s Claim %s for Pod %s in StatefulSet %s failed error: %s", verb, claim.Name, pod.Name, set.Name, err))
}

func title(verb string) string { return strings.ToUpper(verb[:1]) + verb[1:] }
