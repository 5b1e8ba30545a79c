package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// schedServer is a server with three simulated nodes, shared by the scheduler
// tests of one run; each test works in a namespace of its own.
func schedServer(t *testing.T) *framework.Server {
	t.Helper()
	s := framework.Start(t, "--sim-nodes=3")
	ctx := ctxT(t)
	eventually(t, time.Minute, func() error {
		nodes, err := s.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(nodes.Items) != 3 {
			return fmt.Errorf("%d nodes registered", len(nodes.Items))
		}
		return nil
	})
	return s
}

func schedNamespace(t *testing.T, c kubernetes.Interface) string {
	t.Helper()
	name := fmt.Sprintf("sched-%d", time.Now().UnixNano())
	eventually(t, time.Minute, func() error {
		_, err := c.CoreV1().Namespaces().Create(ctxT(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return err
	})
	// Pods need the namespace's default service account, which a controller makes.
	eventually(t, time.Minute, func() error {
		_, err := c.CoreV1().ServiceAccounts(name).Get(ctxT(t), "default", metav1.GetOptions{})
		return err
	})
	return name
}

func pausePod(name string, cpu string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "pause"}}},
	}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	return p
}

func createPod(t *testing.T, c kubernetes.Interface, ns string, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	got, err := c.CoreV1().Pods(ns).Create(ctxT(t), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return got
}

// waitScheduled waits for the pod to be bound and returns its node.
func waitScheduled(t *testing.T, c kubernetes.Interface, ns, name string) string {
	t.Helper()
	var node string
	eventually(t, time.Minute, func() error {
		p, err := c.CoreV1().Pods(ns).Get(ctxT(t), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Spec.NodeName == "" {
			return fmt.Errorf("pod %s not bound: %+v", name, p.Status.Conditions)
		}
		node = p.Spec.NodeName
		return nil
	})
	return node
}

// waitUnschedulable waits for PodScheduled=False/Unschedulable with a message
// containing every want, and returns the message.
func waitUnschedulable(t *testing.T, c kubernetes.Interface, ns, name string, want ...string) string {
	t.Helper()
	var msg string
	eventually(t, time.Minute, func() error {
		p, err := c.CoreV1().Pods(ns).Get(ctxT(t), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Spec.NodeName != "" {
			return fmt.Errorf("pod %s bound to %s", name, p.Spec.NodeName)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type != corev1.PodScheduled {
				continue
			}
			if cond.Status != corev1.ConditionFalse || cond.Reason != corev1.PodReasonUnschedulable {
				return fmt.Errorf("condition %+v", cond)
			}
			for _, w := range want {
				if !strings.Contains(cond.Message, w) {
					return fmt.Errorf("message %q lacks %q", cond.Message, w)
				}
			}
			msg = cond.Message
			return nil
		}
		return fmt.Errorf("no PodScheduled condition: %+v", p.Status.Conditions)
	})
	return msg
}

// podEvents lists the events of one pod with the given reason.
func podEvents(ctx context.Context, c kubernetes.Interface, ns, name, reason string) ([]corev1.Event, error) {
	evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
		"involvedObject.name": name, "reason": reason}.String()})
	if err != nil {
		return nil, err
	}
	return evs.Items, nil
}

func TestSchedulerBindsAndReports(t *testing.T) {
	s := schedServer(t)
	c := s.Client
	ns := schedNamespace(t, c)
	ctx := ctxT(t)

	t.Run("binds with a Scheduled event", func(t *testing.T) {
		createPod(t, c, ns, pausePod("plain", "100m"))
		node := waitScheduled(t, c, ns, "plain")
		if !strings.HasPrefix(node, "skiff-sim-") {
			t.Fatalf("bound to %q", node)
		}
		eventually(t, time.Minute, func() error {
			evs, err := podEvents(ctx, c, ns, "plain", "Scheduled")
			if err != nil {
				return err
			}
			want := fmt.Sprintf("Successfully assigned %s/plain to %s", ns, node)
			for _, e := range evs {
				if e.Message == want && e.Source.Component == "default-scheduler" && e.Type == corev1.EventTypeNormal {
					return nil
				}
			}
			return fmt.Errorf("no Scheduled event %q in %+v", want, evs)
		})
	})

	t.Run("insufficient cpu", func(t *testing.T) {
		createPod(t, c, ns, pausePod("huge", "64"))
		msg := waitUnschedulable(t, c, ns, "huge", "0/3 nodes are available: 3 Insufficient cpu.", "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.")
		t.Log(msg)
		eventually(t, time.Minute, func() error {
			evs, err := podEvents(ctx, c, ns, "huge", "FailedScheduling")
			if err != nil {
				return err
			}
			for _, e := range evs {
				if e.Message == msg && e.Type == corev1.EventTypeWarning && e.Source.Component == "default-scheduler" {
					return nil
				}
			}
			return fmt.Errorf("no FailedScheduling event %q in %+v", msg, evs)
		})
	})
}
