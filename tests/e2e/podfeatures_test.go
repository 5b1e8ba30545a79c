package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/network"
)

// TestPodFeatures runs pods through `skiff server`'s node agent for the
// pod features beyond the basics: lifecycle hooks, termination messages,
// gRPC probes, ephemeral containers (kubectl debug), /etc/hosts, sysctls,
// shared and host PID namespaces, and the image pull back-off.
func TestPodFeatures(t *testing.T) {
	// The Sysctls case sets one unsafe sysctl the node allows.
	n := kubeletStart(t, "--allowed-unsafe-sysctls", "kernel.msg*")
	n.waitImage(t, ctdBusyboxRef)

	// A server the hooks call; its log shows who called what.
	server := n.createSpec(t, "hook-server", corev1.PodSpec{Containers: []corev1.Container{
		agnhost("c", "serve-http", "--port", "8080")}})
	serverIP := n.waitPod(t, server.Name, "Running", podRunning).Status.PodIP

	t.Run("PostStart", func(t *testing.T) {
		t.Parallel()
		n.createSpec(t, "poststart-exec", hooked(&corev1.Lifecycle{PostStart: execHook("/agnhost-lite", "write-file", "/tmp/poststart", "done")}))
		n.createSpec(t, "poststart-http", hooked(&corev1.Lifecycle{PostStart: httpHook(serverIP, "/poststart")}))
		n.createSpec(t, "poststart-sleep", hooked(&corev1.Lifecycle{PostStart: sleepHook(2)}))
		n.createSpec(t, "poststart-fail", hooked(&corev1.Lifecycle{PostStart: execHook("/agnhost-lite", "exit", "3")}))
		n.createSpec(t, "poststart-hang", hooked(&corev1.Lifecycle{PostStart: sleepHook(600)}))

		n.waitPod(t, "poststart-exec", "Running", podRunning)
		if out := n.s.Kubectl(t, "exec", "poststart-exec", "--", "/agnhost-lite", "cat", "/tmp/poststart"); out != "done" {
			t.Errorf("postStart exec hook did not run before the container was reported running: %q", out)
		}
		n.waitPod(t, "poststart-http", "Running", podRunning)
		if log := n.logs(t, server.Name, "c"); !strings.Contains(log, "GET /poststart") || !strings.Contains(log, `"kube-lifecycle/`) {
			t.Errorf("postStart httpGet hook not seen by the server:\n%s", log)
		}
		// The container is reported running once its postStart hook returned.
		p := n.waitPod(t, "poststart-sleep", "Running", podRunning)
		started := p.Status.ContainerStatuses[0].State.Running.StartedAt.Time
		var created time.Time
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				created = c.LastTransitionTime.Time
			}
		}
		if created.Sub(started) < time.Second {
			t.Errorf("pod Ready %s after its container started, before its 2 s postStart sleep hook ended", created.Sub(started))
		}

		// Deleting a pod cuts its running postStart hook short.
		n.waitEvent(t, "poststart-hang", corev1.EventTypeNormal, "Started", "Started container c")
		start := time.Now()
		n.deletePod(t, "poststart-hang")
		if d := time.Since(start); d > 60*time.Second {
			t.Errorf("pod in a 600 s postStart hook took %s to delete", d)
		}

		// A failing hook kills the container, which restarts as its policy says.
		p = n.waitPod(t, "poststart-fail", "killed and restarted for its failing postStart hook", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount >= 1 &&
				p.Status.ContainerStatuses[0].LastTerminationState.Terminated != nil
		})
		n.waitEvent(t, "poststart-fail", corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed")
		n.waitEvent(t, "poststart-fail", corev1.EventTypeNormal, "Killing", "FailedPostStartHook")
		n.waitPod(t, "poststart-fail", "waiting as PostStartHookError or CrashLoopBackOff", func(p *corev1.Pod) bool {
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w != nil && (w.Reason == "PostStartHookError" && strings.Contains(w.Message, `Exec lifecycle hook ([/agnhost-lite exit 3]) for Container "c" in Pod "poststart-fail_default(`) ||
				w.Reason == "CrashLoopBackOff")
		})
	})

	t.Run("PreStop", func(t *testing.T) {
		t.Parallel()
		hostDir := t.TempDir()
		withOut := hooked(&corev1.Lifecycle{PreStop: execHook("/agnhost-lite", "write-file", "/out/prestop", "bye")})
		withOut.Volumes = []corev1.Volume{{Name: "out", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}}}
		withOut.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "out", MountPath: "/out"}}
		n.createSpec(t, "prestop-exec", withOut)
		n.createSpec(t, "prestop-http", hooked(&corev1.Lifecycle{PreStop: httpHook(serverIP, "/prestop")}))
		n.createSpec(t, "prestop-sleep", hooked(&corev1.Lifecycle{PreStop: sleepHook(3)}))
		// A hook longer than the grace period is cut short by the stop.
		long := hooked(&corev1.Lifecycle{PreStop: sleepHook(60)})
		long.TerminationGracePeriodSeconds = ptr.To(int64(3))
		n.createSpec(t, "prestop-long", long)
		n.createSpec(t, "prestop-fail", hooked(&corev1.Lifecycle{PreStop: execHook("/agnhost-lite", "exit", "1")}))

		names := []string{"prestop-exec", "prestop-http", "prestop-sleep", "prestop-long", "prestop-fail"}
		for _, name := range names {
			n.waitPod(t, name, "Running", podRunning)
		}
		type deleted struct {
			name string
			took time.Duration
		}
		done := make(chan deleted, len(names))
		for _, name := range names {
			go func() {
				start := time.Now()
				n.deletePod(t, name)
				done <- deleted{name, time.Since(start)}
			}()
		}
		took := map[string]time.Duration{}
		for range names {
			d := <-done
			took[d.name] = d.took
		}
		if b, err := os.ReadFile(filepath.Join(hostDir, "prestop")); err != nil || string(b) != "bye" {
			t.Errorf("preStop exec hook did not write its file: %q %v", b, err)
		}
		if log := n.logs(t, server.Name, "c"); !strings.Contains(log, "GET /prestop") {
			t.Errorf("preStop httpGet hook not seen by the server:\n%s", log)
		}
		if took["prestop-sleep"] < 3*time.Second {
			t.Errorf("pod with a 3 s preStop sleep hook gone after %s", took["prestop-sleep"])
		}
		if took["prestop-long"] > 40*time.Second {
			t.Errorf("pod with a 60 s preStop hook and a 3 s grace period took %s to go", took["prestop-long"])
		}
		n.waitEvent(t, "prestop-fail", corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed")
		n.waitEvent(t, "prestop-exec", corev1.EventTypeNormal, "Killing", "Stopping container c")
	})

	t.Run("TerminationMessage", func(t *testing.T) {
		t.Parallel()
		never := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}
		file := never
		file.Containers = []corev1.Container{agnhost("c", "write-file", "/dev/termination-log", "all done")}
		n.createSpec(t, "tm-file", file)

		custom := never
		custom.Containers = []corev1.Container{busybox("c", "echo -n boom > /tmp/why; echo noise; exit 2")}
		custom.Containers[0].TerminationMessagePath = "/tmp/why"
		custom.Containers[0].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
		n.createSpec(t, "tm-custom", custom)

		logs := never
		logs.Containers = []corev1.Container{busybox("c", "for i in $(seq 1 100); do echo line $i; done; exit 1")}
		logs.Containers[0].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
		n.createSpec(t, "tm-logs", logs)

		readFile := never
		readFile.Containers = []corev1.Container{busybox("c", "echo only in the log; exit 1")}
		n.createSpec(t, "tm-none", readFile)

		msg := func(name string) *corev1.ContainerStateTerminated {
			p := n.waitPod(t, name, "finished", func(p *corev1.Pod) bool { return isTerminalPhase(p.Status.Phase) })
			return p.Status.ContainerStatuses[0].State.Terminated
		}
		if m := msg("tm-file"); m == nil || m.Message != "all done" || m.ExitCode != 0 {
			t.Errorf("tm-file: %+v", m)
		}
		if m := msg("tm-custom"); m == nil || m.Message != "boom" || m.ExitCode != 2 {
			t.Errorf("tm-custom: %+v", m)
		}
		m := msg("tm-logs")
		var want strings.Builder
		for i := 21; i <= 100; i++ {
			fmt.Fprintf(&want, "line %d\n", i)
		}
		if m == nil || m.Message != want.String() {
			t.Errorf("tm-logs: want the last 80 lines of the log, got %+v", m)
		}
		if m := msg("tm-none"); m == nil || m.Message != "" || m.Reason != "Error" {
			t.Errorf("tm-none: %+v", m)
		}
	})

	t.Run("GRPCProbes", func(t *testing.T) {
		t.Parallel()
		probe := func(port int32) *corev1.Probe {
			return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: port}}, PeriodSeconds: 1, FailureThreshold: 1}
		}
		ready := agnhost("c", "grpc-health", "--port", "5000", "--http-port", "8080")
		ready.ReadinessProbe = probe(5000)
		n.createSpec(t, "grpc-ready", corev1.PodSpec{Containers: []corev1.Container{ready}})
		live := agnhost("c", "grpc-health", "--port", "5000")
		live.LivenessProbe = probe(5001)
		n.createSpec(t, "grpc-unlive", corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To(int64(2)), Containers: []corev1.Container{live}})

		p := n.waitPod(t, "grpc-ready", "Ready through a gRPC probe", podReady)
		httpGet(t, fmt.Sprintf("http://%s/make-not-serving", net.JoinHostPort(p.Status.PodIP, "8080")))
		n.waitPod(t, "grpc-ready", "not Ready once NOT_SERVING", func(p *corev1.Pod) bool { return !podReady(p) })
		n.waitEvent(t, "grpc-ready", corev1.EventTypeWarning, "Unhealthy", `Readiness probe failed: service unhealthy (responded with "NOT_SERVING")`)
		httpGet(t, fmt.Sprintf("http://%s/make-serving", net.JoinHostPort(p.Status.PodIP, "8080")))
		n.waitPod(t, "grpc-ready", "Ready again once SERVING", podReady)

		n.waitPod(t, "grpc-unlive", "restarted by its failing gRPC liveness probe", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
		n.waitEvent(t, "grpc-unlive", corev1.EventTypeWarning, "Unhealthy", "Liveness probe failed: error: failed to connect service at ")
	})

	t.Run("EphemeralContainers", func(t *testing.T) {
		t.Parallel()
		n.createSpec(t, "debugged", corev1.PodSpec{Containers: []corev1.Container{agnhost("c", "sleep", "infinity")}})
		n.waitPod(t, "debugged", "Running", podRunning)

		// In the target's PID namespace, ps sees the target's process.
		n.s.Kubectl(t, "debug", "pod/debugged", "--image="+ctdBusyboxRef, "--target=c", "-c", "dbg", "--", "ps")
		p := n.waitPod(t, "debugged", "ephemeral container dbg finished", func(p *corev1.Pod) bool {
			return len(p.Status.EphemeralContainerStatuses) == 1 && p.Status.EphemeralContainerStatuses[0].State.Terminated != nil
		})
		if st := p.Status.EphemeralContainerStatuses[0]; st.Name != "dbg" || st.State.Terminated.ExitCode != 0 || st.Ready {
			t.Errorf("dbg status %+v", st)
		}
		if log := n.logs(t, "debugged", "dbg"); !strings.Contains(log, "agnhost-lite sleep infinity") {
			t.Errorf("ps in the target's PID namespace does not show its process:\n%s", log)
		}
		// kubectl debug -i attaches to the new container.
		out, err := n.s.KubectlErr("", "ps\nexit\n", "debug", "-i", "pod/debugged", "--image="+ctdBusyboxRef, "--target=c", "-c", "dbg2", "--", "sh")
		if err != nil || !strings.Contains(out, "agnhost-lite sleep infinity") {
			t.Errorf("kubectl debug -i: %v\n%s", err, out)
		}
		// kubectl debug -it, on a terminal (script(1) gives it one).
		if out, err := n.debugTTY(t, "dbg3"); err != nil || !strings.Contains(out, "agnhost-lite sleep infinity") {
			t.Errorf("kubectl debug -it: %v\n%s", err, out)
		}
		// The pod itself is untouched: its container still runs, unrestarted.
		p = n.waitPod(t, "debugged", "running", podRunning)
		if p.Status.ContainerStatuses[0].RestartCount != 0 || len(p.Status.EphemeralContainerStatuses) != 3 {
			t.Errorf("status after debugging %+v", p.Status)
		}
	})

	t.Run("EtcHosts", func(t *testing.T) {
		t.Parallel()
		spec := corev1.PodSpec{
			Hostname: "web", Subdomain: "sub",
			HostAliases: []corev1.HostAlias{{IP: "192.0.2.7", Hostnames: []string{"foo.test", "bar.test"}}},
			Containers:  []corev1.Container{agnhost("c", "sleep", "infinity")},
		}
		n.createSpec(t, "hosts", spec)
		p := n.waitPod(t, "hosts", "Running", podRunning)
		got := n.s.Kubectl(t, "exec", "hosts", "--", "/agnhost-lite", "cat", "/etc/hosts")
		want, err := network.HostsFile(p, []string{p.Status.PodIP}, "cluster.local", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("/etc/hosts:\n%s\nwant:\n%s", got, want)
		}
		for _, line := range []string{p.Status.PodIP + "\tweb.sub.default.svc.cluster.local\tweb\n", "192.0.2.7\tfoo.test\tbar.test\n"} {
			if !strings.Contains(got, line) {
				t.Errorf("/etc/hosts lacks %q", line)
			}
		}
		if h := n.s.Kubectl(t, "exec", "hosts", "--", "/agnhost-lite", "hostname"); strings.TrimSpace(h) != "web" {
			t.Errorf("hostname %q", h)
		}
	})

	t.Run("Sysctls", func(t *testing.T) {
		t.Parallel()
		hostPortStart, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
		if err != nil {
			t.Fatal(err)
		}
		// Safe ones (one named with slashes) and an allowed unsafe one,
		// set in the pod's namespaces for each of its containers.
		spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
				{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"},
				{Name: "net/ipv4/ip_local_port_range", Value: "40000 50000"},
				{Name: "kernel.msgmax", Value: "12345"},
			}},
			InitContainers: []corev1.Container{busybox("init", "cat /proc/sys/kernel/msgmax")},
			Containers: []corev1.Container{busybox("c",
				"cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ip_local_port_range /proc/sys/kernel/msgmax")},
		}
		n.createSpec(t, "sysctls", spec)
		if p := n.waitPod(t, "sysctls", "finished", func(p *corev1.Pod) bool { return isTerminalPhase(p.Status.Phase) }); p.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("phase %s: %+v", p.Status.Phase, p.Status.ContainerStatuses)
		}
		if got := n.logs(t, "sysctls", "c"); got != "0\n40000\t50000\n12345\n" {
			t.Errorf("sysctls in the container: %q", got)
		}
		if got := n.logs(t, "sysctls", "init"); got != "12345\n" {
			t.Errorf("kernel.msgmax in the init container: %q", got)
		}
		if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); string(now) != string(hostPortStart) {
			t.Errorf("the host's ip_unprivileged_port_start changed: %q, was %q", now, hostPortStart)
		}

		// An unsafe sysctl the node does not allow: the kubelet rejects
		// the pod, as upstream's.
		spec = corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "kernel.shmmax", Value: "1"}}},
			Containers: []corev1.Container{agnhost("c", "sleep", "infinity")}}
		n.createSpec(t, "sysctl-forbidden", spec)
		p := n.waitPod(t, "sysctl-forbidden", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if want := `Pod was rejected: forbidden sysctl: "kernel.shmmax" not allowlisted`; p.Status.Reason != "SysctlForbidden" || p.Status.Message != want {
			t.Errorf("status reason %q message %q, want SysctlForbidden %q", p.Status.Reason, p.Status.Message, want)
		}
		if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running != nil || p.Status.ContainerStatuses[0].ContainerID != "" {
			t.Errorf("a rejected pod's container ran: %+v", p.Status.ContainerStatuses)
		}
		n.waitEvent(t, "sysctl-forbidden", corev1.EventTypeWarning, "SysctlForbidden", `forbidden sysctl: "kernel.shmmax" not allowlisted`)

		// A net sysctl with hostNetwork: the API refuses the pod.
		spec = corev1.PodSpec{HostNetwork: true, SecurityContext: &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}}},
			Containers: []corev1.Container{agnhost("c", "sleep", "infinity")}}
		_, err = n.s.Client.CoreV1().Pods("default").Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sysctl-hostnet"}, Spec: spec}, metav1.CreateOptions{})
		if want := `spec.securityContext.sysctls[0].name: Invalid value: "net.core.somaxconn": may not be specified when 'hostNetwork' is true`; !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("hostNetwork pod with a net sysctl: %v, want 422 with %q", err, want)
		}
	})

	t.Run("ProcessNamespaces", func(t *testing.T) {
		t.Parallel()
		// shareProcessNamespace: each container sees the other's
		// processes, and PID 1 is the pod's holder, not a container's.
		spec := corev1.PodSpec{ShareProcessNamespace: ptr.To(true), Containers: []corev1.Container{
			agnhost("a", "sleep", "infinity"), busybox("b", "sleep 3600")}}
		pod := n.createSpec(t, "shared-pid", spec)
		n.waitPod(t, "shared-pid", "both running", allRunning)
		for _, c := range [][]string{{"-c", "a", "--", "/agnhost-lite", "cat", "/proc/1/comm"}, {"-c", "b", "--", "cat", "/proc/1/comm"}} {
			if out := n.s.Kubectl(t, append([]string{"exec", "shared-pid"}, c...)...); strings.TrimSpace(out) != "skiff-pause" {
				t.Errorf("PID 1 of container %s is %q, want the pod's holder skiff-pause", c[1], out)
			}
		}
		holder := holderOf(t, "pod"+string(pod.UID))
		first := pidOf(t, n.s.Kubectl(t, "exec", "shared-pid", "-c", "b", "--", "ps"), "agnhost-lite sleep infinity")

		// b kills a's process: a restarts into the same namespace, which
		// its holder kept, and b runs on.
		n.s.Kubectl(t, "exec", "shared-pid", "-c", "b", "--", "kill", first)
		p := n.waitPod(t, "shared-pid", "a restarted", func(p *corev1.Pod) bool {
			return allRunning(p) && p.Status.ContainerStatuses[0].RestartCount == 1
		})
		if rc := p.Status.ContainerStatuses[1].RestartCount; rc != 0 {
			t.Errorf("b restarted %d times", rc)
		}
		if second := pidOf(t, n.s.Kubectl(t, "exec", "shared-pid", "-c", "b", "--", "ps"), "agnhost-lite sleep infinity"); second == first {
			t.Errorf("a's process is still %s after its restart", second)
		}
		if h := holderOf(t, "pod"+string(pod.UID)); h != holder {
			t.Errorf("the holder changed from %d to %d", holder, h)
		}

		// kubectl debug --copy-to shares the copy's processes by default.
		n.createSpec(t, "copied", corev1.PodSpec{Containers: []corev1.Container{agnhost("c", "sleep", "infinity")}})
		n.waitPod(t, "copied", "Running", podRunning)
		n.s.Kubectl(t, "debug", "copied", "--copy-to=copied-debug", "--image="+ctdBusyboxRef, "-c", "dbg", "--", "sleep", "3600")
		n.waitPod(t, "copied-debug", "both running", allRunning)
		pidOf(t, n.s.Kubectl(t, "exec", "copied-debug", "-c", "dbg", "--", "ps"), "agnhost-lite sleep infinity")

		// hostPID: the host's namespace; without it or sharing, one's own.
		hostNS, err := os.Readlink("/proc/self/ns/pid")
		if err != nil {
			t.Fatal(err)
		}
		n.createSpec(t, "host-pid", corev1.PodSpec{HostPID: true, RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{busybox("c", "readlink /proc/self/ns/pid")}})
		n.createSpec(t, "own-pid", corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{busybox("c", "readlink /proc/self/ns/pid; cat /proc/1/comm")}})
		for _, name := range []string{"host-pid", "own-pid"} {
			if p := n.waitPod(t, name, "finished", func(p *corev1.Pod) bool { return isTerminalPhase(p.Status.Phase) }); p.Status.Phase != corev1.PodSucceeded {
				t.Fatalf("%s: phase %s: %+v", name, p.Status.Phase, p.Status.ContainerStatuses)
			}
		}
		if got := strings.TrimSpace(n.logs(t, "host-pid", "c")); got != hostNS {
			t.Errorf("hostPID container's PID namespace %q, want the host's %q", got, hostNS)
		}
		if got := strings.Fields(n.logs(t, "own-pid", "c")); len(got) != 2 || got[0] == hostNS || got[1] == "skiff-pause" {
			t.Errorf("own PID namespace and PID 1: %q, want one of its own with the container's process as PID 1", got)
		}

		// kubectl debug node/: a pod in the host's namespaces with its root
		// at /host sees the host's processes (this test's among them).
		out := n.s.Kubectl(t, "debug", "node/"+n.name, "--image="+ctdBusyboxRef, "--", "sh", "-c", "ps -o pid,comm; ls /host")
		m := regexp.MustCompile(`pod (node-debugger-\S+) with`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("kubectl debug node: %s", out)
		}
		n.waitPod(t, m[1], "finished", func(p *corev1.Pod) bool { return isTerminalPhase(p.Status.Phase) })
		if log := n.logs(t, m[1], "debugger"); !regexp.MustCompile(fmt.Sprintf(`(?m)^\s*%d\s`, os.Getpid())).MatchString(log) || !strings.Contains(log, "proc\n") {
			t.Errorf("the node debugger does not see the host's processes and root:\n%s", log)
		}

		// A finished pod's holder ends, as upstream's pause container does;
		// a deleted pod's too.
		done := n.createSpec(t, "shared-done", corev1.PodSpec{ShareProcessNamespace: ptr.To(true), RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{busybox("c", "true")}})
		n.waitPod(t, "shared-done", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		waitNoHolder(t, done.UID)
		n.deletePod(t, "shared-pid")
		waitNoHolder(t, pod.UID)
	})

	t.Run("ImagePullBackOff", func(t *testing.T) {
		t.Parallel()
		// Nothing listens on port 1: every pull fails at once.
		const image = "127.0.0.1:1/nope:1"
		n.createSpec(t, "pull-fail", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}})
		n.waitEvent(t, "pull-fail", corev1.EventTypeWarning, "Failed", fmt.Sprintf("Failed to pull image %q: ", image))
		n.waitEvent(t, "pull-fail", corev1.EventTypeWarning, "Failed", "Error: ErrImagePull")
		p := n.waitPod(t, "pull-fail", "waiting in ImagePullBackOff", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "ImagePullBackOff"
		})
		msg := p.Status.ContainerStatuses[0].State.Waiting.Message
		if !strings.HasPrefix(msg, fmt.Sprintf("Back-off pulling image %q: ErrImagePull: ", image)) || !strings.Contains(msg, "connection refused") {
			t.Errorf("ImagePullBackOff message %q", msg)
		}
		n.waitEvent(t, "pull-fail", corev1.EventTypeNormal, "BackOff", fmt.Sprintf("Back-off pulling image %q", image))
		n.waitEvent(t, "pull-fail", corev1.EventTypeWarning, "Failed", "Error: ImagePullBackOff")
		// The second pull comes once the first 10 s back-off passed.
		err := wait.PollUntilContextTimeout(context.Background(), time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
			return n.eventCount(t, "pull-fail", "Pulling") >= 2, nil
		})
		if err != nil {
			t.Errorf("no second pull after the back-off: %v", err)
		}
	})
}

