package replicaset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

type fixture struct {
	client *fake.Clientset
	rc     *controller
	ctx    context.Context
}

func newFixture(t *testing.T, rcKind bool, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	// The fake tracker does not generate names.
	var seq atomic.Int32
	client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if p := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod); p.Name == "" {
			p.Name = fmt.Sprintf("%s%d", p.GenerateName, seq.Add(1))
		}
		return false, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0), Broadcaster: record.NewBroadcaster()}
	t.Cleanup(c.Broadcaster.Shutdown)
	k := replicaSetKind(c)
	if rcKind {
		k = replicationControllerKind(c)
	}
	rc, err := newController(c, k)
	if err != nil {
		t.Fatal(err)
	}
	c.Informers.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), k.informer.HasSynced, rc.podsSynced) {
		t.Fatal("caches did not sync")
	}
	return &fixture{client: client, rc: rc, ctx: ctx}
}

func (f *fixture) actions(verb, resource string) []clienttesting.Action {
	var out []clienttesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			out = append(out, a)
		}
	}
	return out
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	l := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid"), Generation: 1},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
	}
}

func ownedPod(name string, rs *appsv1.ReplicaSet, ready bool, created time.Time) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name),
		Labels: rs.Spec.Template.Labels, CreationTimestamp: metav1.NewTime(created)},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	if rs != nil {
		p.OwnerReferences = []metav1.OwnerReference{*controllers.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}
	}
	if ready {
		p.Spec.NodeName = "n1"
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(created)}}
	}
	return p
}

// A watch that never shows the created pods must not make the controller create
// them again: expectations hold it back.
func TestNoOvercreationWhileWatchLags(t *testing.T) {
	rs := newRS("web", 5)
	f := newFixture(t, false, rs)
	var n atomic.Int32
	f.client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
		p.Name = fmt.Sprintf("%s%d", p.GenerateName, n.Add(1))
		return true, p, nil // created, but never shown to the informer
	})
	for i := 0; i < 3; i++ {
		if err := f.rc.sync(f.ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Load(); got != 5 {
		t.Fatalf("%d pods created over three syncs, want 5", got)
	}
	if f.rc.expectations.Satisfied("ns/web") {
		t.Error("expectations satisfied with no creation observed")
	}
	created := f.actions("create", "pods")[0].(clienttesting.CreateAction).GetObject().(*corev1.Pod)
	ref := metav1.GetControllerOf(created)
	if ref == nil || ref.Kind != "ReplicaSet" || ref.UID != rs.UID || created.GenerateName != "web-" || created.Labels["app"] != "web" {
		t.Errorf("created pod %+v", created.ObjectMeta)
	}
}

// A create that always fails (a quota) is tried once, not replicas times, and
// reported in the ReplicaFailure condition.
func TestCreateFailureStopsSlowStartAndSetsReplicaFailure(t *testing.T) {
	f := newFixture(t, false, newRS("web", 10))
	quota := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "web-x", errors.New("exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"))
	f.client.PrependReactor("create", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, quota
	})
	if err := f.rc.sync(f.ctx, "ns/web"); err == nil {
		t.Fatal("sync succeeded")
	}
	if got := len(f.actions("create", "pods")); got != 1 {
		t.Errorf("%d creates attempted, want 1 (the first slow-start batch)", got)
	}
	if !f.rc.expectations.Satisfied("ns/web") {
		t.Error("failed creations still expected")
	}
	updates := f.actions("update", "replicasets")
	if len(updates) != 1 {
		t.Fatalf("%d status updates", len(updates))
	}
	st := updates[0].(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet).Status
	if len(st.Conditions) != 1 || st.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure || st.Conditions[0].Reason != "FailedCreate" ||
		st.Conditions[0].Status != corev1.ConditionTrue || !strings.Contains(st.Conditions[0].Message, "exceeded quota") {
		t.Errorf("conditions %+v", st.Conditions)
	}
	if st.ObservedGeneration != 1 || st.Replicas != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestSlowStartBatch(t *testing.T) {
	var calls atomic.Int32
	ok, err := slowStartBatch(10, 1, func() error { calls.Add(1); return nil })
	if ok != 10 || err != nil || calls.Load() != 10 {
		t.Errorf("10 calls: %d ok, %v, %d calls", ok, err, calls.Load())
	}
	// Batches 1, 2, 4: the fourth call fails, so the batch of 4 is the last.
	calls.Store(0)
	ok, err = slowStartBatch(100, 1, func() error {
		if calls.Add(1) == 4 {
			return errors.New("boom")
		}
		return nil
	})
	if err == nil || calls.Load() != 7 || ok != 6 {
		t.Errorf("failing batch: %d ok, %v, %d calls; want 6 ok of 7 calls", ok, err, calls.Load())
	}
}

