package statefulset

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	"k8s.io/utils/ptr"
)

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	ctl      *controller
	recorder *record.FakeRecorder
}

// newFixture runs informers over a fake clientset that, like the apiserver, gives
// created objects a UID and created pods the Pending phase.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	n := 0
	client.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.CreateAction).GetObject()
		n++
		if m, ok := obj.(metav1.Object); ok && m.GetUID() == "" {
			m.SetUID(types.UID(fmt.Sprintf("uid-%d", n)))
			m.SetCreationTimestamp(metav1.Now())
		}
		if p, ok := obj.(*corev1.Pod); ok && p.Status.Phase == "" {
			p.Status.Phase = corev1.PodPending
		}
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	ctl := newController(client, factory.Apps().V1().StatefulSets().Lister(), factory.Core().V1().Pods().Lister(),
		factory.Apps().V1().ControllerRevisions().Lister(), factory.Core().V1().PersistentVolumeClaims().Lister(), rec)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Apps().V1().StatefulSets().Informer()
	factory.Core().V1().Pods().Informer()
	factory.Apps().V1().ControllerRevisions().Informer()
	factory.Core().V1().PersistentVolumeClaims().Informer()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return &fixture{t: t, client: client, ctl: ctl, recorder: rec}
}

func (f *fixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		f.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// sync waits for the informers to show the set's current version and pods, then syncs.
func (f *fixture) sync(set *appsv1.StatefulSet) {
	f.t.Helper()
	ctx := context.Background()
	fresh, err := f.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	pods, _ := f.client.CoreV1().Pods(set.Namespace).List(ctx, metav1.ListOptions{})
	// The fake API keeps no resourceVersions: compare whole objects.
	f.waitFor("informers", func() bool {
		s, err := f.ctl.setLister.StatefulSets(set.Namespace).Get(set.Name)
		if err != nil || !apiequality.Semantic.DeepEqual(s, fresh) {
			return false
		}
		cached, _ := f.ctl.podLister.Pods(set.Namespace).List(labels.Everything())
		if len(cached) != len(pods.Items) {
			return false
		}
		byName := map[string]*corev1.Pod{}
		for _, p := range cached {
			byName[p.Name] = p
		}
		for i := range pods.Items {
			if !apiequality.Semantic.DeepEqual(byName[pods.Items[i].Name], &pods.Items[i]) {
				return false
			}
		}
		return true
	})
	if err := f.ctl.sync(ctx, set.Namespace+"/"+set.Name); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

func (f *fixture) podNames(ns string) []string {
	pods, err := f.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	return names
}

// makeReady turns every pod Running and Ready, as a kubelet would.
func (f *fixture) makeReady(ns string) {
	ctx := context.Background()
	pods, _ := f.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase == corev1.PodRunning {
			continue
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Minute))}}
		if _, err := f.client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) get(set *appsv1.StatefulSet) *appsv1.StatefulSet {
	s, err := f.client.AppsV1().StatefulSets(set.Namespace).Get(context.Background(), set.Name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func newSet(name string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "set-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:             ptr.To(replicas),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			ServiceName:          name,
			PodManagementPolicy:  appsv1.OrderedReadyPodManagement,
			RevisionHistoryLimit: ptr.To[int32](10),
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			}},
		},
	}
}

// bringUp syncs and readies pods until all replicas run.
func (f *fixture) bringUp(set *appsv1.StatefulSet, n int) {
	f.t.Helper()
	for i := 0; i < 3*n+3 && len(f.podNames(set.Namespace)) < n; i++ {
		f.sync(set)
		f.makeReady(set.Namespace)
	}
	f.sync(set)
	if got := f.podNames(set.Namespace); len(got) != n {
		f.t.Fatalf("pods = %v, want %d", got, n)
	}
}

