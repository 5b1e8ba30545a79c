package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// errPostStartHook is the waiting reason of a container whose postStart
// hook failed (upstream's ErrPostStartHook).
var errPostStartHook = errors.New("PostStartHookError")

// hookClient sends the httpGet lifecycle hooks: like upstream's, it does not
// verify certificates.
var hookClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}

// runHook runs a lifecycle handler (exec, httpGet or sleep) for a started
// container and returns upstream's message when it fails.
func (k *Kubelet) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler, ips []string) (string, error) {
	switch {
	case h.Exec != nil:
		var out bytes.Buffer
		code, err := k.rt.Exec(ctx, id, h.Exec.Command, runtime.ExecOptions{Stdout: &out, Stderr: &out})
		if err == nil && code != 0 {
			err = fmt.Errorf("command '%s' exited with %d: %s", strings.Join(h.Exec.Command, " "), code, out.String())
		}
		if err != nil {
			return fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q", h.Exec.Command, c.Name, podDesc(pod), err, out.String()), err
		}
		return "", nil
	case h.HTTPGet != nil:
		if err := k.runHTTPHook(ctx, pod, c, h.HTTPGet, ips); err != nil {
			return fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, c.Name, podDesc(pod), err), err
		}
		return "", nil
	case h.Sleep != nil:
		t := time.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer t.Stop()
		select {
		case <-ctx.Done():
			err := errors.New("container terminated before sleep hook finished")
			return fmt.Sprintf("Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: %v", h.Sleep.Seconds, c.Name, podDesc(pod), err), err
		case <-t.C:
			return "", nil
		}
	}
	err := fmt.Errorf("invalid handler: %v", h)
	return fmt.Sprintf("Cannot run handler: %v", err), err
}

// runHTTPHook sends the hook's GET to the pod (or the handler's host). As
// upstream, only a failed request fails the hook, whatever the status code,
// and an HTTPS hook answered in plain HTTP is retried over HTTP.
func (k *Kubelet) runHTTPHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, g *corev1.HTTPGetAction, ips []string) error {
	host := g.Host
	if host == "" {
		if len(ips) == 0 {
			return fmt.Errorf("failed to find networking container: pod %q has no IP", pod.Name)
		}
		host = ips[0]
	}
	req, err := newHTTPGetRequest(ctx, g, c, host, "kube-lifecycle/"+k.cfg.KubeletVersion)
	if err != nil {
		return err
	}
	resp, err := hookClient.Do(req)
	discardBody(resp)
	var uerr *url.Error
	if errors.As(err, &uerr) && strings.Contains(uerr.Err.Error(), "server gave HTTP response to HTTPS client") {
		retry := req.Clone(ctx)
		retry.URL.Scheme = "http"
		retry.Header.Del("Authorization")
		resp, rerr := hookClient.Do(retry)
		discardBody(resp)
		if rerr == nil {
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "LifecycleHTTPFallback", "request to HTTPS lifecycle hook %s got HTTP response, retry with HTTP succeeded", req.URL.Host)
			err = nil
		}
	}
	return err
}

func discardBody(resp *http.Response) {
	if resp == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
}

// newHTTPGetRequest builds the GET of an httpGet probe or hook as upstream
// does: scheme, host and port, path, the handler's headers (a Host header
// sets the request's host) and the kubelet's User-Agent unless one is given.
func newHTTPGetRequest(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, host, userAgent string) (*http.Request, error) {
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		if _, set := req.Header[http.CanonicalHeaderKey(h.Name)]; set && (strings.EqualFold(h.Name, "User-Agent") || strings.EqualFold(h.Name, "Accept")) {
			req.Header.Del(h.Name)
		}
		req.Header.Add(h.Name, h.Value)
	}
	return req, nil
}

// killContainer stops one container as upstream's killContainer does: the
// Killing event (message, or "Stopping container <name>"), the preStop hook
// given at most the grace period, then the stop signal with the time left
// (never less than minKillGrace), then SIGKILL.
func (k *Kubelet) killContainer(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, id string, grace time.Duration, message string, ips []string) error {
	if pod != nil && k.recorder != nil {
		if message == "" {
			message = fmt.Sprintf("Stopping container %s", spec.Name)
		}
		k.recorder.Event(pod, corev1.EventTypeNormal, "Killing", message)
	}
	if pod != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil && grace > 0 {
		grace -= k.runPreStop(ctx, pod, spec, id, grace, ips)
	}
	if grace < minKillGrace {
		grace = minKillGrace
	}
	// Bounded, so that a stop that never hears of the exit fails and is
	// retried rather than holding the worker.
	sctx, cancel := context.WithTimeout(ctx, grace+stopSlack)
	defer cancel()
	return k.rt.StopContainer(sctx, id, grace)
}

// runPreStop runs the container's preStop hook for at most grace and
// returns the time it took, in whole seconds as upstream counts it.
func (k *Kubelet) runPreStop(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, id string, grace time.Duration, ips []string) time.Duration {
	start := time.Now()
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := k.runHook(hctx, pod, spec, id, spec.Lifecycle.PreStop, ips); err != nil && hctx.Err() == nil {
			klog.FromContext(ctx).V(2).Info("PreStop hook failed", "pod", klog.KObj(pod), "container", spec.Name, "err", err)
			// As upstream, the message stays out of the event: it may hold secrets.
			k.recorder.Event(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed")
		}
	}()
	t := time.NewTimer(grace)
	select {
	case <-done:
	case <-t.C:
		klog.FromContext(ctx).V(2).Info("PreStop hook not completed in grace period", "pod", klog.KObj(pod), "container", spec.Name, "grace", grace)
	case <-ctx.Done():
	}
	t.Stop()
	cancel()
	<-done
	return time.Since(start).Truncate(time.Second)
}

// runPostStart runs the container's postStart hook right after its start;
// on failure the container is killed (and restarted as its restart policy
// says) and waits with reason PostStartHookError, as upstream.
func (k *Kubelet) runPostStart(ctx context.Context, pod *corev1.Pod, w *podWorker, c *corev1.Container, id string, ips []string) error {
	// A deletion of the pod cuts the hook short (podChanged cancels it), as
	// upstream's pod worker cancels a sync when the pod is to terminate.
	hctx, cancel := context.WithCancel(ctx)
	k.mu.Lock()
	k.hookCancels[pod.UID] = cancel
	k.mu.Unlock()
	msg, err := k.runHook(hctx, pod, c, id, c.Lifecycle.PostStart, ips)
	k.mu.Lock()
	delete(k.hookCancels, pod.UID)
	k.mu.Unlock()
	terminating := hctx.Err() != nil && ctx.Err() == nil
	cancel()
	if err == nil {
		return nil
	}
	if terminating {
		return fmt.Errorf("postStart hook of container %q cut short: the pod is terminating", c.Name)
	}
	klog.FromContext(ctx).V(2).Info("PostStart hook failed", "pod", klog.KObj(pod), "container", c.Name, "err", err)
	k.recorder.Event(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed")
	if kerr := k.killContainer(ctx, pod, c, id, gracePeriod(pod), "FailedPostStartHook", ips); kerr != nil {
		klog.FromContext(ctx).V(2).Info("Killing container after its postStart hook failed", "pod", klog.KObj(pod), "container", c.Name, "err", kerr)
	}
	w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: errPostStartHook.Error(), Message: msg}
	return errPostStartHook
}
