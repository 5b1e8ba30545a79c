package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// depTimeout bounds every wait on a rollout: simulated pods turn Ready within a
// second or two, so this only matters when something is broken.
const depTimeout = 90 * time.Second

// TestDeployments drives the deployment, replicaset and replicationcontroller
// controllers on a server with simulated nodes, with stock kubectl verbs.
func TestDeployments(t *testing.T) {
	s := schedServer(t)
	t.Run("KubectlRollout", func(t *testing.T) { testKubectlRollout(t, s) })
	t.Run("Recreate", func(t *testing.T) { testRecreate(t, s) })
	t.Run("ProgressDeadline", func(t *testing.T) { testProgressDeadline(t, s) })
	t.Run("ReplicaSetAdoptRelease", func(t *testing.T) { testReplicaSetAdoptRelease(t, s) })
	t.Run("ReplicationController", func(t *testing.T) { testReplicationController(t, s) })
	t.Run("OrphanCascade", func(t *testing.T) { testOrphanCascade(t, s) })
}

func testKubectlRollout(t *testing.T, s *framework.Server) {
	s.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		ctx := ctxT(t)
		c := s.Client
		ns := schedNamespace(t, c)
		k.Run("create", "deployment", "web", "-n", ns, "--image=nginx:1.25", "--replicas=3")
		k.Run("wait", "--for=condition=available", "deploy/web", "-n", ns, "--timeout=90s")

		d := waitDeploymentDone(t, c, ns, "web", 3)
		rss := deploymentReplicaSets(t, c, ns, d)
		if len(rss) != 1 {
			t.Fatalf("%d replica sets, want 1", len(rss))
		}
		rs := rss[0]
		hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if hash == "" || rs.Name != "web-"+hash || rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
			rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
			t.Errorf("replica set %s: labels %v, selector %v", rs.Name, rs.Labels, rs.Spec.Selector)
		}
		wantAnnotations(t, rs, map[string]string{"deployment.kubernetes.io/revision": "1",
			"deployment.kubernetes.io/desired-replicas": "3", "deployment.kubernetes.io/max-replicas": "4"})
		if d.Annotations["deployment.kubernetes.io/revision"] != "1" {
			t.Errorf("deployment revision %q", d.Annotations["deployment.kubernetes.io/revision"])
		}
		pods := activePodsOf(t, c, ns, rs.UID)
		if len(pods) != 3 {
			t.Fatalf("%d pods, want 3", len(pods))
		}
		for _, p := range pods {
			if p.Status.Phase != corev1.PodRunning || p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
				t.Errorf("pod %s: phase %s labels %v", p.Name, p.Status.Phase, p.Labels)
			}
		}
		wantCondition(t, d, appsv1.DeploymentAvailable, corev1.ConditionTrue, "MinimumReplicasAvailable", "Deployment has minimum availability.")
		wantCondition(t, d, appsv1.DeploymentProgressing, corev1.ConditionTrue, "NewReplicaSetAvailable",
			fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs.Name))
		waitEvent(t, c, ns, "Deployment", "web", "ScalingReplicaSet", fmt.Sprintf("Scaled up replica set %s from 0 to 3", rs.Name))
		waitEvent(t, c, ns, "ReplicaSet", rs.Name, "SuccessfulCreate", "Created pod: "+pods[0].Name)

		k.Run("scale", "deployment/web", "-n", ns, "--replicas=5")
		waitDeploymentDone(t, c, ns, "web", 5)
		waitEvent(t, c, ns, "Deployment", "web", "ScalingReplicaSet", fmt.Sprintf("Scaled up replica set %s from 3 to 5", rs.Name))

		k.Run("set", "image", "deployment/web", "-n", ns, "nginx=nginx:1.26")
		k.Run("annotate", "deployment/web", "-n", ns, "kubernetes.io/change-cause=image 1.26")
		mustContain(t, k.Run("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s"), `deployment "web" successfully rolled out`)
		d = waitDeploymentDone(t, c, ns, "web", 5)
		rss = deploymentReplicaSets(t, c, ns, d)
		if len(rss) != 2 {
			t.Fatalf("%d replica sets after set image, want 2", len(rss))
		}
		byRev := map[string]*appsv1.ReplicaSet{}
		for _, rs := range rss {
			byRev[rs.Annotations["deployment.kubernetes.io/revision"]] = rs
		}
		if byRev["1"] == nil || byRev["2"] == nil || *byRev["1"].Spec.Replicas != 0 || *byRev["2"].Spec.Replicas != 5 ||
			byRev["2"].Spec.Template.Spec.Containers[0].Image != "nginx:1.26" {
			t.Fatalf("after set image: %s", rsSummary(rss))
		}
		if byRev["2"].Annotations["kubernetes.io/change-cause"] != "image 1.26" {
			t.Errorf("change-cause not copied to the new replica set: %v", byRev["2"].Annotations)
		}
		hist := k.Run("rollout", "history", "deployment/web", "-n", ns)
		mustContain(t, hist, "REVISION", "CHANGE-CAUSE", "image 1.26")
		if !regexpLine(hist, "1", "<none>") || !regexpLine(hist, "2", "image 1.26") {
			t.Errorf("rollout history:\n%s", hist)
		}
		mustContain(t, k.Run("rollout", "history", "deployment/web", "-n", ns, "--revision=2"), "nginx:1.26")

		// kubectl undoes client-side: it patches the template of revision 1 back in;
		// the controller turns that replica set into revision 3.
		k.Run("rollout", "undo", "deployment/web", "-n", ns)
		mustContain(t, k.Run("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s"), "successfully rolled out")
		d = waitDeploymentDone(t, c, ns, "web", 5)
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:1.25" {
			t.Errorf("after undo the template has %s", img)
		}
		old, err := c.AppsV1().ReplicaSets(ns).Get(ctx, byRev["1"].Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantAnnotations(t, old, map[string]string{"deployment.kubernetes.io/revision": "3", "deployment.kubernetes.io/revision-history": "1"})
		if d.Annotations["deployment.kubernetes.io/revision"] != "3" || *old.Spec.Replicas != 5 {
			t.Errorf("after undo: deployment revision %q, %s replicas %d", d.Annotations["deployment.kubernetes.io/revision"], old.Name, *old.Spec.Replicas)
		}
		hist = k.Run("rollout", "history", "deployment/web", "-n", ns)
		if !regexpLine(hist, "2", "image 1.26") || !regexpLine(hist, "3", "") || regexpLine(hist, "1", "") {
			t.Errorf("rollout history after undo:\n%s", hist)
		}

		// Paused: a template change makes no replica set until resumed.
		k.Run("rollout", "pause", "deployment/web", "-n", ns)
		k.Run("set", "image", "deployment/web", "-n", ns, "nginx=nginx:1.27")
		eventually(t, depTimeout, func() error {
			d, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if d.Status.ObservedGeneration != d.Generation {
				return fmt.Errorf("generation %d not observed", d.Generation)
			}
			return conditionIs(d, appsv1.DeploymentProgressing, corev1.ConditionUnknown, "DeploymentPaused", "Deployment is paused")
		})
		time.Sleep(time.Second) // a controller that ignored the pause would act now
		if rss := deploymentReplicaSets(t, c, ns, d); len(rss) != 2 {
			t.Fatalf("a paused deployment rolled: %s", rsSummary(rss))
		}
		k.Run("rollout", "resume", "deployment/web", "-n", ns)
		mustContain(t, k.Run("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s"), "successfully rolled out")
		d = waitDeploymentDone(t, c, ns, "web", 5)
		rss = deploymentReplicaSets(t, c, ns, d)
		newest := rss[len(rss)-1]
		if len(rss) != 3 || newest.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" || *newest.Spec.Replicas != 5 {
			t.Errorf("after resume: %s", rsSummary(rss))
		}
	})
}

