package deployment

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

type fixture struct {
	client   *fake.Clientset
	dc       *controller
	recorder *record.FakeRecorder
	ctx      context.Context
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	dc, err := newController(client, f.Apps().V1().Deployments().Informer(), f.Apps().V1().ReplicaSets().Informer(),
		f.Core().V1().Pods().Informer(), rec)
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), dc.synced...) {
		t.Fatal("caches did not sync")
	}
	return &fixture{client: client, dc: dc, recorder: rec, ctx: ctx}
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

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func newDeployment(replicas int32, image string) *appsv1.Deployment {
	l := map[string]string{"app": "web"}
	pct := intstr.FromString("25%")
	limit, deadline := int32(10), int32(600)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: l},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &pct, MaxUnavailable: &pct}},
			RevisionHistoryLimit: &limit, ProgressDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}}},
	}
}

// replicaSetOf is the ReplicaSet d would make for its current template, at the
// given size, fully available, created at created.
func replicaSetOf(d *appsv1.Deployment, replicas int32, revision string, created time.Time) *appsv1.ReplicaSet {
	hash := ComputeHash(&d.Spec.Template, nil)
	tmpl := *d.Spec.Template.DeepCopy()
	tmpl.Labels = cloneAndAdd(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-" + hash, Namespace: d.Namespace, UID: types.UID("rs-" + hash),
			Labels: tmpl.Labels, CreationTimestamp: metav1.NewTime(created), Generation: 1,
			Annotations:     map[string]string{RevisionAnnotation: revision, DesiredReplicasAnnotation: "4", MaxReplicasAnnotation: "5"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Template: tmpl,
			Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas, ObservedGeneration: 1},
	}
}

func TestResolveFenceposts(t *testing.T) {
	pct := intstr.FromString("25%")
	zero := intstr.FromInt32(0)
	for _, tc := range []struct {
		surge, unavail *intstr.IntOrString
		replicas       int32
		wantS, wantU   int32
	}{
		{&pct, &pct, 3, 1, 0},
		{&pct, &pct, 10, 3, 2},
		{&pct, &pct, 1000, 250, 250},
		{&zero, &zero, 5, 0, 1},
	} {
		s, u, err := resolveFenceposts(tc.surge, tc.unavail, tc.replicas)
		if err != nil || s != tc.wantS || u != tc.wantU {
			t.Errorf("%v/%v of %d = %d/%d, want %d/%d (%v)", tc.surge, tc.unavail, tc.replicas, s, u, tc.wantS, tc.wantU, err)
		}
	}
}

func TestComputeHash(t *testing.T) {
	d := newDeployment(3, "nginx:1.25")
	h1 := ComputeHash(&d.Spec.Template, nil)
	if h1 != ComputeHash(d.Spec.Template.DeepCopy(), nil) {
		t.Error("hash not stable")
	}
	one := int32(1)
	if h1 == ComputeHash(&d.Spec.Template, &one) {
		t.Error("collision count does not change the hash")
	}
	d.Spec.Template.Spec.Containers[0].Image = "nginx:1.26"
	if h1 == ComputeHash(&d.Spec.Template, nil) {
		t.Error("template change does not change the hash")
	}
}

// A replica set taking a newer revision (a rollback) keeps the old one in history.
func TestSetNewReplicaSetAnnotations(t *testing.T) {
	d := newDeployment(3, "nginx")
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "why", RevisionAnnotation: "9", lastAppliedConfigAnnotation: "{}"}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{RevisionAnnotation: "1", RevisionHistoryAnnotation: "0"}}}
	if !setNewReplicaSetAnnotations(d, rs, "3", true) {
		t.Fatal("no change reported")
	}
	a := rs.Annotations
	if a[RevisionAnnotation] != "3" || a[RevisionHistoryAnnotation] != "0,1" || a["kubernetes.io/change-cause"] != "why" || a[lastAppliedConfigAnnotation] != "" {
		t.Errorf("annotations %v", a)
	}
	if _, ok := a[DesiredReplicasAnnotation]; ok {
		t.Error("an existing replica set got replica annotations")
	}
}

