package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// probeKind is readiness, liveness or startup.
type probeKind string

const (
	readiness probeKind = "Readiness"
	liveness  probeKind = "Liveness"
	startup   probeKind = "Startup"
)

// probeResults are the probe outcomes of one running container, which
// status generation reads.
type probeResults struct {
	ready, started bool
}

// probeManager runs one prober goroutine per probe of each running
// container, as upstream's prober workers, and keeps their results.
type probeManager struct {
	mu      sync.Mutex
	workers map[probeKey]context.CancelFunc
	results map[string]*probeResults // by container ID
}

type probeKey struct {
	containerID string
	kind        probeKind
}

// resultsFor returns whether the container counts as started and ready:
// without a startup probe it started when it runs; without a readiness
// probe it is ready once started.
func (m *probeManager) resultsFor(c *corev1.Container, id string) (started, ready bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.results[id]
	started = c.StartupProbe == nil || (r != nil && r.started)
	if !started {
		return false, false
	}
	ready = c.ReadinessProbe == nil || (r != nil && r.ready)
	return started, ready
}

// ensureProbes starts the probers of a running container and stops those of
// containers that no longer run.
func (k *Kubelet) ensureProbes(ctx context.Context, pod *corev1.Pod, pr *podRuntime) {
	m := &k.probes
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.workers == nil {
		m.workers = map[probeKey]context.CancelFunc{}
		m.results = map[string]*probeResults{}
	}
	running := map[string]bool{}
	containers := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for i := range containers {
		c := &containers[i]
		st := pr.latest[c.Name]
		if st == nil || st.State != runtime.StateRunning || pod.DeletionTimestamp != nil {
			continue
		}
		running[st.ID] = true
		if m.results[st.ID] == nil {
			m.results[st.ID] = &probeResults{}
		}
		for kind, p := range map[probeKind]*corev1.Probe{readiness: c.ReadinessProbe, liveness: c.LivenessProbe, startup: c.StartupProbe} {
			key := probeKey{st.ID, kind}
			if p == nil || m.workers[key] != nil {
				continue
			}
			wctx, cancel := context.WithCancel(ctx)
			m.workers[key] = cancel
			go k.runProbe(wctx, pod, c.DeepCopy(), st.ID, kind, p.DeepCopy(), pr.ips)
		}
	}
	// Stop the probers of this pod's containers that are gone.
	for key, cancel := range m.workers {
		if !running[key.containerID] && k.containerOfPod(pr, key.containerID) {
			cancel()
			delete(m.workers, key)
			delete(m.results, key.containerID)
		}
	}
}

// stopProbes stops every prober of a pod being removed.
func (k *Kubelet) stopProbes(pr *podRuntime) {
	m := &k.probes
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, cancel := range m.workers {
		if k.containerOfPod(pr, key.containerID) {
			cancel()
			delete(m.workers, key)
			delete(m.results, key.containerID)
		}
	}
}

func (k *Kubelet) containerOfPod(pr *podRuntime, id string) bool {
	for _, c := range pr.all {
		if c.ID == id {
			return true
		}
	}
	return false
}

// runProbe probes every periodSeconds after initialDelaySeconds and records
// the result once successThreshold/failureThreshold is reached. A failed
// liveness (or startup) probe kills the container, which then restarts as
// its restart policy says.
func (k *Kubelet) runProbe(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, kind probeKind, p *corev1.Probe, ips []string) {
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	success, failure := int(max(p.SuccessThreshold, 1)), int(max(p.FailureThreshold, 1))
	if kind != readiness {
		success = 1 // the API requires 1 for liveness and startup
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(p.InitialDelaySeconds) * time.Second):
	}
	t := time.NewTicker(period)
	defer t.Stop()
	okRun, failRun := 0, 0
	for {
		if kind == liveness || kind == readiness {
			// Liveness and readiness wait for the startup probe.
			if started, _ := k.probes.resultsFor(c, id); !started && c.StartupProbe != nil {
				goto wait
			}
		}
		{
			pctx, cancel := context.WithTimeout(ctx, timeout)
			msg, ok := k.probeOnce(pctx, pod, c, id, p, ips)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if ok {
				okRun, failRun = okRun+1, 0
			} else {
				okRun, failRun = 0, failRun+1
				k.recorder.Eventf(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, msg)
			}
			switch {
			case ok && okRun >= success:
				if k.setProbeResult(id, kind, true) {
					k.queue.Add(pod.UID)
				}
				if kind == startup {
					return // a startup probe stops once it succeeded
				}
			case !ok && failRun >= failure:
				if k.setProbeResult(id, kind, false) {
					k.queue.Add(pod.UID)
				}
				if kind == liveness || kind == startup {
					msg := fmt.Sprintf("Container %s failed %s probe, will be restarted", c.Name, map[probeKind]string{liveness: "liveness", startup: "startup"}[kind])
					grace := gracePeriod(pod)
					if p.TerminationGracePeriodSeconds != nil {
						grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
					}
					if err := k.killContainer(context.Background(), pod, c, id, grace, msg, ips); err != nil {
						klog.FromContext(ctx).V(2).Info("Stopping unhealthy container", "container", id, "err", err)
					}
					k.queue.Add(pod.UID)
					return
				}
			}
		}
	wait:
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// setProbeResult records a result and says whether it changed.
func (k *Kubelet) setProbeResult(id string, kind probeKind, ok bool) bool {
	m := &k.probes
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.results[id]
	if r == nil {
		return false
	}
	switch kind {
	case readiness:
		changed := r.ready != ok
		r.ready = ok
		return changed
	case startup:
		changed := r.started != ok
		r.started = ok
		return changed
	}
	return false
}

// probeOnce runs one probe and returns a failure message.
func (k *Kubelet) probeOnce(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, p *corev1.Probe, ips []string) (string, bool) {
	host := ""
	if len(ips) > 0 {
		host = ips[0]
	}
	switch {
	case p.Exec != nil:
		var out bytes.Buffer
		code, err := k.rt.Exec(ctx, id, p.Exec.Command, runtime.ExecOptions{Stdout: &out, Stderr: &out})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Sprintf("command %q timed out", p.Exec.Command), false
			}
			return err.Error(), false
		}
		if code != 0 {
			return fmt.Sprintf("command %q exited with %d: %s", p.Exec.Command, code, out.String()), false
		}
		return "", true
	case p.HTTPGet != nil:
		g := p.HTTPGet
		if g.Host != "" {
			host = g.Host
		}
		req, err := newHTTPGetRequest(ctx, g, c, host, "kube-probe/"+k.cfg.KubeletVersion)
		if err != nil {
			return err.Error(), false
		}
		u := req.URL
		// Upstream's prober does not verify certificates and follows no
		// redirect to another host; a plain client is close enough here.
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Sprintf("Get %q: %v", u.String(), err), false
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode), false
		}
		return "", true
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return err.Error(), false
		}
		if p.TCPSocket.Host != "" {
			host = p.TCPSocket.Host
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Sprintf("dial tcp %s: %v", net.JoinHostPort(host, strconv.Itoa(port)), err), false
		}
		conn.Close()
		return "", true
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return k.probeGRPC(ctx, host, int(p.GRPC.Port), service)
	}
	return "missing probe handler", false
}

// resolvePort turns a probe's port (number or container port name) into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port: %v in %v", p.StrVal, c.Ports)
}
