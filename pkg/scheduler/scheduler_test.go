package scheduler

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// testScheduler is a scheduler without informers: tests fill its cache directly.
func testScheduler(t testing.TB, nodes ...*corev1.Node) (*Scheduler, informers.SharedInformerFactory) {
	t.Helper()
	client := fake.NewSimpleClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	s := &Scheduler{client: client, informers: f, cache: NewCache(), queue: NewQueue(), profile: defaultProfile(client, f), binding: make(chan struct{}, maxBindingsInFlight)}
	for _, n := range nodes {
		s.cache.SetNode(n)
	}
	return s, f
}

// schedule runs the locked part of a scheduling cycle and assumes the pod on the
// chosen node, as scheduleOne does.
func (s *Scheduler) schedule(pod *corev1.Pod) (string, *FitError, *preemptionPlan) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	state := newCycleState(pod)
	host, fe := s.findNode(state, pod)
	if host != "" {
		assumed := *pod
		assumed.Spec.NodeName = host
		s.cache.Assume(&assumed)
		return host, nil, nil
	}
	var plan *preemptionPlan
	if fe.NumAllNodes > 0 {
		plan, fe.PostFilterMsg = s.planPreemption(state, pod, fe)
	}
	return "", fe, plan
}

func node(name, cpu, mem string, mutate ...func(*corev1.Node)) *corev1.Node {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(mem),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status:     corev1.NodeStatus{Capacity: rl, Allocatable: rl},
	}
	for _, m := range mutate {
		m(n)
	}
	return n
}

var uid int

func pod(name, cpu string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	uid++
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(fmt.Sprintf("uid-%d", uid)), Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
	}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func onNode(s *Scheduler, p *corev1.Pod, node string) *corev1.Pod {
	p.Spec.NodeName = node
	s.cache.SetPod(p)
	return p
}

func priority(v int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Priority = &v }
}

func labelled(kv ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func mustFail(t *testing.T, s *Scheduler, p *corev1.Pod, want string) *preemptionPlan {
	t.Helper()
	host, fe, plan := s.schedule(p)
	if host != "" {
		t.Fatalf("%s scheduled to %s, want failure %q", p.Name, host, want)
	}
	if got := fe.Error(); got != want {
		t.Fatalf("%s:\n got %q\nwant %q", p.Name, got, want)
	}
	return plan
}

func mustBind(t *testing.T, s *Scheduler, p *corev1.Pod, want ...string) string {
	t.Helper()
	host, fe, _ := s.schedule(p)
	if host == "" {
		t.Fatalf("%s not scheduled: %v", p.Name, fe)
	}
	if len(want) > 0 && host != want[0] {
		t.Fatalf("%s on %s, want %s", p.Name, host, want[0])
	}
	return host
}

func TestFitErrorMessage(t *testing.T) {
	taint := func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "key", Value: "value", Effect: corev1.TaintEffectNoSchedule}}
	}
	s, _ := testScheduler(t, node("a", "4", "8Gi"), node("b", "4", "8Gi", taint), node("c", "4", "8Gi", taint))
	mustFail(t, s, pod("big", "8"), "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {key: value}. "+
		"preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.")

	empty, _ := testScheduler(t)
	_, fe, _ := empty.schedule(pod("any", ""))
	if fe.Error() != "no nodes available to schedule pods" {
		t.Fatalf("no nodes: %q", fe.Error())
	}
}

func TestResourcesFit(t *testing.T) {
	gpu := corev1.ResourceName("example.com/gpu")
	s, _ := testScheduler(t, node("a", "4", "8Gi", func(n *corev1.Node) {
		n.Status.Allocatable[gpu] = resource.MustParse("1")
		n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("3")
	}))
	// An init container's request counts when it exceeds the containers' sum.
	mustFail(t, s, pod("init", "1", func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("5")}}}}
	}), "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")
	// Overhead counts too.
	mustFail(t, s, pod("overhead", "3", func(p *corev1.Pod) {
		p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	}), "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")
	withGPU := func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Requests[gpu] = resource.MustParse("1")
	}
	mustBind(t, s, pod("gpu-1", "1", withGPU))
	// Every lacking resource is listed, as upstream does.
	mustFail(t, s, pod("gpu-2", "4", withGPU), "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient example.com/gpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")
	mustBind(t, s, pod("p2", ""))
	mustBind(t, s, pod("p3", ""))
	mustFail(t, s, pod("p4", ""), "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")
}

