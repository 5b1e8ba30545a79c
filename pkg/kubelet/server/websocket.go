package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	crremote "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"
)

// v5Protocol is the WebSocket remote-command protocol with stream close, which
// client-go's WebSocket executor (kubectl's default) speaks. k8s.io/cri-streaming
// stops at v4, and upstream's kubelet relies on the apiserver translating v5 to SPDY;
// serving it here lets clients talk to the kubelet directly too.
const v5Protocol = "v5.channel.k8s.io"

// Channel numbers of the remote-command protocols.
const (
	chStdin = iota
	chStdout
	chStderr
	chError
	chResize
)

type sessionFunc func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, resize <-chan crremote.TerminalSize) error

// serveWebSocketV5 upgrades to v5.channel.k8s.io, runs the session and reports its
// outcome as a v1 Status on the error channel, as the v4 protocol does.
func serveWebSocketV5(w http.ResponseWriter, r *http.Request, opts *crremote.Options, idle time.Duration, run sessionFunc) {
	ch := func(on bool, c wsstream.ChannelType) wsstream.ChannelType {
		if on {
			return c
		}
		return wsstream.IgnoreChannel
	}
	channels := []wsstream.ChannelType{
		ch(opts.Stdin, wsstream.ReadChannel),
		ch(opts.Stdout, wsstream.WriteChannel),
		ch(opts.Stderr && !opts.TTY, wsstream.WriteChannel),
		wsstream.WriteChannel,
		ch(opts.TTY, wsstream.ReadChannel),
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		v5Protocol: {Binary: true, Channels: channels},
	})
	conn.SetIdleTimeout(idle)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		return // Open has answered the client
	}
	defer conn.Close()
	// An empty frame on the first writable channel tells the client the session is up.
	switch {
	case opts.Stdout:
		_, _ = streams[chStdout].Write(nil)
	case opts.Stderr && !opts.TTY:
		_, _ = streams[chStderr].Write(nil)
	default:
		_, _ = streams[chError].Write(nil)
	}
	var in io.Reader
	var out, errw io.WriteCloser
	if opts.Stdin {
		in = streams[chStdin]
	}
	if opts.Stdout {
		out = streams[chStdout]
	}
	if opts.Stderr && !opts.TTY {
		errw = streams[chStderr]
	}
	var resize chan crremote.TerminalSize
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if opts.TTY {
		resize = make(chan crremote.TerminalSize)
		go relayResize(ctx, streams[chResize], resize)
	}
	err = run(ctx, in, out, errw, resize)
	b, _ := json.Marshal(sessionStatus(err))
	_, _ = streams[chError].Write(b)
}

func relayResize(ctx context.Context, r io.Reader, out chan<- crremote.TerminalSize) {
	defer close(out)
	dec := json.NewDecoder(r)
	for {
		var sz crremote.TerminalSize
		if err := dec.Decode(&sz); err != nil {
			return
		}
		select {
		case out <- sz:
		case <-ctx.Done():
			return
		}
	}
}

// sessionStatus is the Status the remote-command protocols end a session with.
func sessionStatus(err error) *metav1.Status {
	if err == nil {
		return &metav1.Status{Status: metav1.StatusSuccess}
	}
	if ee, ok := err.(utilexec.ExitError); ok && ee.Exited() {
		return &metav1.Status{
			Status:  metav1.StatusFailure,
			Reason:  crremote.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", ee),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{
				Type: crremote.ExitCodeCauseType, Message: fmt.Sprint(ee.ExitStatus()),
			}}},
		}
	}
	st := apierrors.NewInternalError(fmt.Errorf("error executing command in container: %w", err)).ErrStatus
	return &st
}
