// Package agent runs skiff's node agent: it starts (or connects to)
// containerd, imports the node's image tarballs, and runs the kubelet
// (pkg/kubelet) with the pod network (pkg/network) and the runtime
// (pkg/kubelet/runtime), and the node's cluster DNS (pkg/dns, see
// runDNS). `skiff server` runs it in process unless
// --disable-agent; `skiff agent` runs it alone.
//
// Containerd is left running when the agent stops (as k3s does), so that
// pods survive a restart of skiff; the next agent adopts containerd and the
// kubelet re-adopts the pods' containers.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	ctrd "github.com/skiff-k8s/skiff/pkg/agent/containerd"
	"github.com/skiff-k8s/skiff/pkg/kubelet"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	kserver "github.com/skiff-k8s/skiff/pkg/kubelet/server"
	"github.com/skiff-k8s/skiff/pkg/network"
	"github.com/skiff-k8s/skiff/pkg/version"
)

// Defaults of Config.
const (
	DefaultRunDir = "/run/skiff"
	DefaultLogDir = "/var/log/pods"
	// DefaultKubeletPort is upstream's kubelet API port.
	DefaultKubeletPort = 10250
)

// Config is the agent's configuration.
type Config struct {
	// DataDir is skiff's data dir; the agent keeps its files in <DataDir>/agent.
	DataDir string
	// NodeName is the node's name; the hostname when empty.
	NodeName string
	// NodeIP is the node's InternalIP; the primary IP when nil.
	NodeIP net.IP
	// Kubeconfig authenticates the kubelet to the apiserver (a node
	// identity, system:node:<name>).
	Kubeconfig string
	// ClusterCIDR is the cluster's pod range (masquerade boundary).
	ClusterCIDR *net.IPNet
	// ClusterDNS and ClusterDomain go into pods' resolv.conf.
	ClusterDNS    []net.IP
	ClusterDomain string
	// ContainerRuntimeEndpoint is an existing containerd's socket; empty
	// starts and supervises the agent's own.
	ContainerRuntimeEndpoint string
	// ImagesDir holds image tarballs imported at start and when added;
	// <DataDir>/agent/images when empty.
	ImagesDir string
	// RunDir holds state that must survive an agent restart but not a
	// reboot (containerd's state and socket, the runtime's FIFOs);
	// DefaultRunDir when empty. Tests put it under a temp dir.
	RunDir string
	// LogDir holds the pods' logs; DefaultLogDir when empty.
	LogDir string
	// BridgeName and NetnsDir are the pod network's (see network.Config).
	BridgeName, NetnsDir string
	// CgroupRoot is the parent cgroup of the pods (runtime's default when empty).
	CgroupRoot string
	// ControlPlane marks the node as the server's.
	ControlPlane bool
	// Labels are extra node labels.
	Labels map[string]string
	// KubeletPort is the kubelet API's port; 10250 when zero.
	KubeletPort int
	// ServingCertFile and ServingKeyFile are the kubelet API's serving
	// certificate (signed by the CA the apiserver trusts for kubelets), and
	// ClientCAFile the CA of the clients it accepts (the apiserver's). The
	// kubelet API is not served without them.
	ServingCertFile, ServingKeyFile, ClientCAFile string
	// StopContainerd stops the supervised containerd (and so every pod)
	// when the agent stops, instead of leaving it running for the next agent.
	StopContainerd bool
	// DNSPort is the port of the node's cluster DNS, on NodeIP (see runDNS);
	// dns.DefaultPort when zero.
	DNSPort int
	// DisableDNS runs no cluster DNS on this node (--disable coredns).
	DisableDNS bool
	// ResolvConf is the node's resolv.conf naming the upstream resolvers,
	// for pods and for the cluster DNS (k3s' --resolv-conf); chosen as k3s
	// does when empty.
	ResolvConf string
}

// ErrUnsupported is returned by Preflight when this machine cannot run pods
// (not root, containerd or runc missing); the server then runs without an agent.
var ErrUnsupported = errors.New("agent: cannot run pods here")

// Preflight checks that the agent can run here.
func Preflight(cfg Config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not running as root", ErrUnsupported)
	}
	bins := []string{"runc"}
	if cfg.ContainerRuntimeEndpoint == "" {
		bins = append(bins, "containerd")
	}
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%w: %s not found in PATH", ErrUnsupported, b)
		}
	}
	return nil
}