// The assumed pod counts at once: two pods that each need most of a node land on
// different nodes without waiting for the informer.
func TestAssumeCountsImmediately(t *testing.T) {
	s, _ := testScheduler(t, node("a", "4", "8Gi"), node("b", "4", "8Gi"))
	first := mustBind(t, s, pod("one", "3"))
	second := mustBind(t, s, pod("two", "3"))
	if first == second {
		t.Fatalf("both on %s", first)
	}
	mustFail(t, s, pod("three", "3"), "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.")
	// A failed binding gives the room back.
	s.cache.Forget(types.UID("uid-" + fmt.Sprint(uid-2)))
	mustBind(t, s, pod("four", "3"))
}

func TestLeastAllocatedSpreads(t *testing.T) {
	s, _ := testScheduler(t, node("a", "4", "8Gi"), node("b", "4", "8Gi"))
	onNode(s, pod("busy", "2"), "a")
	mustBind(t, s, pod("next", "1"), "b")
}

func TestNodeAffinityAndSelector(t *testing.T) {
	zone := func(z string) func(*corev1.Node) { return func(n *corev1.Node) { n.Labels["zone"] = z } }
	s, _ := testScheduler(t, node("a", "4", "8Gi", zone("x")), node("b", "4", "8Gi", zone("y")))
	mustBind(t, s, pod("sel", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "y"} }), "b")
	mustBind(t, s, pod("req", "", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"x"}}}}}}}}
	}), "a")
	// Preferred affinity outweighs the emptier node.
	onNode(s, pod("load", "2"), "a")
	mustBind(t, s, pod("pref", "", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
			Weight: 100, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"x"}}}}}}}}
	}), "a")
	mustFail(t, s, pod("none", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "z"} }),
		"0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
}

func TestUnschedulableAndTaints(t *testing.T) {
	s, _ := testScheduler(t,
		node("cordoned", "4", "8Gi", func(n *corev1.Node) { n.Spec.Unschedulable = true }),
		node("soft", "4", "8Gi", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectPreferNoSchedule}}
		}),
		node("plain", "4", "8Gi"))
	// PreferNoSchedule steers pods away without forbidding the node.
	onNode(s, pod("load", "1"), "plain")
	mustBind(t, s, pod("p", ""), "plain")
	mustBind(t, s, pod("tolerates-cordon", "", func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "cordoned"}
		p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	}), "cordoned")
	mustFail(t, s, pod("cordon", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "cordoned"} }),
		"0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
}

func TestHostPorts(t *testing.T) {
	s, _ := testScheduler(t, node("a", "4", "8Gi"))
	withPort := func(ip string, port int32, proto corev1.Protocol) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{HostIP: ip, HostPort: port, ContainerPort: 80, Protocol: proto})
		}
	}
	mustBind(t, s, pod("ip1", "", withPort("10.0.0.1", 80, "")))
	mustBind(t, s, pod("ip2", "", withPort("10.0.0.2", 80, "")))
	mustBind(t, s, pod("udp", "", withPort("", 80, corev1.ProtocolUDP)))
	want := "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
	mustFail(t, s, pod("any", "", withPort("", 80, "")), want)
	mustFail(t, s, pod("same", "", withPort("10.0.0.1", 80, corev1.ProtocolTCP)), want)
}

func TestTopologySpread(t *testing.T) {
	zone := func(z string) func(*corev1.Node) { return func(n *corev1.Node) { n.Labels["zone"] = z } }
	s, _ := testScheduler(t, node("a", "4", "8Gi", zone("x")), node("b", "4", "8Gi", zone("x")), node("c", "4", "8Gi", zone("y")), node("nolabel", "4", "8Gi"))
	spread := func(p *corev1.Pod) {
		p.Labels["group"] = "g"
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": "g"}}}}
	}
	onNode(s, pod("x1", "", labelled("group", "g")), "a")
	// Zone x has one, zone y none: the next must go to y.
	mustBind(t, s, pod("s1", "", spread), "c")
	mustBind(t, s, pod("s2", "", spread))
	onNode(s, pod("y2", "", labelled("group", "g")), "c")
	// x: 2 (or 1+s2), y: 2 (or 3): whatever s2 did, the counts now differ by at most one.
	host := mustBind(t, s, pod("s3", "", spread))
	if host == "nolabel" {
		t.Fatal("pod placed on a node without the topology key")
	}
	// A tainted node still counts as a domain (nodeTaintsPolicy Ignore), so zone y
	// holds 0 and zone x may not take a third pod.
	s2, _ := testScheduler(t, node("a", "4", "8Gi", zone("x")), node("c", "4", "8Gi", zone("y"), func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "k", Value: "v", Effect: corev1.TaintEffectNoSchedule}}
	}))
	onNode(s2, pod("x1", "", labelled("group", "g")), "a")
	onNode(s2, pod("x2", "", labelled("group", "g")), "a")
	mustFail(t, s2, pod("s", "", spread),
		"0/2 nodes are available: 1 node(s) didn't match pod topology spread constraints, 1 node(s) had untolerated taint {k: v}. "+
			"preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.")
}

