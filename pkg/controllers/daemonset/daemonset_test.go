package daemonset

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
	"k8s.io/klog/v2"
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

// newFixture runs informers over a fake clientset that, like the apiserver, names
// generateName objects and gives created objects a UID and pods the Pending phase.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	n := 0
	client.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.CreateAction).GetObject()
		n++
		if m, ok := obj.(metav1.Object); ok {
			if m.GetName() == "" && m.GetGenerateName() != "" {
				m.SetName(fmt.Sprintf("%s%05d", m.GetGenerateName(), n))
			}
			if m.GetUID() == "" {
				m.SetUID(types.UID(fmt.Sprintf("uid-%d", n)))
				m.SetCreationTimestamp(metav1.NewTime(time.Now().Add(time.Duration(n) * time.Second)))
			}
		}
		if p, ok := obj.(*corev1.Pod); ok && p.Status.Phase == "" {
			p.Status.Phase = corev1.PodPending
		}
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(1000)
	ctl := newController(client, factory.Apps().V1().DaemonSets().Lister(), factory.Core().V1().Pods().Lister(),
		factory.Core().V1().Nodes().Lister(), factory.Apps().V1().ControllerRevisions().Lister(), rec)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Apps().V1().DaemonSets().Informer()
	factory.Core().V1().Pods().Informer()
	factory.Core().V1().Nodes().Informer()
	factory.Apps().V1().ControllerRevisions().Informer()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return &fixture{t: t, client: client, ctl: ctl, recorder: rec}
}

// sync waits until the informers show what the fake API holds, then syncs ds.
func (f *fixture) sync(ds *appsv1.DaemonSet) {
	f.t.Helper()
	ctx := context.Background()
	fresh, err := f.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	pods, _ := f.client.CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{})
	nodes, _ := f.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	revs, _ := f.client.AppsV1().ControllerRevisions(ds.Namespace).List(ctx, metav1.ListOptions{})
	err = wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		cur, err := f.ctl.dsLister.DaemonSets(ds.Namespace).Get(ds.Name)
		if err != nil || !apiequality.Semantic.DeepEqual(cur, fresh) {
			return false, nil
		}
		cachedPods, _ := f.ctl.podLister.List(labels.Everything())
		cachedNodes, _ := f.ctl.nodeLister.List(labels.Everything())
		cachedRevs, _ := f.ctl.history.Lister.List(labels.Everything())
		if len(cachedPods) != len(pods.Items) || len(cachedNodes) != len(nodes.Items) || len(cachedRevs) != len(revs.Items) {
			return false, nil
		}
		byName := map[string]*corev1.Pod{}
		for _, p := range cachedPods {
			byName[p.Name] = p
		}
		for i := range pods.Items {
			if !apiequality.Semantic.DeepEqual(byName[pods.Items[i].Name], &pods.Items[i]) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		f.t.Fatalf("informers did not catch up: %v", err)
	}
	f.ctl.expectations.Delete(ds.Namespace + "/" + ds.Name) // the fake watch is not what we test
	if err := f.ctl.sync(ctx, ds.Namespace+"/"+ds.Name); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

// pods returns the live pods by the node they are pinned to.
func (f *fixture) pods() map[string][]corev1.Pod {
	list, err := f.client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string][]corev1.Pod{}
	for _, p := range list.Items {
		node, err := targetNodeName(&p)
		if err != nil {
			f.t.Fatalf("pod %s: %v", p.Name, err)
		}
		out[node] = append(out[node], p)
	}
	return out
}

// schedule binds every pod to its pinned node and makes it Running and Ready.
func (f *fixture) schedule() {
	ctx := context.Background()
	list, _ := f.client.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	for i := range list.Items {
		p := &list.Items[i]
		if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodFailed {
			continue
		}
		p.Spec.NodeName, _ = targetNodeName(p)
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Minute))}}
		if _, err := f.client.CoreV1().Pods("ns").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) get(ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	d, err := f.client.AppsV1().DaemonSets(ds.Namespace).Get(context.Background(), ds.Name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func node(name string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("node-" + name),
		Labels: map[string]string{"kubernetes.io/hostname": name}}, Spec: corev1.NodeSpec{Taints: taints}}
}

func newDS(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "ds-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			RevisionHistoryLimit: ptr.To[int32](10),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0))}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
		},
	}
}

var noSchedule = corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}

func TestOnePodPerEligibleNode(t *testing.T) {
	ds := newDS("agent")
	f := newFixture(t, ds, node("a"), node("b"), node("c", noSchedule))
	f.sync(ds)
	pods := f.pods()
	if len(pods) != 2 || len(pods["a"]) != 1 || len(pods["b"]) != 1 {
		t.Fatalf("pods by node = %v, want one on a and b and none on tainted c", pods)
	}
	p := pods["a"][0]
	if p.Spec.NodeName != "" {
		t.Errorf("nodeName = %q: the scheduler binds daemon pods", p.Spec.NodeName)
	}
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeDiskPressure,
		corev1.TaintNodeMemoryPressure, corev1.TaintNodePIDPressure, corev1.TaintNodeUnschedulable} {
		found := false
		for _, tol := range p.Spec.Tolerations {
			found = found || tol.Key == key && tol.Operator == corev1.TolerationOpExists
		}
		if !found {
			t.Errorf("pod lacks the toleration of %s: %+v", key, p.Spec.Tolerations)
		}
	}
	if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" || p.Labels["app"] != "agent" {
		t.Errorf("labels = %v", p.Labels)
	}
	f.schedule()
	f.sync(ds)
	st := f.get(ds).Status
	if st.DesiredNumberScheduled != 2 || st.CurrentNumberScheduled != 2 || st.NumberReady != 2 || st.NumberAvailable != 2 ||
		st.UpdatedNumberScheduled != 2 || st.NumberUnavailable != 0 || st.NumberMisscheduled != 0 || st.ObservedGeneration != 1 {
		t.Fatalf("status = %+v", st)
	}
	var created int
	for len(f.recorder.Events) > 0 {
		if e := <-f.recorder.Events; strings.HasPrefix(e, "Normal SuccessfulCreate Created pod: agent-") {
			created++
		}
	}
	if created != 2 {
		t.Errorf("SuccessfulCreate events = %d", created)
	}
}