// agnhost is a container of the test image running one of its commands.
func agnhost(name string, args ...string) corev1.Container {
	return corev1.Container{Name: name, Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever, Args: args}
}

// hooked is a pod spec whose one container sleeps, with lifecycle hooks.
func hooked(lc *corev1.Lifecycle) corev1.PodSpec {
	c := agnhost("c", "sleep", "infinity")
	c.Lifecycle = lc
	return corev1.PodSpec{Containers: []corev1.Container{c}}
}

func execHook(cmd ...string) *corev1.LifecycleHandler {
	return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}
}

// httpHook is a GET of path on host's port 8080.
func httpHook(host, path string) *corev1.LifecycleHandler {
	return &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Host: host, Port: intstr.FromInt32(8080), Path: path}}
}

func sleepHook(seconds int64) *corev1.LifecycleHandler {
	return &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: seconds}}
}

// busybox is a busybox container running a shell script.
func busybox(name, script string) corev1.Container {
	return corev1.Container{Name: name, Image: ctdBusyboxRef, ImagePullPolicy: corev1.PullNever, Command: []string{"sh", "-c", script}}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// createSpec creates a pod in default with spec (a 10 s grace period unless set).
func (n *kubeletNode) createSpec(t *testing.T, name string, spec corev1.PodSpec) *corev1.Pod {
	t.Helper()
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To(int64(10))
	}
	p, err := n.s.Client.CoreV1().Pods("default").Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// deletePod deletes a pod with its own grace period and waits until it is gone.
func (n *kubeletNode) deletePod(t *testing.T, name string) {
	pods := n.s.Client.CoreV1().Pods("default")
	if err := pods.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("delete %s: %v", name, err)
		return
	}
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("pod %s not gone: %v", name, err)
	}
}

