package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	gocni "github.com/containerd/go-cni"
)

// Pod namespaces are named after the pod UID, unlike containerd's random
// cni-<uuid> names, so that one left behind by a crash between creating it
// and recording it is still found (and told apart from other runtimes'
// namespaces in the same directory) when the agent starts again.
const netnsPrefix = "skiff-"

func netnsName(uid string) string { return netnsPrefix + uid }

// ErrNotFound is returned by Status for a pod with no network set up.
var ErrNotFound = errors.New("pod network not found")

// requiredPlugins are the CNI plugins the conflist runs.
var requiredPlugins = []string{"bridge", "host-local", "portmap", "bandwidth"}

// PortMapping is a container port published on the node (a hostPort).
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"` // TCP, UDP or SCTP, as in the pod spec
	HostIP        string `json:"hostIP,omitempty"`
}

// Bandwidth limits a pod's traffic in bits per second, from the
// kubernetes.io/ingress-bandwidth and egress-bandwidth annotations.
type Bandwidth struct {
	IngressRate  uint64 `json:"ingressRate,omitempty"`
	IngressBurst uint64 `json:"ingressBurst,omitempty"`
	EgressRate   uint64 `json:"egressRate,omitempty"`
	EgressBurst  uint64 `json:"egressBurst,omitempty"`
}

// PodNetworkRequest asks for a pod sandbox's network.
type PodNetworkRequest struct {
	UID, Namespace, Name string
	// HostNetwork pods share the node's namespace: nothing is set up.
	HostNetwork  bool
	PortMappings []PortMapping
	Bandwidth    *Bandwidth
}

// PodNetwork is a pod sandbox's network.
type PodNetwork struct {
	// NetnsPath is the pinned namespace the sandbox's containers join;
	// empty for hostNetwork pods, whose IPs are the node's.
	NetnsPath string
	IPs       []net.IP
	Gateway   net.IP
}

// Manager sets up and tears down pod networks on one node.
type Manager struct {
	cfg   Config
	locks keyedMutex

	mu   sync.Mutex
	nets map[chain]gocni.CNI // loaded on first use
}

// New writes the node's CNI configuration, makes sure the node forwards
// IPv4 packets, installs the node's masquerade rule, and returns a Manager. Pod-to-pod traffic crosses a Linux
// bridge, which needs no br_netfilter: Services are served by the eBPF
// proxy at connect time, not by iptables rules on bridged packets.
func New(c Config) (*Manager, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	if missing := missingPlugins(c.PluginDirs); len(missing) > 0 {
		return nil, fmt.Errorf("network: CNI plugins %s not found in %s (install containernetworking-plugins)",
			strings.Join(missing, ", "), strings.Join(c.PluginDirs, ":"))
	}
	conf, err := ConfList(c)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{c.ConfDir, c.IPAMDir, c.StateDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
	}
	confPath := filepath.Join(c.ConfDir, ConfListName)
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return nil, fmt.Errorf("network: write CNI config: %w", err)
	}
	if err := enableIPForward(); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if err := installMasquerade(c); err != nil {
		return nil, err
	}
	return &Manager{cfg: c, nets: map[chain]gocni.CNI{}}, nil
}

// cni returns the CNI network that runs ch, loading it on first use.
func (m *Manager) cni(ch chain) (gocni.CNI, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.nets[ch]; n != nil {
		return n, nil
	}
	conf, err := confList(m.cfg, ch)
	if err != nil {
		return nil, err
	}
	n, err := gocni.New(
		gocni.WithPluginDir(m.cfg.PluginDirs),
		gocni.WithMinNetworkCount(1),
		gocni.WithInterfacePrefix("eth"), // the pod's interface is eth0
	)
	if err == nil {
		err = n.Load(gocni.WithConfListBytes(conf))
	}
	if err != nil {
		return nil, fmt.Errorf("network: load CNI config: %w", err)
	}
	m.nets[ch] = n
	return n, nil
}

// Uninstall removes what the manager made on the host besides the pods'
// own networks (tear those down first): the bridge and the masquerade rule.
func (m *Manager) Uninstall() error {
	var errs []error
	if out, err := exec.Command("ip", "link", "del", m.cfg.BridgeName).CombinedOutput(); err != nil &&
		!strings.Contains(string(out), "Cannot find device") {
		errs = append(errs, fmt.Errorf("network: delete bridge %s: %w: %s", m.cfg.BridgeName, err, strings.TrimSpace(string(out))))
	}
	if err := removeMasquerade(m.cfg.BridgeName); err != nil {
		errs = append(errs, fmt.Errorf("network: %w", err))
	}
	return errors.Join(errs...)
}

// Config returns the manager's configuration with its defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

