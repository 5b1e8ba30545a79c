package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// stsTimeout bounds every wait on a StatefulSet: simulated pods turn Ready within
// a second or two, and OrderedReady creates them one after another.
const stsTimeout = 2 * time.Minute

// TestStatefulSet drives the statefulset controller on a server with simulated
// nodes: ordered creation, claims from volumeClaimTemplates, scale-down from the
// highest ordinal, a partitioned rolling update, and kubectl's rollout verbs.
func TestStatefulSet(t *testing.T) {
	s := schedServer(t)
	ns := schedNamespace(t, s.Client)
	c := s.Client
	ctx := ctxT(t)

	// Record the pod events in the order the API serves them, to check that each
	// pod is created only once its predecessor is Ready.
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	var seen []string
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			switch {
			case ev.Type == watch.Added:
				seen = append(seen, "added "+p.Name)
			case podReady(p):
				seen = append(seen, "ready "+p.Name)
			}
			mu.Unlock()
		}
	}()

	set := newStatefulSet("web", 3)
	if _, err := c.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	st := waitStatefulSet(t, c, ns, "web", func(s *appsv1.StatefulSet) bool {
		return s.Status.ReadyReplicas == 3 && s.Status.AvailableReplicas == 3 && s.Status.ObservedGeneration == s.Generation
	})

	t.Run("OrderedReady", func(t *testing.T) {
		mu.Lock()
		events := append([]string(nil), seen...)
		mu.Unlock()
		index := func(e string) int {
			for i, s := range events {
				if s == e {
					return i
				}
			}
			return -1
		}
		for i := 1; i < 3; i++ {
			added, prevReady := index(fmt.Sprintf("added web-%d", i)), index(fmt.Sprintf("ready web-%d", i-1))
			if added < 0 || prevReady < 0 || added < prevReady {
				t.Fatalf("web-%d was created before web-%d was Ready; pod events in order: %v", i, i-1, events)
			}
		}
		var created []string
		list, _ := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web,reason=SuccessfulCreate"})
		for _, e := range list.Items {
			created = append(created, e.Message)
		}
		for i := 0; i < 3; i++ {
			mustContain(t, strings.Join(created, "\n"), fmt.Sprintf("create Pod web-%d in StatefulSet web successful", i),
				fmt.Sprintf("create Claim www-web-%d Pod web-%d in StatefulSet web success", i, i))
		}
	})

	t.Run("PodIdentity", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			p, err := c.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("web-%d", i), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"app": "web", "statefulset.kubernetes.io/pod-name": p.Name,
				"apps.kubernetes.io/pod-index": fmt.Sprint(i), "controller-revision-hash": st.Status.UpdateRevision}
			for k, v := range want {
				if p.Labels[k] != v {
					t.Errorf("%s label %s = %q, want %q", p.Name, k, p.Labels[k], v)
				}
			}
			if p.Spec.Hostname != p.Name || p.Spec.Subdomain != "web" || p.Spec.NodeName == "" {
				t.Errorf("%s hostname %q subdomain %q node %q", p.Name, p.Spec.Hostname, p.Spec.Subdomain, p.Spec.NodeName)
			}
			if ref := metav1.GetControllerOf(p); ref == nil || ref.Kind != "StatefulSet" || ref.UID != st.UID {
				t.Errorf("%s controller = %+v", p.Name, ref)
			}
		}
		if st.Status.CurrentRevision != st.Status.UpdateRevision || st.Status.CurrentReplicas != 3 || st.Status.UpdatedReplicas != 3 {
			t.Errorf("status = %+v", st.Status)
		}
	})

	t.Run("ClaimsFromTemplates", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			name := fmt.Sprintf("www-web-%d", i)
			pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("claim %s: %v", name, err)
			}
			if pvc.Labels["app"] != "web" || len(pvc.OwnerReferences) != 0 {
				t.Errorf("claim %s labels %v owners %v (Retain: no owner)", name, pvc.Labels, pvc.OwnerReferences)
			}
			p, _ := c.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("web-%d", i), metav1.GetOptions{})
			if !mountsClaim(p, "www", name) {
				t.Errorf("pod %s does not mount %s: %+v", p.Name, name, p.Spec.Volumes)
			}
		}
		// Delete on scale-down and deletion: the set owns its claims, the GC deletes them.
		del := newStatefulSet("db", 1)
		del.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		created, err := c.AppsV1().StatefulSets(ns).Create(ctx, del, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, stsTimeout, func() error {
			pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "www-db-0", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(pvc.OwnerReferences) != 1 || pvc.OwnerReferences[0].UID != created.UID || !ptr.Deref(pvc.OwnerReferences[0].Controller, false) {
				return fmt.Errorf("owners %+v", pvc.OwnerReferences)
			}
			return nil
		})
		if err := c.AppsV1().StatefulSets(ns).Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, stsTimeout, func() error {
			_, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "www-db-0", metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("claim www-db-0 still there (%v)", err)
			}
			return nil
		})
	})

	t.Run("RolloutStatus", func(t *testing.T) {
		s.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
			out := k.Run("rollout", "status", "statefulset/web", "-n", ns, "--timeout=2m")
			mustContain(t, out, "partitioned roll out complete: 3 new pods have been updated")
		})
	})

	t.Run("ScaleDownHighestOrdinal", func(t *testing.T) {
		s.Kubectl(t, "scale", "statefulset/web", "-n", ns, "--replicas=2")
		waitStatefulSet(t, c, ns, "web", func(s *appsv1.StatefulSet) bool {
			return s.Status.Replicas == 2 && s.Status.ReadyReplicas == 2 && s.Status.ObservedGeneration == s.Generation
		})
		eventually(t, stsTimeout, func() error { return wantPods(c, ns, "web-0", "web-1") })
		waitEvent(t, c, ns, "StatefulSet", "web", "SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful")
		if _, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "www-web-2", metav1.GetOptions{}); err != nil {
			t.Errorf("Retain keeps the claim of a scaled-down pod: %v", err)
		}
	})

	t.Run("PartitionedRollingUpdate", func(t *testing.T) {
		old := st.Status.UpdateRevision
		patch := `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":1}},"template":{"spec":{"containers":[{"name":"c","image":"pause:2"}]}}}}`
		if _, err := c.AppsV1().StatefulSets(ns).Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		got := waitStatefulSet(t, c, ns, "web", func(s *appsv1.StatefulSet) bool {
			return s.Status.UpdateRevision != old && s.Status.UpdatedReplicas == 1 && s.Status.ReadyReplicas == 2 && s.Status.ObservedGeneration == s.Generation
		})
		if got.Status.CurrentRevision != old || got.Status.CurrentReplicas != 1 {
			t.Errorf("status = %+v, want web-0 left at %s", got.Status, old)
		}
		for i, want := range []string{old, got.Status.UpdateRevision} {
			p, _ := c.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("web-%d", i), metav1.GetOptions{})
			if p.Labels["controller-revision-hash"] != want {
				t.Errorf("web-%d revision %s, want %s", i, p.Labels["controller-revision-hash"], want)
			}
		}
		s.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
			mustContain(t, k.Run("rollout", "status", "statefulset/web", "-n", ns, "--timeout=2m"),
				"partitioned roll out complete: 1 new pods have been updated")
			out := k.Run("rollout", "history", "statefulset/web", "-n", ns)
			if !regexpLine(out, "1", "") || !regexpLine(out, "2", "") {
				t.Errorf("rollout history:\n%s", out)
			}
		})
		// Partition 0 finishes the update; the update revision becomes current.
		if _, err := c.AppsV1().StatefulSets(ns).Patch(ctx, "web", types.StrategicMergePatchType,
			[]byte(`{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitStatefulSet(t, c, ns, "web", func(s *appsv1.StatefulSet) bool {
			return s.Status.CurrentRevision == s.Status.UpdateRevision && s.Status.UpdatedReplicas == 2 && s.Status.ReadyReplicas == 2
		})
		waitImages(t, c, ns, "pause:2", "web-0", "web-1")
	})

	t.Run("RolloutUndo", func(t *testing.T) { testStatefulSetUndo(t, s, ns) })
}

// testStatefulSetUndo: each kubectl's `rollout undo` restores the previous
// template from its ControllerRevision, and the pods follow.
func testStatefulSetUndo(t *testing.T, s *framework.Server, ns string) {
	c, ctx := s.Client, ctxT(t)
	s.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		before, _ := c.AppsV1().StatefulSets(ns).Get(ctx, "web", metav1.GetOptions{})
		want := "pause"
		if before.Spec.Template.Spec.Containers[0].Image == "pause" {
			want = "pause:2"
		}
		mustContain(t, k.Run("rollout", "undo", "statefulset/web", "-n", ns), "rolled back")
		mustContain(t, k.Run("rollout", "status", "statefulset/web", "-n", ns, "--timeout=2m"), "roll out complete")
		got := waitStatefulSet(t, c, ns, "web", func(s *appsv1.StatefulSet) bool {
			return s.Spec.Template.Spec.Containers[0].Image == want && s.Status.CurrentRevision == s.Status.UpdateRevision &&
				s.Status.UpdatedReplicas == 2 && s.Status.ReadyReplicas == 2
		})
		waitImages(t, c, ns, want, "web-0", "web-1")
		revs, _ := c.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if len(revs.Items) != 2 {
			t.Errorf("%d revisions after undo, want 2 (undo renumbers the earlier one)", len(revs.Items))
		}
		for _, r := range revs.Items {
			if r.Name == got.Status.UpdateRevision && r.Revision < 3 {
				t.Errorf("revision %s number %d: undo should make it the newest", r.Name, r.Revision)
			}
		}
	})
}

func newStatefulSet(name string, replicas int32) *appsv1.StatefulSet {
	lbl := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "pause"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func waitStatefulSet(t *testing.T, c kubernetes.Interface, ns, name string, ok func(*appsv1.StatefulSet) bool) *appsv1.StatefulSet {
	t.Helper()
	var got *appsv1.StatefulSet
	eventually(t, stsTimeout, func() error {
		s, err := c.AppsV1().StatefulSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !ok(s) {
			return fmt.Errorf("statefulset %s: generation %d status %+v", name, s.Generation, s.Status)
		}
		got = s
		return nil
	})
	return got
}

func mountsClaim(p *corev1.Pod, volume, claim string) bool {
	for _, v := range p.Spec.Volumes {
		if v.Name == volume && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
			return true
		}
	}
	return false
}

// wantPods reports an error unless exactly the named pods exist and none is being deleted.
func wantPods(c kubernetes.Interface, ns string, names ...string) error {
	list, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err
	}
	var got []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			got = append(got, p.Name)
		}
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		return fmt.Errorf("pods %v, want %v", got, names)
	}
	return nil
}

// waitImages waits until each named pod exists, runs image and is Ready.
func waitImages(t *testing.T, c kubernetes.Interface, ns, image string, names ...string) {
	t.Helper()
	eventually(t, stsTimeout, func() error {
		for _, n := range names {
			p, err := c.CoreV1().Pods(ns).Get(context.Background(), n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Spec.Containers[0].Image != image || !podReady(p) || p.DeletionTimestamp != nil {
				return fmt.Errorf("pod %s image %s ready %v", n, p.Spec.Containers[0].Image, podReady(p))
			}
		}
		return nil
	})
}
