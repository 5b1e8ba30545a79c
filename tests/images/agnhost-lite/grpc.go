package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcHealth serves grpc.health.v1.Health on --port, SERVING for the server ("") and for
// --service; with --http-port, GET /make-serving and /make-not-serving flip both, as
// upstream agnhost's grpc-health-checking, so that tests can drive gRPC probes.
func grpcHealth(args []string) error {
	fs := flag.NewFlagSet("grpc-health", flag.ContinueOnError)
	port := fs.Int("port", 5000, "gRPC port")
	httpPort := fs.Int("http-port", 0, "HTTP port of the control endpoints (0: none)")
	service := fs.String("service", "", "a service name to report besides the server's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hs := health.NewServer()
	set := func(s healthpb.HealthCheckResponse_ServingStatus) {
		hs.SetServingStatus("", s)
		if *service != "" {
			hs.SetServingStatus(*service, s)
		}
		log.Printf("health status: %s", s)
	}
	set(healthpb.HealthCheckResponse_SERVING)
	if *httpPort != 0 {
		mux := http.NewServeMux()
		mux.HandleFunc("/make-serving", func(w http.ResponseWriter, r *http.Request) {
			set(healthpb.HealthCheckResponse_SERVING)
			io.WriteString(w, "SERVING")
		})
		mux.HandleFunc("/make-not-serving", func(w http.ResponseWriter, r *http.Request) {
			set(healthpb.HealthCheckResponse_NOT_SERVING)
			io.WriteString(w, "NOT_SERVING")
		})
		go func() { log.Fatal(http.ListenAndServe(":"+strconv.Itoa(*httpPort), mux)) }()
	}
	lis, err := net.Listen("tcp", ":"+strconv.Itoa(*port))
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	log.Printf("serving grpc.health.v1 on :%d", *port)
	return srv.Serve(lis)
}
