package server

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/logs"
)

// logRequest is a parsed containerLogs query.
type logRequest struct {
	Previous bool
	Stream   string // All, Stdout or Stderr
	Read     logs.ReadOptions
}

// parseLogQuery reads the query the apiserver sends for pods/log, validating it as
// upstream's ValidatePodLogOptions does.
func parseLogQuery(q url.Values, now time.Time) (*logRequest, error) {
	lr := &logRequest{Stream: corev1.LogStreamAll}
	boolParam := func(k string) (bool, error) {
		v := q.Get(k)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("invalid %s %q: %w", k, v, err)
		}
		return b, nil
	}
	intParam := func(k string) (*int64, error) {
		v := q.Get(k)
		if v == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid %s %q: %w", k, v, err)
		}
		return &n, nil
	}
	var err error
	if lr.Read.Follow, err = boolParam("follow"); err != nil {
		return nil, err
	}
	if lr.Previous, err = boolParam("previous"); err != nil {
		return nil, err
	}
	if lr.Read.Timestamps, err = boolParam("timestamps"); err != nil {
		return nil, err
	}
	if lr.Read.Tail, err = intParam("tailLines"); err != nil {
		return nil, err
	}
	if lr.Read.LimitBytes, err = intParam("limitBytes"); err != nil {
		return nil, err
	}
	since, err := intParam("sinceSeconds")
	if err != nil {
		return nil, err
	}
	sinceTime := q.Get("sinceTime")
	switch {
	case since != nil && sinceTime != "":
		return nil, fmt.Errorf("at most one of `sinceTime` or `sinceSeconds` may be specified")
	case since != nil:
		if *since < 1 {
			return nil, fmt.Errorf("sinceSeconds: Invalid value: %d: must be greater than 0", *since)
		}
		lr.Read.Since = now.Add(-time.Duration(*since) * time.Second)
	case sinceTime != "":
		t, err := time.Parse(time.RFC3339, sinceTime)
		if err != nil {
			return nil, fmt.Errorf("invalid sinceTime %q: %w", sinceTime, err)
		}
		lr.Read.Since = t
	}
	if lr.Read.Tail != nil && *lr.Read.Tail < 0 {
		return nil, fmt.Errorf("tailLines: Invalid value: %d: must be greater than or equal to 0", *lr.Read.Tail)
	}
	if lr.Read.LimitBytes != nil && *lr.Read.LimitBytes < 1 {
		return nil, fmt.Errorf("limitBytes: Invalid value: %d: must be greater than 0", *lr.Read.LimitBytes)
	}
	if s := q.Get("stream"); s != "" {
		if s != corev1.LogStreamAll && s != corev1.LogStreamStdout && s != corev1.LogStreamStderr {
			return nil, fmt.Errorf("stream: Unsupported value: %q: supported values: %q, %q, %q", s, corev1.LogStreamAll, corev1.LogStreamStdout, corev1.LogStreamStderr)
		}
		if s != corev1.LogStreamAll && lr.Read.Tail != nil {
			return nil, fmt.Errorf("tailLines: Forbidden: `tailLines` and specific `stream` are mutually exclusive for now")
		}
		lr.Stream = s
	}
	return lr, nil
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func (s *Server) getContainerLogs(w http.ResponseWriter, r *http.Request) {
	container := r.PathValue("container")
	lr, err := parseLogQuery(r.URL.Query(), time.Now())
	if err != nil {
		http.Error(w, "invalid request: "+err.Error(), http.StatusUnprocessableEntity)
		return
	}
	pod, ok := s.cfg.Host.GetPodByName(r.PathValue("ns"), r.PathValue("pod"))
	if !ok {
		http.Error(w, fmt.Sprintf("Pod %q does not exist", r.PathValue("pod")), http.StatusNotFound)
		return
	}
	if !hasContainer(pod, container) {
		http.Error(w, fmt.Sprintf("Container %q not found in Pod %q", container, pod.Name), http.StatusNotFound)
		return
	}
	id, err := s.cfg.Host.ContainerID(pod, container, lr.Previous)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fw := &flushWriter{w: w, flush: lr.Read.Follow}
	if lr.Read.Follow {
		// A follower of a quiet container gets the headers now, so the apiserver's
		// stream (and kubectl logs -f) starts at once.
		w.WriteHeader(http.StatusOK)
		fw.wrote = true
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	var stdout, stderr io.Writer = fw, fw
	switch lr.Stream {
	case corev1.LogStreamStdout:
		stderr = io.Discard
	case corev1.LogStreamStderr:
		stdout = io.Discard
	}
	if err := s.cfg.Runtime.ReadContainerLogs(r.Context(), id, lr.Read, stdout, stderr); err != nil && !fw.wrote {
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
}

// flushWriter pushes every write to a follower at once.
type flushWriter struct {
	w     http.ResponseWriter
	flush bool
	wrote bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.wrote = true
	n, err := f.w.Write(p)
	if f.flush {
		if fl, ok := f.w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	return n, err
}