// Scaling down deletes the pod that is worst off (pending before running).
func TestScaleDownDeletesPendingFirst(t *testing.T) {
	rs := newRS("web", 1)
	now := time.Now()
	running := ownedPod("running", rs, true, now.Add(-time.Hour))
	pending := ownedPod("pending", rs, false, now.Add(-2*time.Hour))
	f := newFixture(t, false, rs, running, pending)
	if err := f.rc.sync(f.ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	dels := f.actions("delete", "pods")
	if len(dels) != 1 || dels[0].(clienttesting.DeleteAction).GetName() != "pending" {
		t.Fatalf("deletes %v", dels)
	}
	// Seen twice (terminating, then gone), the deletion counts once.
	pods := f.rc.podHandlers()
	pods.Delete(pending)
	pods.Delete(pending)
	if !f.rc.expectations.Satisfied("ns/web") {
		t.Error("deletion not observed")
	}
}

// Orphans that match are adopted; owned pods that no longer match are released.
func TestAdoptAndRelease(t *testing.T) {
	rs := newRS("web", 2)
	orphan := ownedPod("orphan", rs, true, time.Now())
	orphan.OwnerReferences = nil
	stray := ownedPod("stray", rs, true, time.Now())
	stray.Labels = map[string]string{"app": "other"}
	f := newFixture(t, false, rs, orphan, stray)
	_ = f.rc.sync(f.ctx, "ns/web")
	patched := map[string]string{}
	for _, a := range f.actions("patch", "pods") {
		pa := a.(clienttesting.PatchAction)
		patched[pa.GetName()] = string(pa.GetPatch())
	}
	if !strings.Contains(patched["orphan"], `"controller":true`) || !strings.Contains(patched["orphan"], string(rs.UID)) {
		t.Errorf("orphan patch %q", patched["orphan"])
	}
	if !strings.Contains(patched["stray"], `"$patch":"delete"`) {
		t.Errorf("stray patch %q", patched["stray"])
	}
	// One adopted, one more to create.
	if got := len(f.actions("create", "pods")); got != 1 {
		t.Errorf("%d creates, want 1", got)
	}
}

// A ReplicationController runs through the same code: its pods name it as
// their controller and its own status is written.
func TestReplicationController(t *testing.T) {
	two := int32(2)
	rc := &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: "ns", UID: "rc-uid", Generation: 3},
		Spec: corev1.ReplicationControllerSpec{Replicas: &two, Selector: map[string]string{"app": "legacy"},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
	f := newFixture(t, true, rc)
	if err := f.rc.sync(f.ctx, "ns/legacy"); err != nil {
		t.Fatal(err)
	}
	creates := f.actions("create", "pods")
	if len(creates) != 2 {
		t.Fatalf("%d creates", len(creates))
	}
	ref := metav1.GetControllerOf(creates[0].(clienttesting.CreateAction).GetObject().(*corev1.Pod))
	if ref == nil || ref.Kind != "ReplicationController" || ref.APIVersion != "v1" || ref.UID != rc.UID {
		t.Errorf("owner %+v", ref)
	}
	updates := f.actions("update", "replicationcontrollers")
	if len(updates) != 1 || updates[0].GetSubresource() != "status" {
		t.Fatalf("updates %v", updates)
	}
	if st := updates[0].(clienttesting.UpdateAction).GetObject().(*corev1.ReplicationController).Status; st.ObservedGeneration != 3 {
		t.Errorf("status %+v", st)
	}
}

func TestCalculateStatus(t *testing.T) {
	rs := newRS("web", 3)
	rs.Spec.MinReadySeconds = 60
	now := time.Now()
	old := ownedPod("old", rs, true, now.Add(-time.Hour))
	fresh := ownedPod("fresh", rs, true, now)
	partial := ownedPod("partial", rs, false, now)
	partial.Labels = map[string]string{"other": "z"}
	terminating := ownedPod("gone", rs, true, now)
	st := calculateStatus(rs, []*corev1.Pod{old, fresh, partial}, []*corev1.Pod{terminating}, true, nil)
	if st.Replicas != 3 || st.FullyLabeledReplicas != 2 || st.ReadyReplicas != 2 || st.AvailableReplicas != 1 ||
		st.TerminatingReplicas == nil || *st.TerminatingReplicas != 1 {
		t.Errorf("status %+v", st)
	}
}
