package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/kubelet/eviction"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	"github.com/skiff-k8s/skiff/pkg/kubelet/volume"
	"github.com/skiff-k8s/skiff/pkg/network"
)

// Upstream's container restart back-off.
const (
	initialBackoff = 10 * time.Second
	maxBackoff     = 5 * time.Minute
	// minKillGrace is used when a pod vanished from the API without the
	// kubelet stopping it (a force delete), as upstream's minimum.
	minKillGrace = 2 * time.Second
	// stopSlack is how long a stop may take beyond the grace period
	// (SIGKILL, the exit reaching the runtime).
	stopSlack = 30 * time.Second
	// volumeRefreshPeriod: configMap, secret and token updates reach
	// running pods within about this long (upstream's sync period is 1 min).
	volumeRefreshPeriod = time.Minute
	// sourceIdle is how long the watch of a ConfigMap or Secret no pod has
	// read lasts; longer than volumeRefreshPeriod, so those of running
	// pods' volumes stay watched.
	sourceIdle = 5 * time.Minute
)

// podWorker is the per-pod state that outlives one sync.
type podWorker struct {
	backoff map[string]*backoffEntry
	// waiting is why a container is not running, when the kubelet knows
	// better than the runtime (image pull errors, back-off, config errors).
	waiting map[string]corev1.ContainerStateWaiting
	// pulls is the image pull back-off, by image.
	pulls map[string]*pullBackoff
	// deadlineExceeded is set once activeDeadlineSeconds passed.
	deadlineExceeded bool
	// evicted is the eviction (or admission rejection) message, and
	// evictedReason its status reason; rejected marks an admission's
	// rejection. Set under Kubelet.mu (setEviction, reject), by the
	// eviction manager too.
	evicted       string
	evictedReason string
	rejected      bool
	// admitted is set once the pod passed admission.
	admitted bool
	// refreshed is when the pod's configMap/secret/projected volumes were
	// last re-projected.
	refreshed time.Time
	// written is the status last written for the pod, and writtenOver the
	// resourceVersion of the pod it replaced: while the informer still
	// shows that version, a status equal to written is not written again
	// (it would only meet a conflict), as upstream's status manager
	// compares with the status it last sent.
	written     *corev1.PodStatus
	writtenOver string
	// resize is the pod's resize conditions (resize.go); resizeRestart
	// the containers stopped for a resize, to start again at once.
	resize        resizeState
	resizeRestart map[string]bool
	// podCgroup is what the pod's cgroup was last set to, when
	// podCgroupSet.
	podCgroup    runtime.CgroupResources
	podCgroupSet bool
}

type backoffEntry struct {
	delay time.Duration
	// attempt is the container attempt the current delay was taken for.
	attempt int
}

// podRuntime is what the runtime has for a pod.
type podRuntime struct {
	sandbox *runtime.Sandbox
	ips     []string
	// latest and previous attempts of each container, by name.
	latest, previous map[string]*runtime.ContainerStatus
	all              []*runtime.ContainerStatus
}

func (k *Kubelet) worker(uid types.UID) *podWorker {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.workers[uid]
	if w == nil {
		w = &podWorker{backoff: map[string]*backoffEntry{}, waiting: map[string]corev1.ContainerStateWaiting{}}
		k.workers[uid] = w
	}
	return w
}

// livePod returns the pod as the informer has it now, nil when it is gone
// from the API (or never was).
func (k *Kubelet) livePod(uid types.UID) (last, live *corev1.Pod) {
	k.mu.Lock()
	last = k.pods[uid]
	k.mu.Unlock()
	if last == nil {
		return nil, nil
	}
	obj, ok, _ := k.podStore.GetByKey(last.Namespace + "/" + last.Name)
	if !ok {
		return last, nil
	}
	p := obj.(*corev1.Pod)
	if p.UID != uid {
		return last, nil
	}
	return last, p
}

