package podgc

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func pod(name, node string, phase corev1.PodPhase, created time.Time) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(created)},
		Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
}

func node(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func setup(threshold int, objs ...runtime.Object) (*Controller, *fake.Clientset) {
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Pod:
			_ = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Node:
			_ = f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		}
	}
	gcc := newController(client, f.Core().V1().Pods().Lister(), f.Core().V1().Nodes().Lister(), threshold)
	return gcc, client
}

func deletedNames(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			if g := d.GetDeleteOptions().GracePeriodSeconds; g == nil || *g != 0 {
				panic(fmt.Sprintf("delete of %s not forced", d.GetName()))
			}
			out = append(out, d.GetName())
		}
	}
	sort.Strings(out)
	return out
}

func TestTerminatedBeyondThresholdOldestFirst(t *testing.T) {
	now := time.Now()
	gcc, client := setup(1, node("n1"),
		pod("a", "n1", corev1.PodSucceeded, now.Add(-3*time.Hour)),
		pod("b", "n1", corev1.PodFailed, now.Add(-2*time.Hour)),
		pod("c", "n1", corev1.PodSucceeded, now.Add(-time.Hour)),
		pod("d", "n1", corev1.PodRunning, now.Add(-4*time.Hour)))
	defer gcc.nodeQueue.ShutDown()
	gcc.gc(context.Background())
	if got := deletedNames(client); fmt.Sprint(got) != "[a b]" {
		t.Errorf("deleted %v, want [a b]", got)
	}
}

func TestOrphanedPodsAfterQuarantineGetDisruptionTarget(t *testing.T) {
	gcc, client := setup(0, node("n1"), pod("orphan", "gone", corev1.PodRunning, time.Now()), pod("kept", "n1", corev1.PodRunning, time.Now()))
	defer gcc.nodeQueue.ShutDown()
	gcc.quarantineTime = time.Hour
	gcc.gc(context.Background())
	if got := deletedNames(client); len(got) != 0 {
		t.Fatalf("deleted %v during the quarantine", got)
	}
	gcc.nodeQueue.ShutDown()
	gcc.nodeQueue = newController(client, nil, nil, 0).nodeQueue
	gcc.quarantineTime = 0
	gcc.gc(context.Background())
	if got := deletedNames(client); fmt.Sprint(got) != "[orphan]" {
		t.Fatalf("deleted %v, want [orphan]", got)
	}
	var patched bool
	for _, a := range client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok && p.GetSubresource() == "status" {
			patched = true
			want := `"reason":"DeletionByPodGC"`
			if s := string(p.GetPatch()); !strings.Contains(s, want) || !strings.Contains(s, `"phase":"Failed"`) || !strings.Contains(s, "PodGC: node no longer exists") {
				t.Errorf("status patch %s", s)
			}
		}
	}
	if !patched {
		t.Error("orphan not marked before deletion")
	}
}

func TestUnscheduledTerminating(t *testing.T) {
	p := pod("never", "", corev1.PodPending, time.Now())
	now := metav1.Now()
	p.DeletionTimestamp = &now
	gcc, client := setup(0, p, pod("pending", "", corev1.PodPending, time.Now()))
	defer gcc.nodeQueue.ShutDown()
	gcc.gc(context.Background())
	if got := deletedNames(client); fmt.Sprint(got) != "[never]" {
		t.Errorf("deleted %v, want [never]", got)
	}
}
