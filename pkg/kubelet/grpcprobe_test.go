package kubelet

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestProbeGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(lis)
	defer srv.Stop()
	port := lis.Addr().(*net.TCPAddr).Port

	bare, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	noHealth := grpc.NewServer()
	go noHealth.Serve(bare)
	defer noHealth.Stop()

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	k := &Kubelet{cfg: Config{KubeletVersion: "v1.37.2"}}
	for _, tc := range []struct {
		name, service string
		port          int
		ok            bool
		msg           string
	}{
		{"serving", "", port, true, ""},
		{"not serving", "down", port, false, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", "nope", port, false, "error: health rpc probe failed: "},
		{"no health service", "", bare.Addr().(*net.TCPAddr).Port, false, "this server does not implement the grpc health protocol (grpc.health.v1.Health): "},
		{"closed port", "", closedPort, false, "error: failed to connect service at "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			msg, ok := k.probeGRPC(ctx, "127.0.0.1", tc.port, tc.service)
			if ok != tc.ok || !strings.HasPrefix(msg, tc.msg) {
				t.Errorf("probe = %v %q, want %v %q…", ok, msg, tc.ok, tc.msg)
			}
		})
	}
}