// syncPod reconciles one pod with the runtime. requeue asks for another
// sync after a delay (back-off, deadline).
func (k *Kubelet) syncPod(ctx context.Context, uid types.UID) (requeue time.Duration, err error) {
	last, pod := k.livePod(uid)
	if pod == nil {
		// Gone from the API: stop and remove what is left, and forget it.
		if pr, err := k.podRuntime(ctx, uid); err == nil {
			k.stopProbes(pr)
		}
		if err := k.killPod(ctx, uid, last, minKillGrace); err != nil {
			return 0, err
		}
		if err := k.removePod(ctx, uid); err != nil {
			return 0, err
		}
		if err := k.allocs.set(uid, nil); err != nil {
			klog.FromContext(ctx).Info("Forgetting the pod's allocation failed", "pod", uid, "err", err)
		}
		k.mu.Lock()
		delete(k.pods, uid)
		delete(k.workers, uid)
		k.mu.Unlock()
		return 0, nil
	}
	w := k.worker(uid)
	pr, err := k.podRuntime(ctx, uid)
	if err != nil {
		return 0, err
	}

	if pod.DeletionTimestamp != nil {
		k.stopProbes(pr)
		return 0, k.terminatePod(ctx, pod, w, pr)
	}
	if isTerminal(pod.Status.Phase) {
		// A finished pod keeps its containers (for logs) until it is
		// deleted, but runs nothing and gives its IP back, as upstream's
		// kubelet stops a terminated pod's sandbox.
		if err := k.killPod(ctx, uid, pod, gracePeriod(pod)); err != nil {
			return 0, err
		}
		if pr.sandbox != nil && pr.sandbox.SharePID {
			// Its PID namespace's holder too, as upstream's pause container.
			if err := k.rt.StopPIDHolder(pr.sandbox.ID); err != nil {
				return 0, err
			}
		}
		return 0, k.teardownNetwork(ctx, uid)
	}
	// Eviction (pkg/kubelet/eviction) and admission: an evicted or
	// rejected pod is killed and fails with reason Evicted (or the
	// admission's, such as SysctlForbidden).
	if k.evictionOf(uid) != "" || pr.sandbox == nil && pod.Status.StartTime == nil && !k.admit(pod, w) {
		k.stopProbes(pr)
		if err := k.killPod(ctx, uid, pod, eviction.GracePeriod); err != nil {
			return 0, err
		}
		pr, _ = k.podRuntime(ctx, uid)
		return 0, k.updatePodStatus(ctx, pod, w, pr)
	}
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil && pod.Status.StartTime != nil {
		left := time.Until(pod.Status.StartTime.Add(time.Duration(*d) * time.Second))
		if left <= 0 || w.deadlineExceeded {
			if !w.deadlineExceeded {
				w.deadlineExceeded = true
				k.recorder.Eventf(pod, corev1.EventTypeNormal, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
			}
			if err := k.killPod(ctx, uid, pod, gracePeriod(pod)); err != nil {
				return 0, err
			}
			pr, _ = k.podRuntime(ctx, uid)
			return 0, k.updatePodStatus(ctx, pod, w, pr)
		}
		requeue = left
	}

	if pr.sandbox == nil {
		if pr, err = k.createSandbox(ctx, pod); err != nil {
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			_ = k.updatePodStatus(ctx, pod, w, &podRuntime{})
			return 0, err
		}
		w.podCgroup, w.podCgroupSet = podCgroupResources(pod), true // by ensurePodCgroup
	}
	vols, err := k.vol.Mount(ctx, pod)
	if err != nil {
		// As upstream: the pod waits in ContainerCreating with FailedMount events.
		k.recorder.Event(pod, corev1.EventTypeWarning, "FailedMount", err.Error())
		_ = k.updatePodStatus(ctx, pod, w, pr)
		return 0, err
	}
	if time.Since(w.refreshed) > volumeRefreshPeriod {
		if w.refreshed.IsZero() {
			w.refreshed = time.Now()
		} else if err := k.vol.Refresh(ctx, pod); err != nil {
			k.recorder.Event(pod, corev1.EventTypeWarning, "FailedMount", err.Error())
		} else {
			w.refreshed = time.Now()
		}
	}
	// New attempts of the containers get their allocated resources.
	allocPod := k.syncResize(ctx, pod, w, pr)
	r, serr := k.syncContainers(ctx, allocPod, w, pr, vols)
	if r > 0 && (requeue == 0 || r < requeue) {
		requeue = r
	}
	if pr, err = k.podRuntime(ctx, uid); err != nil {
		return 0, err
	}
	k.ensureProbes(ctx, pod, pr)
	if err := k.updatePodStatus(ctx, pod, w, pr); err != nil {
		return 0, err
	}
	return requeue, serr
}

func isTerminal(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }

// podRuntime reads the pod's sandbox and containers from the runtime.
func (k *Kubelet) podRuntime(ctx context.Context, uid types.UID) (*podRuntime, error) {
	pr := &podRuntime{latest: map[string]*runtime.ContainerStatus{}, previous: map[string]*runtime.ContainerStatus{}}
	sbs, err := k.sandboxes(ctx, uid)
	if err != nil {
		return nil, err
	}
	if len(sbs) == 0 {
		return pr, nil
	}
	pr.sandbox = sbs[len(sbs)-1]
	pr.ips = k.sandboxIPs(ctx, pr.sandbox)
	cs, err := k.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: pr.sandbox.ID})
	if err != nil {
		return nil, err
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Attempt < cs[j].Attempt })
	pr.all = cs
	for _, c := range cs {
		if cur := pr.latest[c.Name]; cur != nil {
			pr.previous[c.Name] = cur
		}
		pr.latest[c.Name] = c
	}
	return pr, nil
}

