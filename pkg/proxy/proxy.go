// Package proxy is skiff's service proxy, the node agent's replacement for
// kube-proxy. Services and EndpointSlices, watched through client-go
// informers, become frontends (BuildFrontends): ClusterIPs, NodePorts on
// the node's addresses and 127.0.0.1, externalIPs and LoadBalancer
// ingress IPs, each with its ready backends. Two datapaths program them:
//
//   - eBPF (the default): cgroup v2 socket hooks (pkg/proxy/bpf) rewrite
//     connect()/sendmsg() of every socket on the node to a backend, and
//     recvmsg()/getpeername() back to the service address. Maps and links
//     are pinned under a bpffs dir, so they outlive skiff's process.
//   - nftables (table ip skiff-proxy): DNAT for traffic arriving from
//     outside the node at NodePort, externalIP and LoadBalancer
//     addresses; and, where the kernel cannot load the programs, for every
//     frontend.
//
// Changes are applied in batches: events mark services dirty and one sync
// goroutine writes only what changed.
//
//	p, err := proxy.New(proxy.Config{Client: client, NodeName: "node-1"})
//	if err != nil { ... }
//	err = p.Run(ctx)
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Datapath programs frontends into the kernel: one narrow seam with an
// eBPF and an nftables implementation.
type Datapath interface {
	// Name says which datapath this is, for logs.
	Name() string
	// Apply programs the changed frontends; a nil Frontend removes its key.
	Apply(changes map[FrontendKey]*Frontend) error
	// Keys returns the frontends programmed now (after a restart, those
	// an earlier run left), so the first sync removes stale ones.
	Keys() []FrontendKey
	// Close releases the datapath's resources without removing what it
	// programmed.
	Close() error
}

// Config configures the proxy.
type Config struct {
	Client kubernetes.Interface
	// NodeName selects node-local endpoints for the Local traffic policies.
	NodeName string
	// NodeIPs are the node's addresses, where NodePorts answer (besides
	// 127.0.0.1), together with HostAddresses'.
	NodeIPs []netip.Addr
	// HostAddresses, when set, is read again every AddressPeriod, and
	// NodePorts follow the addresses it gives as they come and go (a DHCP
	// lease, an interface brought up later), as kube-proxy reads the
	// node's addresses on each sync. With neither it nor NodeIPs set, it
	// is the package's HostAddresses.
	HostAddresses func() []netip.Addr
	// AddressPeriod is how often HostAddresses is read; 10s when zero.
	AddressPeriod time.Duration
	// PinDir is the bpffs dir of the pinned maps and links; DefaultPinDir
	// when empty.
	PinDir string
	// CgroupPath is the cgroup v2 the programs attach to; the hierarchy's
	// root when empty.
	CgroupPath string
	// NFTable is the nftables table the proxy owns; "skiff-proxy" when empty.
	NFTable string
	// ForceNFTables skips the eBPF datapath (tests of the fallback).
	ForceNFTables bool
	// MinSyncPeriod is the batching window of changes; 10ms when zero.
	MinSyncPeriod time.Duration
	// OnSync, when set, is called after each sync with the number of
	// frontends changed (tests and benchmarks).
	OnSync func(changed int, err error)
}

// Proxier keeps the datapaths in step with the Services and EndpointSlices.
type Proxier struct {
	cfg      Config
	node     NodeInfo
	sock     Datapath // the eBPF datapath; nil in nftables mode
	nft      *nftDatapath
	fellBack error // why the eBPF datapath is not used
	dps      []Datapath

	factory    informers.SharedInformerFactory
	services   corelisters.ServiceLister
	slices     discoverylisters.EndpointSliceLister
	synced     []cache.InformerSynced
	sliceIndex cache.Indexer

	mu        sync.Mutex
	dirty     map[types.NamespacedName]bool
	all       bool // the next sync recomputes every service
	kick      chan struct{}
	owners    map[FrontendKey]types.NamespacedName
	frontends map[types.NamespacedName]map[FrontendKey]*Frontend
}