// A new Deployment gets its ReplicaSet, revision 1, and the upstream event.
func TestSyncCreatesReplicaSet(t *testing.T) {
	d := newDeployment(3, "nginx:1.25")
	f := newFixture(t, d)
	if err := f.dc.sync(f.ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	creates := f.actions("create", "replicasets")
	if len(creates) != 1 {
		t.Fatalf("%d creates", len(creates))
	}
	rs := creates[0].(clienttesting.CreateAction).GetObject().(*appsv1.ReplicaSet)
	hash := ComputeHash(&d.Spec.Template, nil)
	if rs.Name != "web-"+hash || *rs.Spec.Replicas != 3 || rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
		rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || metav1.GetControllerOf(rs).UID != d.UID {
		t.Errorf("replica set %+v", rs)
	}
	if a := rs.Annotations; a[RevisionAnnotation] != "1" || a[DesiredReplicasAnnotation] != "3" || a[MaxReplicasAnnotation] != "4" {
		t.Errorf("annotations %v", a)
	}
	ev := f.events()
	if len(ev) != 1 || ev[0] != "Normal ScalingReplicaSet Scaled up replica set web-"+hash+" from 0 to 3" {
		t.Errorf("events %q", ev)
	}
	updates := f.actions("update", "deployments")
	if len(updates) == 0 {
		t.Fatal("no status update")
	}
	got := updates[0].(clienttesting.UpdateAction).GetObject().(*appsv1.Deployment)
	c := getCondition(got.Status, appsv1.DeploymentProgressing)
	if got.Annotations[RevisionAnnotation] != "1" || c == nil || c.Reason != NewReplicaSetReason || c.Message != `Created new replica set "web-`+hash+`"` {
		t.Errorf("deployment %v %+v", got.Annotations, got.Status.Conditions)
	}
}

// One rolling step: with the new ReplicaSet at 1 available and the old one at
// 4, the old one goes down by what maxUnavailable allows.
func TestRollingScalesOldDown(t *testing.T) {
	d := newDeployment(4, "v2")
	old := replicaSetOf(newDeployment(4, "v1"), 4, "1", time.Now().Add(-time.Hour))
	cur := replicaSetOf(d, 1, "2", time.Now())
	cur.Annotations[DesiredReplicasAnnotation] = "4"
	f := newFixture(t, d, old, cur)
	if err := f.dc.sync(f.ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	var scaled []string
	for _, a := range f.actions("update", "replicasets") {
		rs := a.(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet)
		scaled = append(scaled, rs.Name+"="+itoa(*rs.Spec.Replicas))
	}
	// 5 pods, min available 3, nothing unavailable in the new set: 2 go.
	if len(scaled) != 1 || scaled[0] != old.Name+"=2" {
		t.Errorf("scaled %v", scaled)
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "Normal ScalingReplicaSet Scaled down replica set "+old.Name+" from 4 to 2" {
		t.Errorf("events %q", ev)
	}
}

// A paused Deployment scaled mid-rollout spreads the new replicas proportionally.
func TestProportionalScaling(t *testing.T) {
	d := newDeployment(20, "v2")
	d.Spec.Paused = true
	old := replicaSetOf(newDeployment(10, "v1"), 8, "1", time.Now().Add(-time.Hour))
	cur := replicaSetOf(d, 5, "2", time.Now())
	for _, rs := range []*appsv1.ReplicaSet{old, cur} {
		rs.Annotations[DesiredReplicasAnnotation] = "10"
		rs.Annotations[MaxReplicasAnnotation] = "13"
	}
	f := newFixture(t, d, old, cur)
	if err := f.dc.sync(f.ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int32{}
	for _, a := range f.actions("update", "replicasets") {
		rs := a.(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet)
		sizes[rs.Name] = *rs.Spec.Replicas
	}
	// Allowed 20+5 = 25 for 13 now: 8*25/13 ≈ 15, 5*25/13 ≈ 10; 12 added in all.
	if sizes[old.Name] != 15 || sizes[cur.Name] != 10 {
		t.Errorf("sizes %v", sizes)
	}
}

// A rollout without progress past progressDeadlineSeconds is reported.
func TestProgressDeadlineExceeded(t *testing.T) {
	d := newDeployment(2, "v1")
	rs := replicaSetOf(d, 2, "1", time.Now().Add(-time.Hour))
	rs.Annotations[DesiredReplicasAnnotation] = "2"
	rs.Annotations[MaxReplicasAnnotation] = "3"
	rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = 0, 0
	d.Annotations = map[string]string{RevisionAnnotation: "1"}
	long := metav1.NewTime(time.Now().Add(-time.Hour))
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, UnavailableReplicas: 2,
		TerminatingReplicas: new(int32),
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
			Reason: ReplicaSetUpdatedReason, LastUpdateTime: long, LastTransitionTime: long}}}
	f := newFixture(t, d, rs)
	if err := f.dc.sync(f.ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	updates := f.actions("update", "deployments")
	if len(updates) == 0 {
		t.Fatal("no status update")
	}
	got := updates[len(updates)-1].(clienttesting.UpdateAction).GetObject().(*appsv1.Deployment)
	c := getCondition(got.Status, appsv1.DeploymentProgressing)
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != TimedOutReason || c.Message != `ReplicaSet "`+rs.Name+`" has timed out progressing.` {
		t.Errorf("progressing %+v", c)
	}
	a := getCondition(got.Status, appsv1.DeploymentAvailable)
	if a == nil || a.Status != corev1.ConditionFalse || a.Reason != MinimumReplicasUnavailable {
		t.Errorf("available %+v", a)
	}
}

// Old ReplicaSets beyond revisionHistoryLimit go, oldest revision first.
func TestCleanupKeepsHistoryLimit(t *testing.T) {
	d := newDeployment(1, "v9")
	limit := int32(1)
	d.Spec.RevisionHistoryLimit = &limit
	// Cleanup follows a finished rollout, as the stored status says.
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	var objs []runtime.Object
	objs = append(objs, d)
	for i, img := range []string{"v1", "v2", "v3"} {
		rs := replicaSetOf(newDeployment(1, img), 0, itoa(int32(i+1)), time.Now().Add(-time.Duration(3-i)*time.Hour))
		rs.Status = appsv1.ReplicaSetStatus{ObservedGeneration: 1}
		objs = append(objs, rs)
	}
	cur := replicaSetOf(d, 1, "4", time.Now())
	cur.Annotations[DesiredReplicasAnnotation], cur.Annotations[MaxReplicasAnnotation] = "1", "2"
	objs = append(objs, cur)
	f := newFixture(t, objs...)
	if err := f.dc.sync(f.ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range f.actions("delete", "replicasets") {
		deleted = append(deleted, a.(clienttesting.DeleteAction).GetName())
	}
	v1 := replicaSetOf(newDeployment(1, "v1"), 0, "1", time.Now()).Name
	v2 := replicaSetOf(newDeployment(1, "v2"), 0, "2", time.Now()).Name
	if strings.Join(deleted, ",") != v1+","+v2 {
		t.Errorf("deleted %v, want %s,%s", deleted, v1, v2)
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