// sandboxIPs returns the pod IPs of a sandbox: the network's, or the
// node's for a hostNetwork pod.
func (k *Kubelet) sandboxIPs(ctx context.Context, sb *runtime.Sandbox) []string {
	var ips []string
	if sb.HostNetwork {
		if k.cfg.NodeIP != nil {
			ips = []string{k.cfg.NodeIP.String()}
		}
		return ips
	}
	if k.net != nil {
		if st, err := k.net.Status(ctx, sb.UID); err == nil {
			for _, ip := range st.IPs {
				ips = append(ips, ip.String())
			}
		}
	}
	return ips
}

// sandboxes returns the pod's sandboxes, oldest first.
func (k *Kubelet) sandboxes(ctx context.Context, uid types.UID) ([]*runtime.Sandbox, error) {
	all, err := k.rt.ListSandboxes(ctx, nil)
	if err != nil {
		return nil, err
	}
	var out []*runtime.Sandbox
	for _, sb := range all {
		if sb.UID == string(uid) {
			out = append(out, sb)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// createSandbox sets up the pod's network and records its sandbox.
func (k *Kubelet) createSandbox(ctx context.Context, pod *corev1.Pod) (*podRuntime, error) {
	req := network.PodNetworkRequest{UID: string(pod.UID), Namespace: pod.Namespace, Name: pod.Name, HostNetwork: pod.Spec.HostNetwork}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort > 0 && !pod.Spec.HostNetwork {
				proto := string(p.Protocol)
				if proto == "" {
					proto = "TCP"
				}
				req.PortMappings = append(req.PortMappings, network.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIP})
			}
		}
	}
	cfg := runtime.SandboxConfig{UID: string(pod.UID), Namespace: pod.Namespace, Name: pod.Name,
		HostNetwork: pod.Spec.HostNetwork, HostIPC: pod.Spec.HostIPC, HostPID: pod.Spec.HostPID,
		SharePID: pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace}
	// A bad hostname fails before the network is set up.
	var err error
	if cfg.Hostname, err = podHostname(pod, k.cfg.ClusterDomain); err != nil {
		return nil, err
	}
	if pod.Spec.HostNetwork {
		if k.cfg.NodeIP != nil {
			cfg.PodIPs = []string{k.cfg.NodeIP.String()}
		}
	} else {
		pn, err := k.net.SetupPod(ctx, req)
		if err != nil {
			return nil, err
		}
		cfg.NetNSPath = pn.NetnsPath
		for _, ip := range pn.IPs {
			cfg.PodIPs = append(cfg.PodIPs, ip.String())
		}
	}
	var nodeHosts []byte
	if pod.Spec.HostNetwork {
		cfg.Hostname = "" // the node's
		if nodeHosts, err = os.ReadFile("/etc/hosts"); err != nil {
			return nil, fmt.Errorf("read the node's /etc/hosts: %w", err)
		}
	}
	if cfg.Hosts, err = network.HostsFile(pod, cfg.PodIPs, k.cfg.ClusterDomain, nodeHosts); err != nil {
		return nil, err
	}
	dns, warnings := network.PodDNS(pod, k.hostDNS)
	for _, w := range warnings {
		if !w.OnNode {
			k.recorder.Event(pod, corev1.EventTypeWarning, w.Reason, w.Message)
		}
	}
	cfg.DNS = &runtime.DNSConfig{Servers: dns.Servers, Searches: dns.Searches, Options: dns.Options}
	cfg.CgroupParent = k.podCgroupParent(pod)
	if err := k.ensurePodCgroup(ctx, pod, cfg.CgroupParent); err != nil {
		return nil, err
	}
	if _, err := k.rt.CreateSandbox(ctx, cfg); err != nil {
		return nil, err
	}
	return k.podRuntime(ctx, pod.UID)
}