// testRecreate: every old pod is gone before the new replica set scales up.
func testRecreate(t *testing.T, s *framework.Server) {
	ctx := ctxT(t)
	c := s.Client
	ns := schedNamespace(t, c)
	d := simDeployment("rec", 3, nil)
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d = waitDeploymentDone(t, c, ns, "rec", 3)
	oldRS := deploymentReplicaSets(t, c, ns, d)[0]

	// Watch pods while rolling: no new pod may exist while an old one is running.
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	if _, err := c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	oldAlive := map[string]bool{}
	for _, p := range activePodsOf(t, c, ns, oldRS.UID) {
		oldAlive[p.Name] = true
	}
	deadline := time.After(depTimeout)
	newSeen := 0
	for newSeen < 3 {
		select {
		case ev := <-w.ResultChan():
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			ref := metav1.GetControllerOf(p)
			if ref != nil && ref.UID == oldRS.UID {
				if string(ev.Type) == "DELETED" {
					delete(oldAlive, p.Name)
				}
				continue
			}
			if string(ev.Type) == "ADDED" {
				newSeen++
				if len(oldAlive) > 0 {
					t.Fatalf("new pod %s created while old pods %v exist", p.Name, oldAlive)
				}
			}
		case <-deadline:
			t.Fatalf("saw %d new pods", newSeen)
		}
	}
	d = waitDeploymentDone(t, c, ns, "rec", 3)
	rss := deploymentReplicaSets(t, c, ns, d)
	if len(rss) != 2 || *rss[0].Spec.Replicas != 0 || *rss[1].Spec.Replicas != 3 {
		t.Errorf("after recreate: %s", rsSummary(rss))
	}
	waitEvent(t, c, ns, "Deployment", "rec", "ScalingReplicaSet", fmt.Sprintf("Scaled down replica set %s from 3 to 0", oldRS.Name))
}

