package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// pdbStatus is the part of a PDB's status the tests compare.
type pdbStatus struct {
	healthy, desired, expected, allowed int32
	reason                              string
}

func waitPDB(t *testing.T, c kubernetes.Interface, ns, name string, want pdbStatus) *policyv1.PodDisruptionBudget {
	t.Helper()
	var out *policyv1.PodDisruptionBudget
	eventually(t, 90*time.Second, func() error {
		p, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s := p.Status
		cond := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition)
		got := pdbStatus{s.CurrentHealthy, s.DesiredHealthy, s.ExpectedPods, s.DisruptionsAllowed, ""}
		if cond != nil {
			got.reason = cond.Reason
		}
		if got != want || s.ObservedGeneration != p.Generation {
			return fmt.Errorf("status %+v (observedGeneration %d, generation %d), want %+v", got, s.ObservedGeneration, p.Generation, want)
		}
		out = p
		return nil
	})
	return out
}

func pdbPod(name, node string, labels map[string]string, owner *metav1.OwnerReference) *corev1.Pod {
	p := testPod(name)
	p.Labels = labels
	p.Spec.NodeName = node
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

func waitPodsReady(t *testing.T, c kubernetes.Interface, ns string, n int) {
	t.Helper()
	eventually(t, 90*time.Second, func() error {
		pods, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for i := range pods.Items {
			if podReady(&pods.Items[i]) {
				ready++
			}
		}
		if ready != n {
			return fmt.Errorf("%d of %d pods ready", ready, n)
		}
		return nil
	})
}

// TestDisruptionBudget: a PDB's status follows the healthy pods on simulated nodes;
// eviction is refused with 429 while disruptionsAllowed is 0 and allowed when it is
// not; a percentage is resolved through the pods' controller's scale.
func TestDisruptionBudget(t *testing.T) {
	s := framework.Start(t, "--sim-nodes=3")
	c := s.Client
	ctx := ctxT(t)
	ns := "pdb"
	eventually(t, time.Minute, func() error {
		_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		return err
	})
	// Pods need the namespace's default ServiceAccount, which a controller creates.
	eventually(t, time.Minute, func() error {
		_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	web := map[string]string{"app": "web"}
	for i := 0; i < 3; i++ {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, pdbPod(fmt.Sprintf("web-%d", i), fmt.Sprintf("skiff-sim-%d", i), web, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitPodsReady(t, c, ns, 3)
	three := intstr.FromInt32(3)
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &three, Selector: &metav1.LabelSelector{MatchLabels: web}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPDB(t, c, ns, "web", pdbStatus{3, 3, 3, 0, policyv1.InsufficientPodsReason})

	evict := func(name string) error {
		return c.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}
	if err := evict("web-0"); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("eviction with disruptionsAllowed 0: want 429, got %v", err)
	}
	if out, err := s.KubectlErr("", "", "drain", "skiff-sim-0", "--pod-selector=app=web", "--timeout=3s"); err == nil {
		t.Fatalf("kubectl drain should be refused by the budget:\n%s", out)
	}

	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"minAvailable":2}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPDB(t, c, ns, "web", pdbStatus{3, 2, 3, 1, policyv1.SufficientPodsReason})
	if err := evict("web-1"); err != nil {
		t.Fatalf("eviction with disruptionsAllowed 1: %v", err)
	}
	p := waitPDB(t, c, ns, "web", pdbStatus{2, 2, 2, 0, policyv1.InsufficientPodsReason})
	if len(p.Status.DisruptedPods) != 0 {
		t.Fatalf("disruptedPods not cleaned up once the pod went: %v", p.Status.DisruptedPods)
	}
	if err := evict("web-2"); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("second eviction: want 429, got %v", err)
	}

	// maxUnavailable 34% of a ReplicaSet of 3: ceil(1.02) = 2 may be unavailable.
	three32 := int32(3)
	db := map[string]string{"app": "db"}
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: appsv1.ReplicaSetSpec{
		Replicas: &three32, Selector: &metav1.LabelSelector{MatchLabels: db},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: db}, Spec: testPod("x").Spec}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t32 := true
	ref := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &t32}
	for i := 0; i < 3; i++ {
		// The replicaset controller, when it runs, may have created some first.
		_, err := c.CoreV1().Pods(ns).Create(ctx, pdbPod(fmt.Sprintf("db-%d", i), fmt.Sprintf("skiff-sim-%d", i), db, ref), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	pct := intstr.FromString("34%")
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &pct, Selector: &metav1.LabelSelector{MatchLabels: db}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, func() error {
		p, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := p.Status
		if st.ExpectedPods != 3 || st.DesiredHealthy != 1 || st.DisruptionsAllowed != st.CurrentHealthy-1 || st.CurrentHealthy < 2 {
			return fmt.Errorf("db status %+v", st)
		}
		return nil
	})
}