func TestOrderedReadyCreatesInOrdinalOrder(t *testing.T) {
	set := newSet("web", 3)
	f := newFixture(t, set)
	f.sync(set)
	if got := f.podNames("ns"); strings.Join(got, ",") != "web-0" {
		t.Fatalf("first sync pods = %v, want only web-0", got)
	}
	f.sync(set) // web-0 is not ready: nothing more
	if got := f.podNames("ns"); len(got) != 1 {
		t.Fatalf("pods before web-0 is ready = %v", got)
	}
	pod, _ := f.client.CoreV1().Pods("ns").Get(context.Background(), "web-0", metav1.GetOptions{})
	for k, v := range map[string]string{"app": "web", appsv1.StatefulSetPodNameLabel: "web-0", appsv1.PodIndexLabel: "0"} {
		if pod.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, pod.Labels[k], v)
		}
	}
	if !strings.HasPrefix(pod.Labels[appsv1.StatefulSetRevisionLabel], "web-") {
		t.Errorf("controller-revision-hash = %q, want the revision name", pod.Labels[appsv1.StatefulSetRevisionLabel])
	}
	if pod.Spec.Hostname != "web-0" || pod.Spec.Subdomain != "web" {
		t.Errorf("hostname/subdomain = %s/%s", pod.Spec.Hostname, pod.Spec.Subdomain)
	}
	if v := pod.Spec.Volumes; len(v) != 1 || v[0].PersistentVolumeClaim == nil || v[0].PersistentVolumeClaim.ClaimName != "data-web-0" {
		t.Errorf("volumes = %+v", v)
	}
	pvc, err := f.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "data-web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("claim data-web-0: %v", err)
	}
	if pvc.Labels["app"] != "web" || len(pvc.OwnerReferences) != 0 {
		t.Errorf("claim labels %v owners %v (Retain keeps no owner)", pvc.Labels, pvc.OwnerReferences)
	}
	f.makeReady("ns")
	f.sync(set)
	if got := f.podNames("ns"); strings.Join(got, ",") != "web-0,web-1" {
		t.Fatalf("pods = %v, want web-0,web-1", got)
	}
	f.makeReady("ns")
	f.sync(set)
	f.makeReady("ns")
	f.sync(set)
	st := f.get(set).Status
	if st.Replicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 || st.CurrentReplicas != 3 ||
		st.UpdatedReplicas != 3 || st.CurrentRevision == "" || st.CurrentRevision != st.UpdateRevision || st.ObservedGeneration != 1 {
		t.Fatalf("status = %+v", st)
	}
	var created []string
	for len(f.recorder.Events) > 0 {
		if e := <-f.recorder.Events; strings.Contains(e, "SuccessfulCreate create Pod") {
			created = append(created, e)
		}
	}
	if len(created) != 3 || !strings.Contains(created[0], "create Pod web-0 in StatefulSet web successful") {
		t.Fatalf("create events = %v", created)
	}
}

func TestParallelCreatesAllAtOnce(t *testing.T) {
	set := newSet("par", 3)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	f := newFixture(t, set)
	f.sync(set)
	if got := f.podNames("ns"); len(got) != 3 {
		t.Fatalf("pods = %v, want 3 at once", got)
	}
}

func TestScaleDownRemovesHighestOrdinal(t *testing.T) {
	set := newSet("web", 3)
	f := newFixture(t, set)
	f.bringUp(set, 3)
	s := f.get(set)
	s.Spec.Replicas = ptr.To[int32](1)
	s.Generation = 2
	if _, err := f.client.AppsV1().StatefulSets("ns").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.sync(set)
	if got := f.podNames("ns"); strings.Join(got, ",") != "web-0,web-1" {
		t.Fatalf("after one scale-down step pods = %v, want web-2 gone first", got)
	}
	f.sync(set)
	if got := f.podNames("ns"); strings.Join(got, ",") != "web-0" {
		t.Fatalf("pods = %v, want web-0", got)
	}
}

