package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	crportforward "k8s.io/cri-streaming/pkg/streaming/portforward"
	crremote "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// streamCreationTimeout bounds how long a client takes to open its SPDY streams.
const streamCreationTimeout = crremote.DefaultStreamCreationTimeout

func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	s.serveRemoteCommand(w, r, true)
}

func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	s.serveRemoteCommand(w, r, false)
}

func (s *Server) serveRemoteCommand(w http.ResponseWriter, r *http.Request, exec bool) {
	opts, err := crremote.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pod, ok := s.pod(w, r)
	if !ok {
		return
	}
	container := r.PathValue("container")
	if !hasContainer(pod, container) {
		http.Error(w, fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name), http.StatusNotFound)
		return
	}
	cmd := r.URL.Query()[corev1.ExecCommandParam]
	if exec && len(cmd) == 0 {
		http.Error(w, "you must specify at least 1 command", http.StatusBadRequest)
		return
	}
	id, err := s.cfg.Host.ContainerID(pod, container, false)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	c := &containerStreamer{rt: s.cfg.Runtime, id: id}
	if wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
		serveWebSocketV5(w, r, opts, s.cfg.StreamIdleTimeout, func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, resize <-chan crremote.TerminalSize) error {
			if exec {
				return c.ExecInContainer(ctx, "", "", container, cmd, in, out, errw, opts.TTY, resize, 0)
			}
			return c.AttachContainer(ctx, "", "", container, in, out, errw, opts.TTY, resize)
		})
		return
	}
	name, uid := pod.Namespace+"/"+pod.Name, string(pod.UID)
	if exec {
		crremote.ServeExec(w, r, c, name, uid, container, cmd, opts, s.cfg.StreamIdleTimeout, streamCreationTimeout, crremote.SupportedStreamingProtocols)
	} else {
		crremote.ServeAttach(w, r, c, name, uid, container, opts, s.cfg.StreamIdleTimeout, streamCreationTimeout, crremote.SupportedStreamingProtocols)
	}
}

// containerStreamer runs exec and attach on one container through the Runtime, in the
// shapes k8s.io/cri-streaming calls.
type containerStreamer struct {
	rt Runtime
	id string
}

func (c *containerStreamer) ExecInContainer(ctx context.Context, _, _, _ string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan crremote.TerminalSize, _ time.Duration) error {
	opts, stop := execOptions(in, out, errw, tty, resize)
	defer stop()
	code, err := c.rt.Exec(ctx, c.id, cmd, opts)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

func (c *containerStreamer) AttachContainer(ctx context.Context, _, _, _ string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan crremote.TerminalSize) error {
	opts, stop := execOptions(in, out, errw, tty, resize)
	defer stop()
	return c.rt.Attach(ctx, c.id, opts)
}

// execOptions converts the streams; the stop function ends the resize relay.
func execOptions(in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan crremote.TerminalSize) (runtime.ExecOptions, func()) {
	opts := runtime.ExecOptions{TTY: tty}
	// Typed nils would look like streams to the runtime.
	if in != nil {
		opts.Stdin = in
	}
	if out != nil {
		opts.Stdout = out
	}
	if errw != nil {
		opts.Stderr = errw
	}
	if resize == nil {
		return opts, func() {}
	}
	sizes := make(chan runtime.TerminalSize)
	done := make(chan struct{})
	opts.Resize = sizes
	go func() {
		defer close(sizes)
		for {
			select {
			case <-done:
				return
			case sz, ok := <-resize:
				if !ok {
					return
				}
				select {
				case sizes <- runtime.TerminalSize{Width: sz.Width, Height: sz.Height}:
				case <-done:
					return
				}
			}
		}
	}()
	return opts, func() { close(done) }
}

func (s *Server) portForward(w http.ResponseWriter, r *http.Request) {
	opts, err := crportforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pod, ok := s.pod(w, r)
	if !ok {
		return
	}
	pf := portForwarder{host: s.cfg.Host, pod: pod}
	crportforward.ServePortForward(w, r, pf, pod.Namespace+"/"+pod.Name, string(pod.UID), opts, s.cfg.StreamIdleTimeout, streamCreationTimeout, crportforward.SupportedProtocols)
}

type portForwarder struct {
	host Host
	pod  *corev1.Pod
}

func (p portForwarder) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	return p.host.PortForward(ctx, p.pod, port, stream)
}