// New opens the datapaths: eBPF where the kernel loads the programs,
// nftables for external traffic, and nftables for everything otherwise.
func New(cfg Config) (*Proxier, error) {
	if cfg.Client == nil {
		return nil, errors.New("proxy: Client is required")
	}
	cfg, p := newProxier(cfg)
	if cfg.ForceNFTables {
		p.fellBack = errors.New("nftables forced by configuration")
	} else {
		cg := cfg.CgroupPath
		var err error
		if cg == "" {
			cg, err = CgroupV2Root()
		}
		if err == nil {
			p.sock, err = openEBPF(cfg.PinDir, cg)
		}
		if err != nil {
			p.fellBack = err
		}
	}
	var err error
	p.nft, err = newNFTDatapath(cfg.NFTable, p.sock == nil)
	if err != nil {
		if p.sock != nil {
			// Sockets are still balanced; only outside traffic to NodePorts is lost.
			klog.ErrorS(err, "Service proxy: no nftables datapath, NodePorts answer only to clients on this node")
			p.nft = nil
		} else {
			return nil, fmt.Errorf("proxy: neither datapath works: ebpf: %v; nftables: %w", p.fellBack, err)
		}
	}
	if p.sock != nil {
		p.dps = append(p.dps, p.sock)
	}
	if p.nft != nil {
		p.dps = append(p.dps, p.nft)
	}
	return p, nil
}

// newProxier applies the defaults and makes a Proxier without datapaths.
func newProxier(cfg Config) (Config, *Proxier) {
	if cfg.PinDir == "" {
		cfg.PinDir = DefaultPinDir
	}
	if cfg.NFTable == "" {
		cfg.NFTable = "skiff-proxy"
	}
	if cfg.MinSyncPeriod == 0 {
		cfg.MinSyncPeriod = 10 * time.Millisecond
	}
	if len(cfg.NodeIPs) == 0 && cfg.HostAddresses == nil {
		cfg.HostAddresses = HostAddresses
	}
	if cfg.AddressPeriod == 0 {
		cfg.AddressPeriod = 10 * time.Second
	}
	p := &Proxier{
		cfg:       cfg,
		node:      NodeInfo{Name: cfg.NodeName, Addresses: nodeAddresses(cfg)},
		dirty:     map[types.NamespacedName]bool{},
		kick:      make(chan struct{}, 1),
		owners:    map[FrontendKey]types.NamespacedName{},
		frontends: map[types.NamespacedName]map[FrontendKey]*Frontend{},
	}
	return cfg, p
}

// Mode says which datapath balances sockets ("ebpf" or "nftables"), and
// why eBPF is not used.
func (p *Proxier) Mode() (string, error) {
	if p.sock != nil {
		return "ebpf", nil
	}
	return "nftables", p.fellBack
}

// Run watches Services and EndpointSlices and programs them until ctx is
// done. The pinned eBPF state stays behind for the next run.
func (p *Proxier) Run(ctx context.Context) error {
	defer p.close()
	log := klog.FromContext(ctx).WithValues("component", "proxy")
	mode, why := p.Mode()
	if why != nil {
		log.Info("Service proxy cannot load its eBPF programs; falling back to nftables DNAT", "reason", why.Error())
	}
	log.Info("Service proxy starting", "mode", mode, "pinDir", p.cfg.PinDir, "nodeAddresses", p.node.Addresses)

	p.factory = informers.NewSharedInformerFactory(p.cfg.Client, 0)
	svcInf := p.factory.Core().V1().Services()
	epsInf := p.factory.Discovery().V1().EndpointSlices()
	p.services, p.slices = svcInf.Lister(), epsInf.Lister()
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.markService(o) },
		UpdateFunc: func(_, o any) { p.markService(o) },
		DeleteFunc: func(o any) { p.markService(o) },
	}); err != nil {
		return err
	}
	if _, err := epsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.markSlice(o) },
		UpdateFunc: func(_, o any) { p.markSlice(o) },
		DeleteFunc: func(o any) { p.markSlice(o) },
	}); err != nil {
		return err
	}
	if err := epsInf.Informer().AddIndexers(cache.Indexers{serviceIndex: sliceServiceIndex}); err != nil {
		return err
	}
	p.synced = []cache.InformerSynced{svcInf.Informer().HasSynced, epsInf.Informer().HasSynced}
	p.factory.Start(ctx.Done())
	defer p.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		return ctx.Err()
	}
	p.sliceIndex = epsInf.Informer().GetIndexer()

	// The first sync recomputes everything and removes what an earlier
	// run left and no Service wants any more (no flush).
	p.mu.Lock()
	p.all = true
	p.mu.Unlock()
	start := time.Now()
	n, err := p.sync(true)
	if err != nil {
		log.Error(err, "Service proxy: initial sync")
	}
	log.Info("Service proxy synced", "frontendsChanged", n, "took", time.Since(start).String())
	var addrTick <-chan time.Time
	if p.cfg.HostAddresses != nil {
		t := time.NewTicker(p.cfg.AddressPeriod)
		defer t.Stop()
		addrTick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.kick:
		case <-addrTick:
			// p.node is only read by sync, on this goroutine.
			addrs := nodeAddresses(p.cfg)
			if slices.Equal(addrs, p.node.Addresses) {
				continue
			}
			log.Info("Node addresses changed; NodePorts follow", "nodeAddresses", addrs)
			p.node.Addresses = addrs
			p.mu.Lock()
			p.all = true
			p.mu.Unlock()
		}
		// Let a burst of events gather into one batch.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.cfg.MinSyncPeriod):
		}
		if _, err := p.sync(false); err != nil {
			log.Error(err, "Service proxy sync failed; retrying")
			p.mu.Lock()
			p.all = true
			p.mu.Unlock()
			p.wake()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	}
}