func TestInterPodAffinity(t *testing.T) {
	s, _ := testScheduler(t, node("a", "4", "8Gi"), node("b", "4", "8Gi"))
	term := func(k, v string) []corev1.PodAffinityTerm {
		return []corev1.PodAffinityTerm{{TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}}}
	}
	onNode(s, pod("db", "", labelled("role", "db")), "b")
	mustBind(t, s, pod("near", "", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: term("role", "db")}}
	}), "b")
	mustBind(t, s, pod("far", "", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: term("role", "db")}}
	}), "a")
	// far's anti-affinity now keeps db pods off a.
	mustFail(t, s, pod("db2", "", labelled("role", "db"), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "a"} }),
		"0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) didn't satisfy existing pods anti-affinity rules. "+
			"preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.")
	// The first pod of a group with self-affinity may go anywhere.
	mustBind(t, s, pod("self", "", labelled("group", "new"), func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: term("group", "new")}}
	}))
	mustFail(t, s, pod("lonely", "", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: term("group", "missing")}}
	}), "0/2 nodes are available: 2 node(s) didn't match pod affinity rules. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
	// Preferred anti-affinity avoids the node of the matching pod.
	mustBind(t, s, pod("avoid", "", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100, PodAffinityTerm: term("role", "db")[0]}}}}
	}), "a")
}

func TestVolumeBinding(t *testing.T) {
	s, f := testScheduler(t, node("a", "4", "8Gi"), node("b", "4", "8Gi"))
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	class := "local-path"
	add := func(obj any) {
		var err error
		switch o := obj.(type) {
		case *corev1.PersistentVolumeClaim:
			err = f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolume:
			err = f.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(o)
		case *storagev1.StorageClass:
			err = f.Storage().V1().StorageClasses().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	add(&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: class}, Provisioner: "rancher.io/local-path", VolumeBindingMode: &wffc})
	add(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-b"}, Spec: corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{
		Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
			Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}}}}}}})
	add(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bound"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-b"}})
	add(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "later"}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class}})
	add(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "immediate"}})
	claim := func(name string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}})
		}
	}
	mustBind(t, s, pod("local", "", claim("bound")), "b")
	mustBind(t, s, pod("wffc", "", claim("later")))
	mustFail(t, s, pod("missing", "", claim("nope")), `0/2 nodes are available: persistentvolumeclaim "nope" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.`)
	mustFail(t, s, pod("imm", "", claim("immediate")), "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
	mustFail(t, s, pod("conflict", "", claim("bound"), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "a"} }),
		"0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had volume node affinity conflict. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
}

func TestPreemption(t *testing.T) {
	s, _ := testScheduler(t, node("a", "4", "8Gi"), node("b", "4", "8Gi"))
	onNode(s, pod("a-low", "3", priority(10)), "a")
	onNode(s, pod("a-mid", "1", priority(50)), "a")
	onNode(s, pod("b-mid", "3", priority(50)), "b")
	plan := mustFail(t, s, pod("high", "2", priority(100)), "0/2 nodes are available: 2 Insufficient cpu.")
	if plan == nil || plan.node != "a" || len(plan.victims) != 1 || plan.victims[0].Name != "a-low" {
		t.Fatalf("plan %+v", plan)
	}
	// The nominated pod's room is kept from pods of lower priority.
	high := pod("high2", "3", priority(100))
	s.cache.Nominate(high, "b")
	s.cache.RemovePod(podUIDByName(s, "b-mid"))
	mustFail(t, s, pod("sneaky", "3", priority(1), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "b"} }),
		"0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.")
	mustFail(t, s, pod("never", "4", priority(100), func(p *corev1.Pod) {
		never := corev1.PreemptNever
		p.Spec.PreemptionPolicy = &never
	}), "0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.")
	// Equal priority never preempts.
	mustFail(t, s, pod("peer", "4", priority(10), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "a"} }),
		"0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.")
}

func podUIDByName(s *Scheduler, name string) types.UID {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	for uid, cp := range s.cache.pods {
		if cp.info.Pod.Name == name {
			return uid
		}
	}
	return ""
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	for all, want := range map[int]int{3: 3, 99: 99, 100: 100, 200: 100, 1000: 420, 5000: 500} {
		if got := numFeasibleNodesToFind(all); got != want {
			t.Errorf("numFeasibleNodesToFind(%d) = %d, want %d", all, got, want)
		}
	}
}