func TestRollingUpdateHonoursPartition(t *testing.T) {
	set := newSet("web", 3)
	f := newFixture(t, set)
	f.bringUp(set, 3)
	oldRev := f.get(set).Status.CurrentRevision
	s := f.get(set)
	s.Spec.Template.Spec.Containers[0].Image = "img:2"
	s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](1)
	s.Generation = 2
	if _, err := f.client.AppsV1().StatefulSets("ns").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		f.sync(set)
		f.makeReady("ns")
	}
	st := f.get(set).Status
	if st.UpdateRevision == oldRev || st.CurrentRevision != oldRev {
		t.Fatalf("revisions current=%s update=%s, old %s", st.CurrentRevision, st.UpdateRevision, oldRev)
	}
	for i, want := range []string{oldRev, st.UpdateRevision, st.UpdateRevision} {
		p, err := f.client.CoreV1().Pods("ns").Get(context.Background(), fmt.Sprintf("web-%d", i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Labels[appsv1.StatefulSetRevisionLabel]; got != want {
			t.Errorf("web-%d revision = %s, want %s", i, got, want)
		}
		if wantImg := map[bool]string{true: "img:1", false: "img:2"}[i == 0]; p.Spec.Containers[0].Image != wantImg {
			t.Errorf("web-%d image = %s, want %s", i, p.Spec.Containers[0].Image, wantImg)
		}
	}
	if st.UpdatedReplicas != 2 || st.CurrentReplicas != 1 {
		t.Errorf("status = %+v", st)
	}
	revs, _ := f.client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if len(revs.Items) != 2 {
		t.Errorf("revisions = %d, want 2", len(revs.Items))
	}
}

// TestRevisionDataIsWhatKubectlUndoReads: kubectl's rollback compares the recorded
// patch byte for byte with one it computes from the live set.
func TestRevisionDataIsWhatKubectlUndoReads(t *testing.T) {
	set := newSet("web", 1)
	f := newFixture(t, set)
	f.sync(set)
	rb, err := polymorphichelpers.RollbackerFor(appsv1.SchemeGroupVersion.WithKind("StatefulSet").GroupKind(), f.client)
	if err != nil {
		t.Fatal(err)
	}
	out, err := rb.Rollback(f.get(set), nil, 1, util.DryRunNone)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "current template already matches revision 1") {
		t.Fatalf("rollback = %q, want the recorded revision to match the live template", out)
	}
}

func TestRetentionPolicyDeleteSetsOwners(t *testing.T) {
	set := newSet("web", 2)
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
	f := newFixture(t, set)
	f.bringUp(set, 2)
	pvc, _ := f.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "data-web-1", metav1.GetOptions{})
	if len(pvc.OwnerReferences) != 1 || pvc.OwnerReferences[0].UID != set.UID {
		t.Fatalf("in-range claim owners = %+v, want the set", pvc.OwnerReferences)
	}
	s := f.get(set)
	s.Spec.Replicas = ptr.To[int32](1)
	if _, err := f.client.AppsV1().StatefulSets("ns").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod1, _ := f.client.CoreV1().Pods("ns").Get(context.Background(), "web-1", metav1.GetOptions{})
	f.sync(set)
	pvc, _ = f.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "data-web-1", metav1.GetOptions{})
	if len(pvc.OwnerReferences) != 1 || pvc.OwnerReferences[0].Kind != "Pod" || pvc.OwnerReferences[0].UID != pod1.UID {
		t.Fatalf("scaled-down claim owners = %+v, want pod web-1", pvc.OwnerReferences)
	}
}

func TestMaxUnavailable(t *testing.T) {
	set := newSet("web", 4)
	set.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("50%"))
	if n, _ := maxUnavailable(set); n != 2 {
		t.Fatalf("maxUnavailable 50%% of 4 = %d", n)
	}
	set.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("10%"))
	if n, _ := maxUnavailable(set); n != 1 {
		t.Fatalf("maxUnavailable 10%% of 4 = %d, want at least 1", n)
	}
}