// podHostname is the containers' hostname: spec.hostname or the pod name,
// or with setHostnameAsFQDN its fully qualified name (at most 64 characters,
// as upstream).
func podHostname(pod *corev1.Pod, clusterDomain string) (string, error) {
	hostname, domain, err := network.PodHostnameAndDomain(pod, clusterDomain)
	if err != nil {
		return "", err
	}
	if pod.Spec.SetHostnameAsFQDN != nil && *pod.Spec.SetHostnameAsFQDN && domain != "" {
		fqdn := hostname + "." + domain
		const maxFQDN = 64
		if len(fqdn) > maxFQDN {
			return "", fmt.Errorf("failed to construct FQDN from pod hostname and cluster domain, FQDN %s is too long (%d characters is the max, %d characters requested)", fqdn, maxFQDN, len(fqdn))
		}
		return fqdn, nil
	}
	return hostname, nil
}

// syncContainers runs the init containers in order, then the containers,
// restarting those that exited as the restart policy says.
func (k *Kubelet) syncContainers(ctx context.Context, pod *corev1.Pod, w *podWorker, pr *podRuntime, vols map[string]volume.Mounted) (time.Duration, error) {
	var requeue time.Duration
	min := func(d time.Duration) {
		if d > 0 && (requeue == 0 || d < requeue) {
			requeue = d
		}
	}
	// Ephemeral containers start once and never restart. As upstream, they
	// come before the init containers, so that one can debug a pod whose
	// init containers fail.
	for i := range pod.Spec.EphemeralContainers {
		c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		if pr.latest[c.Name] == nil {
			min(k.startOrBackoff(ctx, pod, w, pr, vols, &c, nil, false))
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		latest := pr.latest[c.Name]
		if isSidecar(c) {
			if latest == nil || latest.State != runtime.StateRunning {
				min(k.startOrBackoff(ctx, pod, w, pr, vols, c, latest, true))
			}
			continue
		}
		switch {
		case latest != nil && latest.State == runtime.StateExited && latest.ExitCode == 0:
			continue
		case latest != nil && latest.State == runtime.StateRunning:
			return requeue, nil
		case latest == nil:
			min(k.startOrBackoff(ctx, pod, w, pr, vols, c, nil, true))
			return requeue, nil
		default: // failed
			if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				return requeue, nil
			}
			min(k.startOrBackoff(ctx, pod, w, pr, vols, c, latest, true))
			return requeue, nil
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest := pr.latest[c.Name]
		if latest != nil && latest.State == runtime.StateRunning {
			delete(w.waiting, c.Name)
			continue
		}
		if latest != nil && !w.resizeRestart[c.Name] && !shouldRestart(pod.Spec.RestartPolicy, latest) {
			continue
		}
		min(k.startOrBackoff(ctx, pod, w, pr, vols, c, latest, false))
	}
	k.pruneContainers(ctx, pr)
	return requeue, nil
}

// ephemeralTarget is the targetContainerName of the pod's ephemeral
// container name ("" for other containers).
func ephemeralTarget(pod *corev1.Pod, name string) string {
	for _, ec := range pod.Spec.EphemeralContainers {
		if ec.Name == name {
			return ec.TargetContainerName
		}
	}
	return ""
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// shouldRestart follows upstream's ShouldContainerBeRestarted for a
// container that is not running: one the runtime lost (unknown) always
// restarts, whatever the policy; an exited one as the policy says.
func shouldRestart(policy corev1.RestartPolicy, c *runtime.ContainerStatus) bool {
	switch c.State {
	case runtime.StateUnknown:
		return true
	case runtime.StateExited, runtime.StateCreated:
	default:
		return false
	}
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return c.ExitCode != 0
	}
	return true
}

// startOrBackoff starts the next attempt of a container unless its last
// attempt is in back-off; it returns when to look again.
func (k *Kubelet) startOrBackoff(ctx context.Context, pod *corev1.Pod, w *podWorker, pr *podRuntime, vols map[string]volume.Mounted, c *corev1.Container, latest *runtime.ContainerStatus, init bool) time.Duration {
	attempt := 0
	if latest != nil && w.resizeRestart[c.Name] {
		// Stopped for a resize: started again at once, its back-off as it was.
		attempt = latest.Attempt + 1
	} else if latest != nil {
		attempt = latest.Attempt + 1
		e := w.backoff[c.Name]
		if e != nil && e.attempt == latest.Attempt {
			finished := latest.FinishedAt
			if finished.IsZero() {
				finished = latest.CreatedAt
			}
			if left := time.Until(finished.Add(e.delay)); left > 0 {
				msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", e.delay, c.Name, pod.Name, pod.Namespace, pod.UID)
				if _, was := w.waiting[c.Name]; !was || w.waiting[c.Name].Reason != "CrashLoopBackOff" {
					k.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.Name, podDesc(pod))
				}
				w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}
				return left
			}
		}
		next := initialBackoff
		if e != nil {
			next = min(e.delay*2, maxBackoff)
		}
		w.backoff[c.Name] = &backoffEntry{delay: next, attempt: attempt}
		if latest.State == runtime.StateUnknown && latest.Pid != 0 {
			// As upstream, kill what may be left of a lost container
			// before its next attempt.
			if err := k.rt.StopContainer(ctx, latest.ID, 0); err != nil {
				klog.FromContext(ctx).V(2).Info("Stopping container in unknown state", "pod", klog.KObj(pod), "container", c.Name, "err", err)
			}
		}
	}
	if err := k.startContainer(ctx, pod, w, pr, vols, c, attempt); err != nil {
		delete(w.resizeRestart, c.Name) // what failed backs off as usual
		klog.FromContext(ctx).V(2).Info("Container start failed", "pod", klog.KObj(pod), "container", c.Name, "err", err)
		if left := w.pullBackoffLeft(c.Image, time.Now()); left > 0 {
			return left
		}
		if e := w.backoff[c.Name]; e != nil && latest == nil {
			return e.delay
		}
		return initialBackoff
	}
	delete(w.resizeRestart, c.Name)
	return 0
}

