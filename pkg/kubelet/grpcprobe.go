package kubelet

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// probeGRPC calls grpc.health.v1.Health/Check on the pod's port, in plain
// text as upstream's prober does, and passes only on SERVING. ctx carries
// the probe's timeout; the messages are upstream's.
func (k *Kubelet) probeGRPC(ctx context.Context, host string, port int, service string) (string, bool) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	timeout := time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d).Round(time.Second)
	}
	// The TCP connection is made here, so that a port nobody serves reads
	// as a connection failure (and grpc logs nothing of it); the client
	// uses that connection once and never redials.
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Sprintf("timeout: failed to connect service %q within %v: %+v", addr, timeout, ctx.Err()), false
		}
		return fmt.Sprintf("error: failed to connect service at %q: %+v", addr, err), false
	}
	dialed := make(chan net.Conn, 1)
	dialed <- raw
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithUserAgent("kube-probe/"+k.cfg.KubeletVersion),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
			select {
			case c := <-dialed:
				return c, nil
			default:
				return nil, fmt.Errorf("connection to %s closed", addr)
			}
		}))
	if err != nil {
		raw.Close()
		return fmt.Sprintf("error: failed to connect service at %q: %+v", addr, err), false
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(metadata.NewOutgoingContext(ctx, metadata.MD{}), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		if st, ok := status.FromError(err); ok {
			switch st.Code() {
			case codes.Unimplemented:
				return fmt.Sprintf("this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", st.Message()), false
			case codes.DeadlineExceeded:
				return fmt.Sprintf("timeout: health rpc did not complete within %v", timeout), false
			}
		}
		return fmt.Sprintf("error: health rpc probe failed: %+v", err), false
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String()), false
	}
	return "", true
}