func TestTolerationAndNodeSelector(t *testing.T) {
	ds := newDS("agent")
	ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "c"}
	f := newFixture(t, ds, node("a"), node("c", noSchedule))
	f.sync(ds)
	if pods := f.pods(); len(pods) != 1 || len(pods["c"]) != 1 {
		t.Fatalf("pods by node = %v, want only on c", pods)
	}
}

func TestNewNodeGetsPod(t *testing.T) {
	ds := newDS("agent")
	f := newFixture(t, ds, node("a"))
	f.sync(ds)
	if _, err := f.client.CoreV1().Nodes().Create(context.Background(), node("b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.sync(ds)
	if pods := f.pods(); len(pods["b"]) != 1 {
		t.Fatalf("pods by node = %v, want one on the new node", pods)
	}
}

func TestRollingUpdateReplacesOneAtATime(t *testing.T) {
	ds := newDS("agent")
	f := newFixture(t, ds, node("a"), node("b"), node("c"))
	f.sync(ds)
	f.schedule()
	f.sync(ds)
	oldHash := f.pods()["a"][0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	d := f.get(ds)
	d.Spec.Template.Spec.Containers[0].Image = "img:2"
	d.Generation = 2
	if _, err := f.client.AppsV1().DaemonSets("ns").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.sync(ds)
	total := 0
	for _, ps := range f.pods() {
		total += len(ps)
	}
	if total != 2 {
		t.Fatalf("after the first update step %d pods remain, want 2 (maxUnavailable 1)", total)
	}
	for i := 0; i < 10; i++ {
		f.sync(ds)
		f.schedule()
	}
	f.sync(ds)
	pods := f.pods()
	for _, n := range []string{"a", "b", "c"} {
		if len(pods[n]) != 1 || pods[n][0].Spec.Containers[0].Image != "img:2" || pods[n][0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == oldHash {
			t.Fatalf("node %s pods = %+v, want one updated pod", n, pods[n])
		}
	}
	if st := f.get(ds).Status; st.UpdatedNumberScheduled != 3 || st.NumberAvailable != 3 || st.ObservedGeneration != 2 {
		t.Fatalf("status = %+v", st)
	}
	revs, _ := f.client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	var nums []int64
	for _, r := range revs.Items {
		nums = append(nums, r.Revision)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	if fmt.Sprint(nums) != "[1 2]" {
		t.Fatalf("revisions = %v", nums)
	}
}

// TestFailedPodBackoff: a pod that keeps failing on a node is deleted once, then
// not again until its backoff passes.
func TestFailedPodBackoff(t *testing.T) {
	ds := newDS("agent")
	f := newFixture(t, ds, node("a"))
	f.sync(ds)
	fail := func() {
		ctx := context.Background()
		list, _ := f.client.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
		for i := range list.Items {
			p := &list.Items[i]
			p.Spec.NodeName = "a"
			p.Status.Phase = corev1.PodFailed
			if _, err := f.client.CoreV1().Pods("ns").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fail()
	f.sync(ds) // deletes the failed pod
	f.sync(ds) // recreates it
	fail()
	f.sync(ds) // in backoff: the failed pod stays
	pods := f.pods()["a"]
	if len(pods) != 1 || pods[0].Status.Phase != corev1.PodFailed {
		t.Fatalf("pods = %+v, want the failed pod kept during backoff", pods)
	}
	failedEvents := 0
	for len(f.recorder.Events) > 0 {
		if strings.Contains(<-f.recorder.Events, "FailedDaemonPod") {
			failedEvents++
		}
	}
	if failedEvents != 1 {
		t.Fatalf("FailedDaemonPod events = %d, want 1", failedEvents)
	}
}

func TestRevisionDataIsWhatKubectlUndoReads(t *testing.T) {
	ds := newDS("agent")
	f := newFixture(t, ds, node("a"))
	f.sync(ds)
	rb, err := polymorphichelpers.RollbackerFor(appsv1.SchemeGroupVersion.WithKind("DaemonSet").GroupKind(), f.client)
	if err != nil {
		t.Fatal(err)
	}
	revs, _ := f.client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if len(revs.Items) != 1 || revs.Items[0].Name != "agent-"+revs.Items[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey] {
		t.Fatalf("revisions = %+v", revs.Items)
	}
	out, err := rb.Rollback(f.get(ds), nil, 1, util.DryRunNone)
	if err != nil || !strings.Contains(out, "current template already matches revision 1") {
		t.Fatalf("rollback = %q, %v", out, err)
	}
}

func TestNodeShouldRunNoExecute(t *testing.T) {
	ds := newDS("agent")
	n := node("x", corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoExecute})
	if run, cont := nodeShouldRunDaemonPod(klog.Background(), n, ds); run || cont {
		t.Fatalf("untolerated NoExecute: run=%v continue=%v", run, cont)
	}
	n = node("x", noSchedule)
	if run, cont := nodeShouldRunDaemonPod(klog.Background(), n, ds); run || !cont {
		t.Fatalf("untolerated NoSchedule: run=%v continue=%v, want an existing pod kept", run, cont)
	}
	n = node("x", corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	if run, _ := nodeShouldRunDaemonPod(klog.Background(), n, ds); !run {
		t.Fatal("a cordoned node should still run daemons")
	}
}
