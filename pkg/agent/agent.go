// Package agent runs skiff's node agent: it starts (or connects to)
// containerd, imports the node's image tarballs, and runs the kubelet
// (pkg/kubelet) with the pod network (pkg/network) and the runtime
// (pkg/kubelet/runtime), the service proxy (pkg/proxy) and the node's
// cluster DNS (pkg/dns, see runDNS). `skiff server` runs it in process unless
// --disable-agent; `skiff agent` runs it alone.
//
// Containerd is left running when the agent stops (as k3s does), so that
// pods survive a restart of skiff; the next agent adopts containerd and the
// kubelet re-adopts the pods' containers.
package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
	"github.com/skiff-k8s/skiff/pkg/kubelet/eviction"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/registries"
	kserver "github.com/skiff-k8s/skiff/pkg/kubelet/server"
	"github.com/skiff-k8s/skiff/pkg/network"
	"github.com/skiff-k8s/skiff/pkg/proxy"
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
	// PrivateRegistry is the registries.yaml (k3s' format: mirrors and
	// credentials) read at start; <DataDir>/agent/registries.yaml when empty.
	PrivateRegistry string
	// EvictionHard are the kubelet's hard eviction thresholds
	// ("memory.available<100Mi,nodefs.available<10%"); upstream's defaults when empty.
	EvictionHard string
	// AllowedUnsafeSysctls are the sysctls pods may set beyond the safe
	// ones (the kubelet's --allowed-unsafe-sysctls: names, or prefixes
	// ending in "*").
	AllowedUnsafeSysctls []string
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
	// ServingCertificate, when set, obtains the serving certificate files in
	// the background once the kubelet runs (a joined node's, through a CSR
	// approved once its Node is registered); the kubelet API is served when it
	// returns nil.
	ServingCertificate func(ctx context.Context, client kubernetes.Interface, nodeName string, nodeIP net.IP) error
	// DisableProxy turns the service proxy (pkg/proxy) off.
	DisableProxy bool
	// ProxyPinDir is the bpffs dir of the proxy's pinned maps and links
	// (proxy.DefaultPinDir when empty; a dir outside any bpffs gets one
	// mounted on it). ProxyNFTable is its nftables table ("skiff-proxy").
	ProxyPinDir, ProxyNFTable string
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
	if cfg.PrivateRegistry == "" {
		cfg.PrivateRegistry = filepath.Join(cfg.agentDir(), registries.FileName)
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

// CheckPrivateRegistry validates the registries.yaml the agent would read
// with dataDir, so that `skiff server` fails to start on a bad one as the
// agent would.
func CheckPrivateRegistry(cfg Config, dataDir string) error {
	cfg.DataDir = dataDir
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	if _, err := registries.Load(cfg.PrivateRegistry); err != nil {
		return fmt.Errorf("agent: private registry configuration: %w", err)
	}
	return nil
}

// Run runs the agent until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	if err := Preflight(cfg); err != nil {
		return err
	}
	// registries.yaml is read once, at start; a bad file stops the start
	// (as k3s does) rather than pulling from the wrong place.
	regs, err := registries.Load(cfg.PrivateRegistry)
	if err != nil {
		return fmt.Errorf("agent: private registry configuration: %w", err)
	}
	var evictionHard []eviction.Threshold
	if cfg.EvictionHard != "" {
		if evictionHard, err = eviction.ParseThresholds(cfg.EvictionHard); err != nil {
			return fmt.Errorf("agent: --eviction-hard: %w", err)
		}
	}
	log := klog.FromContext(ctx)
	if _, err := os.Stat(cfg.PrivateRegistry); err == nil {
		log.Info("Using private registry configuration (read at start only)", "file", cfg.PrivateRegistry)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("agent: kubeconfig: %w", err)
	}
	rc.UserAgent = "skiff/kubelet"
	rc.QPS, rc.Burst = 50, 100
	// Protobuf, as upstream's kubelet (--kube-api-content-type): its pods,
	// status writes and events cost both ends a fraction of JSON's work.
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}

	if cfg.DisableProxy {
		// Pinned programs of an earlier run would keep balancing with
		// stale backends: off means removed.
		pinDir := cmp.Or(cfg.ProxyPinDir, proxy.DefaultPinDir)
		if _, err := os.Stat(pinDir); err == nil {
			if err := proxy.Uninstall(pinDir, cmp.Or(cfg.ProxyNFTable, "skiff-proxy")); err != nil {
				log.Error(err, "Removing the service proxy's programs left by an earlier run")
			} else {
				log.Info("Service proxy disabled: removed the programs and rules an earlier run left", "pinDir", pinDir)
			}
		}
	} else {
		// The service proxy is independent of the pods: it starts first,
		// so host clients reach services while containerd comes up.
		proxyDone, err := startProxy(ctx, cfg, client)
		if err != nil {
			log.Error(err, "Service proxy not started: services are not reachable from this node")
		} else {
			defer func() { <-proxyDone }()
		}
	}
	if !cfg.DisableDNS {
		dnsCtx, stopDNS := context.WithCancel(ctx)
		wait := runDNS(dnsCtx, cfg, rc)
		defer func() { stopDNS(); wait() }()
	}

	var running atomic.Pointer[kubelet.Kubelet]
	address := cfg.ContainerRuntimeEndpoint
	// The image GC watches the filesystem of containerd's content: ours,
	// or the data dir's with an external containerd (its root is unknown).
	imageFs := cfg.agentDir()
	// runc's state of our containers goes beside our containerd's, on the
	// run dir's tmpfs; with an external containerd, where its shims put it.
	runcRoot := ""
	if address == "" {
		imageFs = filepath.Join(cfg.agentDir(), "containerd")
		stateDir := filepath.Join(cfg.RunDir, "containerd")
		runcRoot = filepath.Join(stateDir, "runc")
		proc, err := ctrd.Start(ctx, ctrd.Config{
			RootDir:     filepath.Join(cfg.agentDir(), "containerd"),
			StateDir:    stateDir,
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
		RuncRoot:   runcRoot,
		Registries: regs,
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
		ImageFsPath:    imageFs,
		EvictionHard:   evictionHard,

		AllowedUnsafeSysctls: cfg.AllowedUnsafeSysctls,
	})
	if err != nil {
		return err
	}
	serveAPI := func() error {
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
		return nil
	}
	switch {
	case cfg.ServingCertificate != nil:
		go func() {
			err := cfg.ServingCertificate(ctx, client, cfg.NodeName, cfg.NodeIP)
			if err == nil {
				err = serveAPI()
			}
			if err != nil && ctx.Err() == nil {
				log.Error(err, "The kubelet API (logs, exec, port-forward, stats) is not served")
			}
		}()
	case cfg.ServingCertFile != "":
		if err := serveAPI(); err != nil {
			return err
		}
	default:
		log.Info("No serving certificate: the kubelet API (logs, exec, port-forward, stats) is not served")
	}
	running.Store(k)
	log.Info("Agent starting", "node", cfg.NodeName, "nodeIP", cfg.NodeIP, "containerd", address, "containerdVersion", ver.Version)
	return k.Run(ctx)
}

// startProxy runs the service proxy until ctx is done; the returned
// channel closes when it has stopped.
func startProxy(ctx context.Context, cfg Config, client kubernetes.Interface) (<-chan struct{}, error) {
	var nodeIPs []netip.Addr
	if ip, ok := netip.AddrFromSlice(cfg.NodeIP); ok {
		nodeIPs = append(nodeIPs, ip.Unmap())
	}
	p, err := proxy.New(proxy.Config{
		Client:        client,
		NodeName:      cfg.NodeName,
		NodeIPs:       nodeIPs,
		HostAddresses: proxy.HostAddresses,
		PinDir:        cfg.ProxyPinDir,
		NFTable:       cfg.ProxyNFTable,
	})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Run(ctx); err != nil {
			klog.FromContext(ctx).Error(err, "Service proxy stopped")
		}
	}()
	return done, nil
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
