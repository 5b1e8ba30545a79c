package agent

import (
	"context"
	"net"
	"strconv"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/dns"
)

// runDNS serves the cluster DNS on the node's InternalIP at DNSPort, which
// the host and the node's pods reach, and once it serves publishes it as
// the node's endpoint of the kube-dns Service (whose internalTrafficPolicy
// Local makes the proxy send each node's queries to its own DNS). It
// returns a func that waits until both have stopped with ctx.
func runDNS(ctx context.Context, cfg Config, rc *rest.Config) (wait func()) {
	log := klog.FromContext(ctx).WithName("dns")
	ctx = klog.NewContext(ctx, log)
	port := cfg.DNSPort
	if port == 0 {
		port = dns.DefaultPort
	}
	// Its own client (protobuf, as the kubelet's): its watches apart from the kubelet's.
	drc := rest.CopyConfig(rc)
	drc.UserAgent = "skiff/dns"
	client, err := kubernetes.NewForConfig(drc)
	if err != nil {
		log.Error(err, "Cluster DNS not started")
		return func() {}
	}
	srv, err := dns.NewServer(dns.Config{
		Client:        client,
		Addr:          net.JoinHostPort(cfg.NodeIP.String(), strconv.Itoa(port)),
		ClusterDomain: cfg.ClusterDomain,
		ClusterDNS:    cfg.ClusterDNS,
		ResolvConf:    cfg.ResolvConf,
		// The node's own pods and the host: a DNS on the node's address
		// must not be an open resolver for its network.
		AllowedClients: dnsClients(cfg),
	})
	if err != nil {
		log.Error(err, "Cluster DNS not started")
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		// Pods still run without cluster DNS (if the port is taken, say).
		if err := srv.Run(ctx); err != nil {
			log.Error(err, "Cluster DNS stopped")
		}
	}()
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			return
		case <-srv.Ready():
		}
		if err := dns.PublishEndpoint(ctx, client, cfg.NodeName, cfg.NodeIP, int32(port)); err != nil {
			log.Error(err, "Cluster DNS endpoint not published")
		}
	}()
	return wg.Wait
}

// dnsClients are the networks the node's DNS answers: the cluster's pods,
// loopback and the host's own addresses.
func dnsClients(cfg Config) []*net.IPNet {
	var nets []*net.IPNet
	if cfg.ClusterCIDR != nil {
		nets = append(nets, cfg.ClusterCIDR)
	}
	for _, c := range []string{"127.0.0.0/8", "::1/128"} {
		_, n, _ := net.ParseCIDR(c)
		nets = append(nets, n)
	}
	host := []net.IP{cfg.NodeIP}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				host = append(host, ipn.IP)
			}
		}
	}
	for _, ip := range host {
		bits := 128
		if ip.To4() != nil {
			ip, bits = ip.To4(), 32
		}
		nets = append(nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
	}
	return nets
}