// testProgressDeadline: pods that never turn Ready exceed progressDeadlineSeconds.
func testProgressDeadline(t *testing.T, s *framework.Server) {
	ctx := ctxT(t)
	c := s.Client
	ns := schedNamespace(t, c)
	d := simDeployment("stuck", 2, map[string]string{"sim.skiff.io/not-ready": "true"})
	five := int32(5)
	d.Spec.ProgressDeadlineSeconds = &five
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var rsName string
	eventually(t, depTimeout, func() error {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "stuck", metav1.GetOptions{})
		if err != nil {
			return err
		}
		rss := deploymentReplicaSets(t, c, ns, d)
		if len(rss) != 1 {
			return fmt.Errorf("%d replica sets", len(rss))
		}
		rsName = rss[0].Name
		return conditionIs(d, appsv1.DeploymentProgressing, corev1.ConditionFalse, "ProgressDeadlineExceeded",
			fmt.Sprintf("ReplicaSet %q has timed out progressing.", rsName))
	})
	d, err := c.AppsV1().Deployments(ns).Get(ctx, "stuck", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantCondition(t, d, appsv1.DeploymentAvailable, corev1.ConditionFalse, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
	if d.Status.Replicas != 2 || d.Status.ReadyReplicas != 0 || d.Status.UnavailableReplicas != 2 {
		t.Errorf("status %+v", d.Status)
	}
	for _, kb := range s.Kubectls() {
		out, err := s.KubectlErr(kb, "", "rollout", "status", "deployment/stuck", "-n", ns, "--timeout=30s")
		if err == nil || !strings.Contains(out, `deployment "stuck" exceeded its progress deadline`) {
			t.Errorf("%s rollout status: %v\n%s", kb, err, out)
		}
	}
}

// testReplicaSetAdoptRelease: a ReplicaSet adopts a matching orphan (and makes only
// the rest) and releases a pod relabelled out of its selector (and replaces it).
func testReplicaSetAdoptRelease(t *testing.T, s *framework.Server) {
	ctx := ctxT(t)
	c := s.Client
	ns := schedNamespace(t, c)
	orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: map[string]string{"app": "adopt"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	two := int32(2)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "adopter"},
		Spec: appsv1.ReplicaSetSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "adopt"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "adopt"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitReplicaSetReady(t, c, ns, "adopter", 2)
	p, err := c.CoreV1().Pods(ns).Get(ctx, "orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" {
		t.Fatalf("orphan not adopted: %v", p.OwnerReferences)
	}
	if pods := activePodsOf(t, c, ns, rs.UID); len(pods) != 2 {
		t.Fatalf("%d pods after adopting, want 2 (one adopted, one created)", len(pods))
	}

	// Relabel the adopted pod out of the selector: released, and replaced.
	patch := []byte(`{"metadata":{"labels":{"app":"elsewhere"}}}`)
	if _, err := c.CoreV1().Pods(ns).Patch(ctx, "orphan", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, depTimeout, func() error {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "orphan", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if ref := metav1.GetControllerOf(p); ref != nil {
			return fmt.Errorf("still controlled by %s", ref.Name)
		}
		if pods := activePodsOf(t, c, ns, rs.UID); len(pods) != 2 {
			return fmt.Errorf("%d pods owned", len(pods))
		}
		return nil
	})
	waitReplicaSetReady(t, c, ns, "adopter", 2)
}

// testReplicationController: an RC scales up and down like a ReplicaSet.
func testReplicationController(t *testing.T, s *framework.Server) {
	ctx := ctxT(t)
	c := s.Client
	ns := schedNamespace(t, c)
	two := int32(2)
	rc := &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec: corev1.ReplicationControllerSpec{Replicas: &two, Selector: map[string]string{"app": "legacy"},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
	rc, err := c.CoreV1().ReplicationControllers(ns).Create(ctx, rc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 4, 1} {
		if n != 2 {
			s.Kubectl(t, "scale", "rc/legacy", "-n", ns, fmt.Sprintf("--replicas=%d", n))
		}
		eventually(t, depTimeout, func() error {
			rc, err := c.CoreV1().ReplicationControllers(ns).Get(ctx, "legacy", metav1.GetOptions{})
			if err != nil {
				return err
			}
			st := rc.Status
			if st.ObservedGeneration != rc.Generation || st.Replicas != int32(n) || st.ReadyReplicas != int32(n) ||
				st.AvailableReplicas != int32(n) || st.FullyLabeledReplicas != int32(n) {
				return fmt.Errorf("status %+v, generation %d", st, rc.Generation)
			}
			if pods := activePodsOf(t, c, ns, rc.UID); len(pods) != n {
				return fmt.Errorf("%d pods", len(pods))
			}
			return nil
		})
	}
	pods := activePodsOf(t, c, ns, rc.UID)
	if ref := metav1.GetControllerOf(pods[0]); ref.Kind != "ReplicationController" || ref.APIVersion != "v1" {
		t.Errorf("pod owner %+v", ref)
	}
	ev := waitEvent(t, c, ns, "ReplicationController", "legacy", "SuccessfulCreate", "Created pod: ")
	if ev.Source.Component != "replication-controller" {
		t.Errorf("event source %q", ev.Source.Component)
	}
	waitEvent(t, c, ns, "ReplicationController", "legacy", "SuccessfulDelete", "Deleted pod: ")
}

// testOrphanCascade: `kubectl delete --cascade=orphan` leaves the replica set and
// its pods, and no controller takes them back.
func testOrphanCascade(t *testing.T, s *framework.Server) {
	ctx := ctxT(t)
	c := s.Client
	ns := schedNamespace(t, c)
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, simDeployment("orph", 2, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := waitDeploymentDone(t, c, ns, "orph", 2)
	rs := deploymentReplicaSets(t, c, ns, d)[0]
	if out, err := s.KubectlErr("", "", "delete", "deployment", "orph", "-n", ns, "--cascade=orphan"); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	eventually(t, depTimeout, func() error {
		rs, err := c.AppsV1().ReplicaSets(ns).Get(ctx, rs.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(rs.OwnerReferences) != 0 {
			return fmt.Errorf("owner references %v", rs.OwnerReferences)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	if pods := activePodsOf(t, c, ns, rs.UID); len(pods) != 2 {
		t.Errorf("%d pods left, want 2", len(pods))
	}
}

// TestDeploymentSurvivesRestart kills the server mid-rollout; the restarted
// controllers finish the rollout from what is stored.
func TestDeploymentSurvivesRestart(t *testing.T) {
	s := schedServer(t)
	ctx := ctxT(t)
	ns := schedNamespace(t, s.Client)
	d := simDeployment("phoenix", 6, nil)
	one := intstr.FromInt32(1)
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &one}
	d.Spec.MinReadySeconds = 3 // each step of the rollout takes 3s: time to interrupt it
	if _, err := s.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d = waitDeploymentDone(t, s.Client, ns, "phoenix", 6)
	d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	if d, err := s.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	} else {
		// Crash once the rollout is under way: the new generation observed, some
		// replicas updated, old ones still there.
		eventually(t, depTimeout, func() error {
			cur, err := s.Client.AppsV1().Deployments(ns).Get(ctx, "phoenix", metav1.GetOptions{})
			if err != nil {
				return err
			}
			st := cur.Status
			if st.ObservedGeneration < d.Generation || st.UpdatedReplicas < 1 || st.UpdatedReplicas == st.Replicas {
				return fmt.Errorf("rollout not under way: %+v", st)
			}
			return nil
		})
	}
	s.Kill()
	s.Restart(t)
	d = waitDeploymentDone(t, s.Client, ns, "phoenix", 6)
	rss := deploymentReplicaSets(t, s.Client, ns, d)
	if len(rss) != 2 || *rss[0].Spec.Replicas != 0 || *rss[1].Spec.Replicas != 6 || rss[1].Spec.Template.Spec.Containers[0].Image != "busybox:2" {
		t.Fatalf("after restart: %s", rsSummary(rss))
	}
	if err := conditionIs(d, appsv1.DeploymentProgressing, corev1.ConditionTrue, "NewReplicaSetAvailable",
		fmt.Sprintf("ReplicaSet %q has successfully progressed.", rss[1].Name)); err != nil {
		t.Error(err)
	}
}

// Helpers.

func simDeployment(name string, replicas int32, annotations map[string]string) *appsv1.Deployment {
	l := map[string]string{"app": name}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l, Annotations: annotations},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}}}}}
}