// uidPattern keeps UIDs usable as file names and CNI container IDs.
var uidPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func checkUID(uid string) error {
	if !uidPattern.MatchString(uid) {
		return fmt.Errorf("network: invalid pod UID %q", uid)
	}
	return nil
}

// SetupPod gives the pod a network namespace with an address from the
// podCIDR. It is idempotent: for a pod whose network is already set up
// (including by an earlier run of the agent) it returns that network.
func (m *Manager) SetupPod(ctx context.Context, req PodNetworkRequest) (*PodNetwork, error) {
	if req.HostNetwork {
		return &PodNetwork{}, nil
	}
	if err := checkUID(req.UID); err != nil {
		return nil, err
	}
	unlock := m.locks.lock(req.UID)
	defer unlock()

	prev, err := m.readState(req.UID)
	if err != nil {
		return nil, err
	}
	if prev != nil && len(prev.IPs) > 0 && isNetns(prev.NetnsPath) {
		return prev.podNetwork(), nil
	}
	// Whatever is left of an earlier attempt (a namespace deleted under us,
	// or a crash halfway through ADD) is undone before starting afresh.
	if err := m.teardown(ctx, req.UID, prev); err != nil {
		return nil, err
	}

	ch := chainFor(req)
	st := &podState{
		UID: req.UID, Namespace: req.Namespace, Name: req.Name,
		NetnsPath:    filepath.Join(m.cfg.NetnsDir, netnsName(req.UID)),
		PortMappings: req.PortMappings, Bandwidth: req.Bandwidth, Chain: &ch,
	}
	cni, err := m.cni(ch)
	if err != nil {
		return nil, err
	}
	// Recorded before the namespace and ADD, so that a crash at any point
	// leaves enough behind to undo it with the same arguments, and so that
	// the agent only ever tears down namespaces it made (another agent on the
	// same host may share the namespace directory).
	if err := m.writeState(st); err != nil {
		return nil, err
	}
	if err := createNetns(st.NetnsPath); err != nil {
		err = fmt.Errorf("network: pod %s/%s: %w", req.Namespace, req.Name, err)
		return nil, errors.Join(err, m.teardown(context.WithoutCancel(ctx), req.UID, st))
	}
	res, err := cni.Setup(ctx, req.UID, st.NetnsPath, st.namespaceOpts()...)
	if err != nil {
		err = fmt.Errorf("network: set up pod %s/%s: %w", req.Namespace, req.Name, err)
		if terr := m.teardown(context.WithoutCancel(ctx), req.UID, st); terr != nil {
			err = errors.Join(err, terr)
		}
		return nil, err
	}
	if iface := res.Interfaces["eth0"]; iface != nil {
		for _, ipc := range iface.IPConfigs {
			st.IPs = append(st.IPs, ipc.IP.String())
			if st.Gateway == "" && ipc.Gateway != nil {
				st.Gateway = ipc.Gateway.String()
			}
		}
	}
	if len(st.IPs) == 0 {
		err := fmt.Errorf("network: set up pod %s/%s: CNI returned no address for eth0", req.Namespace, req.Name)
		return nil, errors.Join(err, m.teardown(context.WithoutCancel(ctx), req.UID, st))
	}
	if err := m.writeState(st); err != nil {
		return nil, errors.Join(err, m.teardown(context.WithoutCancel(ctx), req.UID, st))
	}
	return st.podNetwork(), nil
}

// Status reports the network of a pod set up earlier, by this or an earlier
// run of the agent, without running CNI. It returns ErrNotFound when the
// pod has none, or when its namespace is gone.
func (m *Manager) Status(ctx context.Context, uid string) (*PodNetwork, error) {
	if err := checkUID(uid); err != nil {
		return nil, err
	}
	unlock := m.locks.lock(uid)
	defer unlock()
	st, err := m.readState(uid)
	if err != nil {
		return nil, err
	}
	if st == nil || len(st.IPs) == 0 || !isNetns(st.NetnsPath) {
		return nil, fmt.Errorf("network: pod %s: %w", uid, ErrNotFound)
	}
	return st.podNetwork(), nil
}

// TeardownPod runs CNI DEL for the pod (releasing its address, port
// mappings and masquerade rules) and removes its namespace. A pod with
// nothing left to tear down is not an error.
func (m *Manager) TeardownPod(ctx context.Context, uid string) error {
	if err := checkUID(uid); err != nil {
		return err
	}
	unlock := m.locks.lock(uid)
	defer unlock()
	st, err := m.readState(uid)
	if err != nil {
		return err
	}
	return m.teardown(ctx, uid, st)
}