// logs returns a container's log.
func (n *kubeletNode) logs(t *testing.T, pod, container string) string {
	t.Helper()
	b, err := n.s.Client.CoreV1().Pods("default").GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("logs of %s/%s: %v", pod, container, err)
	}
	return string(b)
}

func (n *kubeletNode) podEvents(t *testing.T, pod string) []corev1.Event {
	l, err := n.s.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", pod).String()})
	if err != nil {
		t.Fatalf("events of %s: %v", pod, err)
	}
	return l.Items
}

// waitEvent waits for an event of the pod with the type and reason whose
// message starts with prefix.
func (n *kubeletNode) waitEvent(t *testing.T, pod, typ, reason, prefix string) {
	t.Helper()
	var seen []string
	err := wait.PollUntilContextTimeout(context.Background(), 300*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		seen = seen[:0]
		for _, e := range n.podEvents(t, pod) {
			seen = append(seen, e.Type+" "+e.Reason+": "+e.Message)
			if e.Type == typ && e.Reason == reason && strings.HasPrefix(e.Message, prefix) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("pod %s: no %s %s event %q…: %v; events:\n%s", pod, typ, reason, prefix, err, strings.Join(seen, "\n"))
	}
}

// eventCount sums the counts of the pod's events with the reason.
func (n *kubeletNode) eventCount(t *testing.T, pod, reason string) int {
	c := 0
	for _, e := range n.podEvents(t, pod) {
		if e.Reason == reason {
			c += int(max(e.Count, 1))
		}
	}
	return c
}

// waitImage waits until the node reports the image.
func (n *kubeletNode) waitImage(t *testing.T, ref string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		node, err := n.s.Client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, img := range node.Status.Images {
			for _, name := range img.Names {
				if name == ref {
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("node %s never reported image %s: %v", n.name, ref, err)
	}
}

// debugTTY runs `kubectl debug -it` on pod debugged under script(1), which
// gives it a terminal, types ps once the shell is attached, then exits.
func (n *kubeletNode) debugTTY(t *testing.T, name string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("script"); err != nil {
		t.Log("no script(1): kubectl debug -it not tested")
		return "agnhost-lite sleep infinity", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "script", "-qec", fmt.Sprintf("%s kubectl debug -it pod/debugged --image=%s --target=c -c %s -- sh", n.s.Bin, ctdBusyboxRef, name), "/dev/null")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+n.s.Kubeconfig, "HOME="+n.s.DataDir)
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	var out ctdBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	// Type once the session is attached (kubectl says so), and again in
	// case the first line went to the terminal before kubectl read it.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "If you don't see a command prompt") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; i < 20 && !strings.Contains(out.String(), "agnhost-lite sleep infinity"); i++ {
		io.WriteString(in, "ps\r")
		time.Sleep(500 * time.Millisecond)
	}
	io.WriteString(in, "exit\r")
	err = cmd.Wait()
	in.Close()
	return out.String(), err
}

// allRunning reports whether the pod runs and all of its containers do.
func allRunning(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil {
			return false
		}
	}
	return true
}