func (cfg *Config) setDefaults() error {
	if cfg.DataDir == "" {
		return errors.New("agent: DataDir is required")
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	cfg.DataDir = abs
	if cfg.NodeName == "" {
		cfg.NodeName = DefaultNodeName()
	}
	if cfg.NodeIP == nil {
		cfg.NodeIP = PrimaryIP()
	}
	if cfg.ImagesDir == "" {
		cfg.ImagesDir = filepath.Join(cfg.agentDir(), "images")
	}
	if cfg.RunDir == "" {
		cfg.RunDir = DefaultRunDir
	}
	if cfg.LogDir == "" {
		cfg.LogDir = DefaultLogDir
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.KubeletPort == 0 {
		cfg.KubeletPort = DefaultKubeletPort
	}
	if cfg.DNSPort < 0 || cfg.DNSPort > 65535 {
		return fmt.Errorf("agent: cluster DNS port %d is not within 1-65535", cfg.DNSPort)
	}
	return nil
}

func (cfg *Config) agentDir() string { return filepath.Join(cfg.DataDir, "agent") }

// Run runs the agent until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	if err := Preflight(cfg); err != nil {
		return err
	}
	log := klog.FromContext(ctx)
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("agent: kubeconfig: %w", err)
	}
	rc.UserAgent = "skiff/kubelet"
	rc.QPS, rc.Burst = 50, 100
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}

	if !cfg.DisableDNS {
		dnsCtx, stopDNS := context.WithCancel(ctx)
		wait := runDNS(dnsCtx, cfg, rc)
		defer func() { stopDNS(); wait() }()
	}

	var running atomic.Pointer[kubelet.Kubelet]
	address := cfg.ContainerRuntimeEndpoint
	if address == "" {
		proc, err := ctrd.Start(ctx, ctrd.Config{
			RootDir:     filepath.Join(cfg.agentDir(), "containerd"),
			StateDir:    filepath.Join(cfg.RunDir, "containerd"),
			KeepRunning: !cfg.StopContainerd,
			// The kubelet reconciles its pods with a containerd that came back.
			OnRestart: func() {
				if k := running.Load(); k != nil {
					k.ResyncAll()
				}
			},
			Logf: func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...), "component", "containerd") },
		})
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		defer proc.Stop()
		address = proc.Address()
	}
	cc, err := ctrd.Connect(ctx, address)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer cc.Close()
	ver, err := cc.Version(ctx)
	if err != nil {
		return fmt.Errorf("agent: containerd version: %w", err)
	}
	rt, err := runtime.New(ctx, runtime.Config{
		Client:     cc,
		Namespace:  ctrd.Namespace,
		LogRoot:    cfg.LogDir,
		RootDir:    filepath.Join(cfg.RunDir, "runtime"),
		CgroupRoot: cfg.CgroupRoot,
		Logf:       func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...), "component", "runtime") },
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer rt.Close()

	imp := &importer{dir: cfg.ImagesDir, rt: rt, seen: map[string]fileStamp{}, stampFile: filepath.Join(cfg.agentDir(), "images-imported.json")}
	// Stamps are only trusted while containerd keeps its content: a new
	// containerd root has no images, whatever an old stamp file says.
	if imgs, err := rt.ListImages(ctx); err == nil && len(imgs) > 0 {
		imp.load()
	}
	if err := os.MkdirAll(cfg.ImagesDir, 0o755); err != nil {
		return err
	}
	imp.scan(ctx)
	go imp.run(ctx)

	k, err := kubelet.New(kubelet.Config{
		Client:         client,
		NodeName:       cfg.NodeName,
		NodeIP:         cfg.NodeIP,
		Runtime:        rt,
		RuntimeVersion: ver.Version,
		DataDir:        cfg.agentDir(),
		Network: network.Config{
			ClusterCIDR: cfg.ClusterCIDR,
			DataDir:     cfg.agentDir(),
			BridgeName:  cfg.BridgeName,
			NetnsDir:    cfg.NetnsDir,
		},
		ClusterDNS:     cfg.ClusterDNS,
		ClusterDomain:  cfg.ClusterDomain,
		ResolvConf:     cfg.ResolvConf,
		ControlPlane:   cfg.ControlPlane,
		Labels:         cfg.Labels,
		KubeletVersion: version.Kubernetes(),
		Port:           cfg.KubeletPort,
	})
	if err != nil {
		return err
	}
	if cfg.ServingCertFile != "" {
		srv, err := kserver.New(kserver.Config{
			Addr:         ":" + strconv.Itoa(cfg.KubeletPort),
			CertFile:     cfg.ServingCertFile,
			KeyFile:      cfg.ServingKeyFile,
			ClientCAFile: cfg.ClientCAFile,
			Host:         k,
			Runtime:      rt,
		})
		if err != nil {
			return err
		}
		go func() {
			// Pods run without the kubelet API (logs, exec …) if its port is taken.
			if err := srv.Run(ctx); err != nil {
				log.Error(err, "Kubelet API stopped")
			}
		}()
	} else {
		log.Info("No serving certificate: the kubelet API (logs, exec, port-forward, stats) is not served")
	}
	running.Store(k)
	log.Info("Agent starting", "node", cfg.NodeName, "nodeIP", cfg.NodeIP, "containerd", address, "containerdVersion", ver.Version)
	return k.Run(ctx)
}

// PrimaryIP is the source address of the default route, as k3s picks the
// node IP; loopback when there is none.
func PrimaryIP() net.IP {
	c, err := net.Dial("udp4", "192.0.2.1:9") // no packet is sent: UDP connect only picks a route
	if err != nil {
		return net.IPv4(127, 0, 0, 1)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP
}

// DefaultNodeName is the node name when none is given: the hostname,
// lower-cased as upstream's kubelet does.
func DefaultNodeName() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return strings.ToLower(h)
}
