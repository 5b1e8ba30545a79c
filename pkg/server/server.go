// Package server wires `skiff server`: certificates, the datastore, the API server and
// the kubeconfigs, in that order, and shuts them down in reverse.
package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/agent"
	"github.com/skiff-k8s/skiff/pkg/apiserver"
	"github.com/skiff-k8s/skiff/pkg/datastore"
	"github.com/skiff-k8s/skiff/pkg/join"
	"github.com/skiff-k8s/skiff/pkg/pki"
)

// Options are the server's settings, as the flags spell them.
type Options struct {
	DataDir             string
	HTTPSPort           int
	BindAddress         net.IP
	AdvertiseAddress    net.IP
	TLSSANs             []string
	WriteKubeconfig     string
	WriteKubeconfigMode string
	DisableAgent        bool
	DatastoreEndpoint   string
	Token               string
	NodeName            string
	ClusterCIDR         string
	ServiceCIDR         string
	NodePortBase        int
	NodePortSize        int
	ClusterDNS          string
	ClusterDomain       string
	Disable             []string
	// DisableScheduler and DisableControllerManager turn those components off.
	DisableScheduler         bool
	DisableControllerManager bool
	// DebugAddress serves Go's profiles over plain HTTP on a loopback
	// address (empty: not served).
	DebugAddress string
	// SimNodes is the number of simulated nodes to run in the server (0: none).
	SimNodes int
	// Agent holds the node agent's own settings (runtime endpoint, run dir,
	// CNI bridge …); the rest of its config comes from the options above.
	Agent agent.Config
}

// Run starts the control plane and blocks until ctx is done.
func Run(ctx context.Context, o Options) error {
	start := time.Now()
	if o.DataDir == "" {
		return fmt.Errorf("--data-dir must not be empty")
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return err
	}
	serverDir := filepath.Join(dataDir, "server")
	if err := os.MkdirAll(serverDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	_, svcNet, err := net.ParseCIDR(o.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("--service-cidr: %w", err)
	}
	if svcNet.IP.To4() == nil {
		return fmt.Errorf("--service-cidr: only IPv4 is supported, got %s", o.ServiceCIDR)
	}
	if ones, bits := svcNet.Mask.Size(); bits-ones < 2 || bits-ones > 20 {
		return fmt.Errorf("--service-cidr: %s must hold between 4 and 2^20 addresses", o.ServiceCIDR)
	}
	if _, _, err := net.ParseCIDR(o.ClusterCIDR); err != nil {
		return fmt.Errorf("--cluster-cidr: %w", err)
	}
	// A bad registries.yaml stops the start, as it does k3s' (images).
	if !o.DisableAgent {
		if err := agent.CheckPrivateRegistry(o.Agent, dataDir); err != nil {
			return err
		}
	}
	if o.DebugAddress != "" {
		if err := serveDebug(ctx, o.DebugAddress); err != nil {
			return err
		}
	}
	if o.ClusterDNS == "" {
		o.ClusterDNS = indexedIP(svcNet, 10).String()
	}
	clusterDNS, err := clusterDNSService(o, svcNet)
	if err != nil {
		return err
	}
	firstIP := apiserver.FirstServiceIP(svcNet)
	advertise := o.AdvertiseAddress
	if advertise == nil {
		advertise = primaryIP()
	}

	names := servingNames(o, firstIP, advertise)
	bundle, err := pki.Ensure(filepath.Join(serverDir, "tls"), names)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}

	// JOIN: the token agents join with (`skiff agent --server … --token …`).
	tokenFile := filepath.Join(serverDir, "token")
	joinToken, err := join.EnsureServerToken(tokenFile, bundle.ServerCA, o.Token)
	if err != nil {
		return err
	}
	klog.InfoS("Join token written: nodes join with `skiff agent --server <url> --token <the file's contents>`",
		"file", tokenFile, "url", "https://"+net.JoinHostPort(advertise.String(), strconv.Itoa(o.HTTPSPort)))

	ds, err := datastore.Start(datastore.Config{DataDir: serverDir, Endpoint: o.DatastoreEndpoint})
	if err != nil {
		return err
	}
	defer ds.Stop()

	srv, err := apiserver.New(apiserver.Config{
		BindAddress:   o.BindAddress,
		Port:          o.HTTPSPort,
		PKI:           bundle,
		EtcdEndpoints: ds.Endpoints,
		ServiceCIDR:   svcNet,
		NodePortRange: apiserver.PortRange{Base: o.NodePortBase, Size: o.NodePortSize},
		ClusterDomain: o.ClusterDomain,
		ClusterDNS:    clusterDNS,
		AdvertiseIP:   advertise,
		JoinToken:     joinToken,
		APIAudiences:  []string{"https://kubernetes.default.svc." + o.ClusterDomain},
		ServiceAccount: apiserver.ServiceAccountConfig{
			Issuer:  "https://kubernetes.default.svc." + o.ClusterDomain,
			KeyFile: bundle.ServiceAccountKey,
		},
		OnReady: func() {
			klog.InfoS("skiff server is ready", "elapsed", time.Since(start).Round(time.Millisecond), "port", o.HTTPSPort)
		},
	})
	if err != nil {
		return err
	}
	server := "https://127.0.0.1:" + strconv.Itoa(o.HTTPSPort)
	if err := writeKubeconfigs(bundle, server, adminKubeconfigPath(dataDir), o.WriteKubeconfig, o.WriteKubeconfigMode); err != nil {
		return err
	}
	go trimMemory(ctx, 5*time.Second)
	// The components stop first: they are clients of the apiserver, which drains after.
	compCtx, stopComponents := context.WithCancel(ctx)
	defer stopComponents()
	comps := startComponents(compCtx, o, dataDir, bundle, svcNet)
	err = srv.Run(ctx)
	stopComponents()
	comps.wait()
	return err
}