const serviceIndex = "service"

func sliceServiceIndex(o any) ([]string, error) {
	s, ok := o.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

func (p *Proxier) markService(o any) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	s, ok := o.(*corev1.Service)
	if !ok {
		return
	}
	p.mark(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
}

func (p *Proxier) markSlice(o any) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	s, ok := o.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
		return
	}
	p.mark(types.NamespacedName{Namespace: s.Namespace, Name: s.Labels[discoveryv1.LabelServiceName]})
}

func (p *Proxier) mark(n types.NamespacedName) {
	p.mu.Lock()
	p.dirty[n] = true
	p.mu.Unlock()
	p.wake()
}

func (p *Proxier) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// sync recomputes the dirty services and applies the difference.
func (p *Proxier) sync(first bool) (int, error) {
	p.mu.Lock()
	dirty, all := p.dirty, p.all
	p.dirty, p.all = map[types.NamespacedName]bool{}, false
	p.mu.Unlock()
	if all {
		svcs, err := p.services.List(labels.Everything())
		if err != nil {
			return 0, err
		}
		for _, s := range svcs {
			dirty[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = true
		}
		for n := range p.frontends {
			dirty[n] = true
		}
	}
	changes := map[FrontendKey]*Frontend{}
	for n := range dirty {
		p.syncService(n, changes)
	}
	if first {
		// What the datapaths hold and no service claims is stale.
		for _, dp := range p.datapaths() {
			for _, k := range dp.Keys() {
				if _, ok := p.owners[k]; !ok {
					if _, ok := changes[k]; !ok {
						changes[k] = nil
					}
				}
			}
		}
	}
	var errs []error
	if first || len(changes) > 0 {
		for _, dp := range p.datapaths() {
			if err := dp.Apply(changes); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", dp.Name(), err))
			}
		}
	}
	err := errors.Join(errs...)
	if p.cfg.OnSync != nil {
		p.cfg.OnSync(len(changes), err)
	}
	return len(changes), err
}

func (p *Proxier) datapaths() []Datapath { return p.dps }

// syncService records the changes of one service's frontends.
func (p *Proxier) syncService(n types.NamespacedName, changes map[FrontendKey]*Frontend) {
	var want map[FrontendKey]*Frontend
	if svc, err := p.services.Services(n.Namespace).Get(n.Name); err == nil {
		objs, _ := p.sliceIndex.ByIndex(serviceIndex, n.Namespace+"/"+n.Name)
		eps := make([]*discoveryv1.EndpointSlice, 0, len(objs))
		for _, o := range objs {
			eps = append(eps, o.(*discoveryv1.EndpointSlice))
		}
		want = BuildFrontends(svc, eps, p.node)
	}
	have := p.frontends[n]
	for k, f := range want {
		if owner, ok := p.owners[k]; ok && owner != n {
			// Another service holds this address and port (two services
			// with the same externalIP): the first one keeps it.
			delete(want, k)
			continue
		}
		if old, ok := have[k]; ok && old.Equal(f) {
			continue
		}
		changes[k] = f
		p.owners[k] = n
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			changes[k] = nil
			delete(p.owners, k)
		}
	}
	if len(want) == 0 {
		delete(p.frontends, n)
	} else {
		p.frontends[n] = want
	}
}

func (p *Proxier) close() {
	for _, dp := range p.datapaths() {
		dp.Close()
	}
}

// nodeAddresses is cfg's NodeIPs and HostAddresses', each once, sorted.
func nodeAddresses(cfg Config) []netip.Addr {
	out := slices.Clone(cfg.NodeIPs)
	if cfg.HostAddresses != nil {
		out = append(out, cfg.HostAddresses()...)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}

// HostAddresses returns the IPv4 addresses of the host's interfaces, but
// loopback (127.0.0.1 is always a NodePort address).
func HostAddresses() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() && !ip.IsLoopback() {
			out = append(out, ip)
		}
	}
	return out
}