// teardown undoes whatever exists of uid's network; st may be nil.
func (m *Manager) teardown(ctx context.Context, uid string, st *podState) error {
	path := filepath.Join(m.cfg.NetnsDir, netnsName(uid))
	if st != nil && st.NetnsPath != "" {
		path = st.NetnsPath
	}
	_, statErr := os.Lstat(path)
	if st == nil && os.IsNotExist(statErr) {
		return nil
	}
	if st == nil {
		st = &podState{UID: uid}
	}
	ch := legacyChain
	if st.Chain != nil {
		ch = *st.Chain
	}
	cni, err := m.cni(ch)
	if err != nil {
		return err
	}
	// The CNI spec lets DEL run with no namespace when it is gone; the
	// plugins then release what they can find without it (the address,
	// portmap's rules; the bridge's masquerade rules are dropped below).
	cniPath := path
	if !isNetns(path) {
		cniPath = ""
	}
	err = cni.Remove(ctx, uid, cniPath, st.namespaceOpts()...)
	if err != nil && cniPath != "" && ch.BridgeMasquerade && strings.Contains(err.Error(), "does not exist") {
		// The bridge plugin removes its masquerade rules last, and fails
		// when they were never made (ADD failed before them) because
		// iptables-nft's "does not exist" is not the error it tolerates.
		// Everything else is released by then; DEL without the namespace
		// skips that step and lets libcni drop its cached result.
		err = cni.Remove(ctx, uid, "", st.namespaceOpts()...)
	}
	if err != nil {
		return fmt.Errorf("network: tear down pod %s/%s (%s): %w", st.Namespace, st.Name, uid, err)
	}
	if ch.BridgeMasquerade && cniPath == "" && len(st.IPs) > 0 {
		dropMasquerade(m.cfg.NetworkName, uid, st.IPs)
	}
	if err := removeNetns(path); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return m.removeState(uid)
}

// List returns the UIDs of the pods with a network on this node (a record
// in the state dir, written before anything else is made), so the kubelet
// can tear down those of pods that no longer exist when it starts. Namespaces
// in the directory without a record are not ours: another agent on the host
// may have made them.
func (m *Manager) List() ([]string, error) {
	uids, err := m.stateUIDs()
	if err != nil {
		return nil, err
	}
	sort.Strings(uids)
	return uids, nil
}

func (s *podState) podNetwork() *PodNetwork {
	pn := &PodNetwork{NetnsPath: s.NetnsPath, Gateway: net.ParseIP(s.Gateway)}
	for _, ip := range s.IPs {
		pn.IPs = append(pn.IPs, net.ParseIP(ip))
	}
	return pn
}

// namespaceOpts are the CNI arguments for the pod, the same ones containerd
// passes: the K8S_POD_* labels and the portMappings and bandwidth
// capabilities.
func (s *podState) namespaceOpts() []gocni.NamespaceOpts {
	opts := []gocni.NamespaceOpts{gocni.WithLabels(map[string]string{
		"IgnoreUnknown":              "1",
		"K8S_POD_NAMESPACE":          s.Namespace,
		"K8S_POD_NAME":               s.Name,
		"K8S_POD_INFRA_CONTAINER_ID": s.UID,
		"K8S_POD_UID":                s.UID,
	})}
	if len(s.PortMappings) > 0 {
		pm := make([]gocni.PortMapping, 0, len(s.PortMappings))
		for _, p := range s.PortMappings {
			proto := strings.ToLower(p.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			pm = append(pm, gocni.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIP})
		}
		opts = append(opts, gocni.WithCapabilityPortMap(pm))
	}
	if b := s.Bandwidth; b != nil {
		opts = append(opts, gocni.WithCapabilityBandWidth(gocni.BandWidth{
			IngressRate: b.IngressRate, IngressBurst: b.IngressBurst,
			EgressRate: b.EgressRate, EgressBurst: b.EgressBurst,
		}))
	}
	return opts
}

func missingPlugins(dirs []string) []string {
	var missing []string
	for _, p := range requiredPlugins {
		found := false
		for _, d := range dirs {
			if fi, err := os.Stat(filepath.Join(d, p)); err == nil && !fi.IsDir() {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, p)
		}
	}
	return missing
}

// enableIPForward turns on net.ipv4.ip_forward, without which nothing
// leaves the pods (the bridge plugin also sets it, but only on ADD).
func enableIPForward() error {
	const p = "/proc/sys/net/ipv4/ip_forward"
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable net.ipv4.ip_forward: %w", err)
	}
	return nil
}

// keyedMutex serialises the operations on one pod while letting different
// pods set up in parallel.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*refMutex{}
	}
	l := k.locks[key]
	if l == nil {
		l = &refMutex{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