func TestQueue(t *testing.T) {
	q := NewQueue()
	now := time.Unix(1000, 0)
	q.now = func() time.Time { return now }
	low, high, gated := pod("low", "", priority(1)), pod("high", "", priority(100)), pod("gated", "", func(p *corev1.Pod) {
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "g"}}
	})
	q.Add(low)
	now = now.Add(time.Second)
	q.Add(high)
	q.Add(gated)
	ctx := t.Context()
	if got := q.Pop(ctx); got.pod.Name != "high" {
		t.Fatalf("popped %s first", got.pod.Name)
	}
	qp := q.Pop(ctx)
	if qp.pod.Name != "low" {
		t.Fatalf("popped %s", qp.pod.Name)
	}
	if a, b, u, g := q.Len(); a != 0 || b != 0 || u != 0 || g != 1 {
		t.Fatalf("len %d %d %d %d", a, b, u, g)
	}
	// Unschedulable pods wait for an event; after one they are back once their
	// backoff (1s for the first attempt) is over.
	q.Unschedulable(qp, q.Cycle(), map[string]bool{"NodeResourcesFit": true})
	q.Move(eventAssignedPod)
	if _, _, u, _ := q.Len(); u != 1 {
		t.Fatal("an assigned pod moved a pod that lacked resources")
	}
	q.Move(eventAny)
	if _, b, _, _ := q.Len(); b != 1 {
		t.Fatal("pod not in backoff after a node event")
	}
	// Removing the gate makes the gated pod active.
	ungated := gated.DeepCopy()
	ungated.Spec.SchedulingGates = nil
	q.Update(ungated)
	if got := q.Pop(ctx); got.pod.Name != "gated" {
		t.Fatalf("popped %s", got.pod.Name)
	}
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 9: 10 * time.Second} {
		if got := backoffFor(attempts); got != want {
			t.Errorf("backoff after %d attempts = %v, want %v", attempts, got, want)
		}
	}
}

func TestHistogramSorted(t *testing.T) {
	got := histogram(map[string]*Status{"a": unschedulable("b"), "b": unschedulable("a", "b"), "c": unschedulable("a")}, nil)
	if !strings.HasPrefix(got, "2 a, 2 b") {
		t.Fatalf("histogram %q", got)
	}
}

// Pods selected by a ReplicaSet spread over nodes by upstream's system default
// constraints, even against the emptier node.
func TestDefaultSpreading(t *testing.T) {
	s, f := testScheduler(t, node("a", "4", "8Gi"), node("b", "4", "8Gi"))
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}}}
	if err := f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(rs); err != nil {
		t.Fatal(err)
	}
	onNode(s, pod("web-1", "", labelled("tier", "web")), "a")
	onNode(s, pod("web-2", "", labelled("tier", "web")), "a")
	onNode(s, pod("other", "2"), "b")
	mustBind(t, s, pod("web-3", "", labelled("tier", "web")), "b")
	// Without the ReplicaSet the emptier node wins.
	mustBind(t, s, pod("loose", "", labelled("tier", "loose")), "a")
}

// A WaitForFirstConsumer claim learns the chosen node before the pod is bound.
func TestVolumePreBindSelectsNode(t *testing.T) {
	s, f := testScheduler(t, node("a", "4", "8Gi"))
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	class := "local-path"
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class}}
	if _, err := s.client.CoreV1().PersistentVolumeClaims("ns").Create(t.Context(), pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(pvc)
	_ = f.Storage().V1().StorageClasses().Informer().GetIndexer().Add(&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: class}, VolumeBindingMode: &wffc})
	p := pod("user", "", func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	})
	for _, pl := range s.profile.PreBinds {
		if err := pl.PreBind(t.Context(), p, "a"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.client.CoreV1().PersistentVolumeClaims("ns").Get(t.Context(), "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[selectedNodeAnnotation] != "a" {
		t.Fatalf("annotations %v", got.Annotations)
	}
}

// A pod that fails in a cycle during which a helpful event came is retried after
// its backoff instead of waiting for another event; an event for other plugins
// does not count.
func TestQueueEventDuringCycle(t *testing.T) {
	q := NewQueue()
	q.Add(pod("a", ""))
	qp := q.Pop(t.Context())
	cycle := q.Cycle()
	q.Move(eventAssignedPod)
	q.Unschedulable(qp, cycle, map[string]bool{"NodeResourcesFit": true})
	if _, b, u, _ := q.Len(); b != 0 || u != 1 {
		t.Fatalf("backoff %d unschedulable %d after an unrelated event", b, u)
	}
	q.Move(eventAny) // moves it
	qp2 := pod("b", "")
	q.Add(qp2)
	for {
		got := q.Pop(t.Context())
		if got.pod.Name == "b" {
			qp = got
			break
		}
	}
	cycle = q.Cycle()
	q.Move(eventAssignedPod)
	q.Unschedulable(qp, cycle, map[string]bool{"InterPodAffinity": true})
	if _, b, _, _ := q.Len(); b < 1 {
		t.Fatal("pod rejected by affinity not retried after an assigned-pod event during its cycle")
	}
}