// pidOf returns the PID of the process with args in ps's output.
func pidOf(t *testing.T, ps, args string) string {
	t.Helper()
	for _, l := range strings.Split(ps, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasSuffix(l, args) {
			return f[0]
		}
	}
	t.Fatalf("no process %q in:\n%s", args, ps)
	return ""
}

// holders returns the host PIDs of the PID namespace holders in a cgroup
// whose path contains cg (pod<uid> for a pod's).
func holders(cg string) []int {
	var out []int
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		cgroups, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if strings.TrimSpace(string(comm)) == "skiff-pause" && strings.Contains(string(cgroups), cg) && !strings.Contains(string(st), ") Z ") {
			out = append(out, pid)
		}
	}
	return out
}

// holderOf returns the one holder in a cgroup whose path contains cg.
func holderOf(t *testing.T, cg string) int {
	t.Helper()
	h := holders(cg)
	if len(h) != 1 {
		t.Fatalf("PID namespace holders in %s: %v, want one", cg, h)
	}
	return h[0]
}

// waitNoHolder waits until the pod with uid has no holder left.
func waitNoHolder(t *testing.T, uid types.UID) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return len(holders("pod"+string(uid))) == 0, nil
	})
	if err != nil {
		t.Errorf("pod %s: holders %v still run", uid, holders("pod"+string(uid)))
	}
}