// waitDeploymentDone waits until the deployment's status says every one of n
// replicas is updated and available, with the generation observed.
func waitDeploymentDone(t *testing.T, c kubernetes.Interface, ns, name string, n int32) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	eventually(t, depTimeout, func() error {
		var err error
		d, err = c.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := d.Status
		if st.ObservedGeneration != d.Generation || st.Replicas != n || st.UpdatedReplicas != n ||
			st.ReadyReplicas != n || st.AvailableReplicas != n || st.UnavailableReplicas != 0 {
			return fmt.Errorf("status %+v (generation %d)", st, d.Generation)
		}
		return nil
	})
	return d
}

func waitReplicaSetReady(t *testing.T, c kubernetes.Interface, ns, name string, n int32) {
	t.Helper()
	eventually(t, depTimeout, func() error {
		rs, err := c.AppsV1().ReplicaSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := rs.Status
		if st.ObservedGeneration != rs.Generation || st.Replicas != n || st.ReadyReplicas != n || st.AvailableReplicas != n || st.FullyLabeledReplicas != n {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
}

// deploymentReplicaSets are the replica sets d controls, oldest first.
func deploymentReplicaSets(t *testing.T, c kubernetes.Interface, ns string, d *appsv1.Deployment) []*appsv1.ReplicaSet {
	t.Helper()
	list, err := c.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*appsv1.ReplicaSet
	for i := range list.Items {
		if ref := metav1.GetControllerOf(&list.Items[i]); ref != nil && ref.UID == d.UID {
			out = append(out, &list.Items[i])
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Annotations["deployment.kubernetes.io/revision"] < out[j].Annotations["deployment.kubernetes.io/revision"]
	})
	return out
}

func rsSummary(rss []*appsv1.ReplicaSet) string {
	var b strings.Builder
	for _, rs := range rss {
		fmt.Fprintf(&b, "%s(rev %s, %d replicas, %s) ", rs.Name, rs.Annotations["deployment.kubernetes.io/revision"],
			*rs.Spec.Replicas, rs.Spec.Template.Spec.Containers[0].Image)
	}
	return b.String()
}

// activePodsOf are the pods controlled by owner that are not being deleted.
func activePodsOf(t *testing.T, c kubernetes.Interface, ns string, owner types.UID) []*corev1.Pod {
	t.Helper()
	list, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labels.Everything().String()})
	if err != nil {
		t.Fatal(err)
	}
	var out []*corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == owner && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func wantAnnotations(t *testing.T, obj metav1.Object, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := obj.GetAnnotations()[k]; got != v {
			t.Errorf("%s: annotation %s = %q, want %q", obj.GetName(), k, got, v)
		}
	}
}

func conditionIs(d *appsv1.Deployment, typ appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, message string) error {
	for _, c := range d.Status.Conditions {
		if c.Type == typ {
			if c.Status != status || c.Reason != reason || c.Message != message {
				return fmt.Errorf("condition %s: %s %s %q", typ, c.Status, c.Reason, c.Message)
			}
			return nil
		}
	}
	return fmt.Errorf("no %s condition in %+v", typ, d.Status.Conditions)
}

func wantCondition(t *testing.T, d *appsv1.Deployment, typ appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, message string) {
	t.Helper()
	if err := conditionIs(d, typ, status, reason, message); err != nil {
		t.Error(err)
	}
}

// waitEvent waits for an event on the object with the reason and a message
// starting with message.
func waitEvent(t *testing.T, c kubernetes.Interface, ns, kind, name, reason, message string) *corev1.Event {
	t.Helper()
	var found *corev1.Event
	eventually(t, depTimeout, func() error {
		list, err := c.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		var seen []string
		for i := range list.Items {
			e := &list.Items[i]
			if e.InvolvedObject.Kind != kind || e.InvolvedObject.Name != name {
				continue
			}
			seen = append(seen, e.Reason+": "+e.Message)
			if e.Reason == reason && strings.HasPrefix(e.Message, message) {
				found = e
				return nil
			}
		}
		return fmt.Errorf("no %s %q event on %s %s; saw %q", reason, message, kind, name, seen)
	})
	return found
}

// regexpLine reports whether out has a line whose first field is rev and whose
// rest is cause (any rest when cause is empty).
func regexpLine(out, rev, cause string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != rev {
			continue
		}
		if cause == "" || strings.Join(f[1:], " ") == cause {
			return true
		}
	}
	return false
}