// DisableDNS is the --disable name of the cluster DNS, as k3s names its
// CoreDNS: no kube-dns Service and no DNS server in the agents.
const DisableDNS = "coredns"

// clusterDNSService checks --cluster-dns and returns the address of the
// kube-dns Service to create, nil when the DNS is disabled.
func clusterDNSService(o Options, svcNet *net.IPNet) (net.IP, error) {
	ip := net.ParseIP(o.ClusterDNS)
	if ip == nil {
		return nil, fmt.Errorf("--cluster-dns: %q is not an IP address", o.ClusterDNS)
	}
	if !svcNet.Contains(ip) {
		return nil, fmt.Errorf("--cluster-dns: %s is not in --service-cidr %s", ip, svcNet)
	}
	if slices.Contains(o.Disable, DisableDNS) {
		return nil, nil
	}
	return ip, nil
}

// indexedIP is the i-th address of n: --cluster-dns defaults to the 10th
// of --service-cidr, as in k3s.
func indexedIP(n *net.IPNet, i uint32) net.IP {
	ip := n.IP.To4()
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3]) + i
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
}

func adminKubeconfigPath(dataDir string) string {
	return filepath.Join(dataDir, "server", "cred", "admin.kubeconfig")
}

// servingNames are the names the apiserver's certificate covers.
func servingNames(o Options, firstServiceIP, advertise net.IP) pki.Names {
	n := pki.Names{
		DNS: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + o.ClusterDomain},
		IPs: []net.IP{net.ParseIP("127.0.0.1"), firstServiceIP},
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		n.DNS = append(n.DNS, h)
	}
	if advertise != nil {
		n.IPs = append(n.IPs, advertise)
	}
	n.IPs = append(n.IPs, hostIPv4s()...)
	for _, s := range o.TLSSANs {
		if ip := net.ParseIP(s); ip != nil {
			n.IPs = append(n.IPs, ip)
		} else if s != "" {
			n.DNS = append(n.DNS, s)
		}
	}
	return n
}

// primaryIP is the host's first global unicast IPv4 address, or loopback when there
// is none; --advertise-address overrides it.
func primaryIP() net.IP {
	for _, ip := range hostIPv4s() {
		if ip.IsGlobalUnicast() {
			return ip
		}
	}
	return net.ParseIP("127.0.0.1").To4()
}

// hostIPv4s are the host's IPv4 addresses other than loopback, in interface order.
func hostIPv4s() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var ips []net.IP
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			ips = append(ips, ipn.IP.To4())
		}
	}
	return ips
}
