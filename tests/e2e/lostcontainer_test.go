package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestLostContainer removes a pod's task behind skiff's back while skiff is
// down (as a containerd restart can lose it): the restarted agent reports
// the container as upstream does, terminated ContainerStatusUnknown with
// exit code 137, and starts it again even under restartPolicy Never.
func TestLostContainer(t *testing.T) {
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Skip("needs ctr")
	}
	n := kubeletStart(t)
	n.createPod(t, "lost", corev1.RestartPolicyNever, "sleep", "3600")
	got := n.waitPod(t, "lost", "Running", podRunning)
	id := strings.TrimPrefix(got.Status.ContainerStatuses[0].ContainerID, "containerd://")

	n.s.Kill()
	ctr := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ctr", append([]string{"-a", n.ctdSock, "-n", "k8s.io"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ctr("task", "kill", "-s", "SIGKILL", id)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("ctr", "-a", n.ctdSock, "-n", "k8s.io", "task", "delete", id).CombinedOutput()
		if lst, _ := exec.Command("ctr", "-a", n.ctdSock, "-n", "k8s.io", "task", "ls", "-q").Output(); !strings.Contains(string(lst), id) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s not deleted: %s", id, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	n.s.Restart(t)
	n.waitReady(t)
	got = n.waitPod(t, "lost", "restarted", func(p *corev1.Pod) bool {
		return podRunning(p) && p.Status.ContainerStatuses[0].RestartCount == 1
	})
	cs := got.Status.ContainerStatuses[0]
	last := cs.LastTerminationState.Terminated
	if last == nil || last.Reason != "ContainerStatusUnknown" || last.ExitCode != 137 ||
		last.Message != "The container could not be located when the pod was deleted.  The container used to be Running" ||
		last.ContainerID != "containerd://"+id || cs.ContainerID == "containerd://"+id {
		t.Errorf("status after the task was lost: %+v", cs)
	}
	if got.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s", got.Status.Phase)
	}
}