func podDesc(p *corev1.Pod) string { return fmt.Sprintf("%s_%s(%s)", p.Name, p.Namespace, p.UID) }

// startContainer pulls the image, creates and starts one attempt of a container.
func (k *Kubelet) startContainer(ctx context.Context, pod *corev1.Pod, w *podWorker, pr *podRuntime, vols map[string]volume.Mounted, c *corev1.Container, attempt int) error {
	img, err := k.ensureImage(ctx, pod, w, c)
	if err != nil {
		return err
	}
	cfg, err := k.containerConfig(ctx, pod, c, pr, vols, attempt)
	if err != nil {
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return err
	}
	cfg.Image = img.ID
	if target := ephemeralTarget(pod, c.Name); target != "" {
		t := pr.latest[target]
		if t == nil || t.State != runtime.StateRunning || t.Pid == 0 {
			err := fmt.Errorf("target container %q of ephemeral container %q is not running", target, c.Name)
			w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
			return err
		}
		cfg.TargetPID = t.Pid
	}
	id, err := k.rt.CreateContainer(ctx, pr.sandbox.ID, cfg)
	if err != nil {
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return err
	}
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container %s", c.Name)
	if err := k.rt.StartContainer(ctx, id); err != nil {
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "RunContainerError", Message: err.Error()}
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return err
	}
	delete(w.waiting, c.Name)
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		return k.runPostStart(ctx, pod, w, c, id, pr.ips)
	}
	return nil
}

// pruneContainers removes exited attempts older than the previous one
// (kept for `kubectl logs --previous`), as upstream's container GC.
func (k *Kubelet) pruneContainers(ctx context.Context, pr *podRuntime) {
	for _, c := range pr.all {
		if c.State != runtime.StateExited {
			continue
		}
		if l, p := pr.latest[c.Name], pr.previous[c.Name]; (l != nil && l.ID == c.ID) || (p != nil && p.ID == c.ID) {
			continue
		}
		if err := k.rt.RemoveContainer(ctx, c.ID); err == nil && c.Labels[labelTerminationMessageFile] != "" {
			_ = os.Remove(c.Labels[labelTerminationMessageFile])
		}
	}
}

func gracePeriod(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// killPod stops the pod's running containers in parallel, each with the
// grace period: its preStop hook, SIGTERM, then SIGKILL.
func (k *Kubelet) killPod(ctx context.Context, uid types.UID, pod *corev1.Pod, grace time.Duration) error {
	sbs, err := k.sandboxes(ctx, uid)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, sb := range sbs {
		cs, err := k.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sb.ID})
		if err != nil {
			return err
		}
		var ips []string
		for _, c := range cs {
			if c.State != runtime.StateRunning {
				continue
			}
			if ips == nil {
				ips = k.sandboxIPs(ctx, sb)
			}
			spec := containerSpec(pod, c.Name)
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				if err := k.killContainer(ctx, pod, spec, id, grace, "", ips); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}(c.ID)
		}
	}
	wg.Wait()
	return first
}

// containerSpec finds a container of the pod by name among its containers,
// init and ephemeral containers; a bare spec with the name when the pod is
// unknown or has no such container.
func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	if pod != nil {
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == name {
				return &pod.Spec.Containers[i]
			}
		}
		for i := range pod.Spec.InitContainers {
			if pod.Spec.InitContainers[i].Name == name {
				return &pod.Spec.InitContainers[i]
			}
		}
		for i := range pod.Spec.EphemeralContainers {
			if pod.Spec.EphemeralContainers[i].Name == name {
				c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
				return &c
			}
		}
	}
	return &corev1.Container{Name: name}
}

// removePod removes the pod's sandboxes (and their containers) and network.
func (k *Kubelet) removePod(ctx context.Context, uid types.UID) error {
	sbs, err := k.sandboxes(ctx, uid)
	if err != nil {
		return err
	}
	for _, sb := range sbs {
		if err := k.rt.RemoveSandbox(ctx, sb.ID); err != nil {
			return err
		}
	}
	if err := k.teardownNetwork(ctx, uid); err != nil {
		return err
	}
	return k.vol.Unmount(ctx, uid)
}

// teardownNetwork releases the pod's network (IP, namespace, host ports).
func (k *Kubelet) teardownNetwork(ctx context.Context, uid types.UID) error {
	if k.net == nil {
		return nil
	}
	if err := k.net.TeardownPod(ctx, string(uid)); err != nil && !errors.Is(err, network.ErrNotFound) {
		return err
	}
	return nil
}

// terminatePod stops a pod being deleted within its grace period, reports
// its final status, and then deletes the object for good as upstream's
// kubelet does (grace period 0, UID precondition).
func (k *Kubelet) terminatePod(ctx context.Context, pod *corev1.Pod, w *podWorker, pr *podRuntime) error {
	if err := k.killPod(ctx, pod.UID, pod, gracePeriod(pod)); err != nil {
		return err
	}
	pr, err := k.podRuntime(ctx, pod.UID)
	if err != nil {
		return err
	}
	if err := k.updatePodStatus(ctx, pod, w, pr); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := k.teardownNetwork(ctx, pod.UID); err != nil {
		return err
	}
	err = k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	return nil
}
