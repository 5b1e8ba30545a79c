// Package sim runs simulated nodes, as KWOK does: it registers Node objects with
// capacity, renews their Leases, and plays the kubelet for the pods bound to them,
// marking them Running and Ready without running any container. Scheduling, the
// controllers and their benchmarks can so be exercised at scale on one machine.
//
// Pod annotations drive a pod's life, for tests:
//
//	sim.skiff.io/exit-after: "2s"   containers exit after that long
//	sim.skiff.io/exit-code: "1"     with that code (default 0)
//	sim.skiff.io/not-ready: "true"  the pod runs but never becomes Ready
//
// A container that exits ends the pod (Succeeded or Failed) under restartPolicy
// Never, or under OnFailure with code 0; otherwise it restarts (restartCount+1) and
// runs again for the same time.
package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
	"github.com/skiff-k8s/skiff/pkg/kubelet/nodestatus"
	"github.com/skiff-k8s/skiff/pkg/version"
)

// Annotations that script a simulated pod.
const (
	AnnotationExitAfter = "sim.skiff.io/exit-after"
	AnnotationExitCode  = "sim.skiff.io/exit-code"
	AnnotationNotReady  = "sim.skiff.io/not-ready"
	// LabelSim marks simulated nodes.
	LabelSim = "node.skiff.io/sim"
)

// Lease timing of upstream's kubelet.
const (
	leaseDuration = 40 * time.Second
	renewInterval = 10 * time.Second
	statusPeriod  = 5 * time.Minute
)

// Config says how many nodes to simulate and how big they are.
type Config struct {
	RESTConfig *rest.Config
	Nodes      int
	// NamePrefix names the nodes <prefix>0 … <prefix><Nodes-1> (default "skiff-sim-").
	NamePrefix string
	// CPU, Memory and Pods are each node's capacity (default 32, 128Gi, 110).
	CPU, Memory string
	Pods        int
}

// Sim is a running set of simulated nodes.
type Sim struct {
	cfg    Config
	client kubernetes.Interface
	nodes  map[string]*node
	pods   *podRunner
}

type node struct {
	name  string
	ip    string
	mu    sync.Mutex
	cidr  *net.IPNet
	ips   map[string]string // pod UID -> IP
	next  int
	lease *leaseState
}

// Run registers the nodes and simulates them until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Nodes <= 0 {
		return fmt.Errorf("sim: --nodes must be positive, got %d", cfg.Nodes)
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = "skiff-sim-"
	}
	if cfg.CPU == "" {
		cfg.CPU = "32"
	}
	if cfg.Memory == "" {
		cfg.Memory = "128Gi"
	}
	if cfg.Pods == 0 {
		cfg.Pods = 110
	}
	for _, q := range []string{cfg.CPU, cfg.Memory} {
		if _, err := resource.ParseQuantity(q); err != nil {
			return fmt.Errorf("sim: capacity %q: %w", q, err)
		}
	}
	client, err := kubernetes.NewForConfig(cfg.RESTConfig)
	if err != nil {
		return err
	}
	s := &Sim{cfg: cfg, client: client, nodes: map[string]*node{}}
	for i := 0; i < cfg.Nodes; i++ {
		name := fmt.Sprintf("%s%d", cfg.NamePrefix, i)
		// Loopback addresses, 127.<prefix hash>.x.y: nothing the cluster does with a
		// node address leaves this machine, and two sim processes differ.
		s.nodes[name] = &node{name: name, ip: fmt.Sprintf("127.%d.%d.%d", 1+prefixHash(cfg.NamePrefix)%200, ((i+1)>>8)&255, (i+1)&255), ips: map[string]string{}}
	}
	logger := klog.FromContext(ctx)
	if err := s.register(ctx); err != nil {
		return err
	}
	logger.Info("Simulated nodes registered", "count", cfg.Nodes, "prefix", cfg.NamePrefix)

	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTransform(controllers.StripManagedFields),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermNotEqualSelector("spec.nodeName", "").String()
		}))
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(controllers.StripManagedFields))
	var wg sync.WaitGroup
	s.pods = newPodRunner(s, factory.Core().V1().Pods())
	nodeInformer := nodeFactory.Core().V1().Nodes().Informer()
	if _, err := nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.nodeChanged,
		UpdateFunc: func(_, obj interface{}) { s.nodeChanged(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	wg.Add(2)
	go func() { defer wg.Done(); s.pods.run(ctx) }()
	go func() { defer wg.Done(); s.heartbeat(ctx) }()
	<-ctx.Done()
	wg.Wait()
	factory.Shutdown()
	nodeFactory.Shutdown()
	return nil
}

// nodeChanged learns a node's podCIDR once node IPAM has set it.
func (s *Sim) nodeChanged(obj interface{}) {
	no, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	n := s.nodes[no.Name]
	if n == nil || no.Spec.PodCIDR == "" {
		return
	}
	_, cidr, err := net.ParseCIDR(no.Spec.PodCIDR)
	if err != nil || cidr.IP.To4() == nil {
		return
	}
	n.mu.Lock()
	n.cidr = cidr
	n.mu.Unlock()
}

// podIP hands out the next free address of the node's podCIDR (or, before IPAM
// has given it one, of a per-node block in 100.64.0.0/10) to the pod uid.
func (n *node) podIP(uid string, nodeIndex int) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ip, ok := n.ips[uid]; ok {
		return ip
	}
	base := net.IPv4(100, byte(64+(nodeIndex>>8)&63), byte(nodeIndex), 0).To4()
	size := 256
	if n.cidr != nil {
		base = n.cidr.IP.To4()
		ones, bits := n.cidr.Mask.Size()
		size = 1 << (bits - ones)
	}
	used := map[string]bool{}
	for _, ip := range n.ips {
		used[ip] = true
	}
	for i := 0; i < size-3; i++ {
		off := 2 + (n.next+i)%(size-3)
		ip := make(net.IP, 4)
		copy(ip, base)
		v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3]) + uint32(off)
		ip[0], ip[1], ip[2], ip[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		if !used[ip.String()] {
			n.next = off - 1
			n.ips[uid] = ip.String()
			return ip.String()
		}
	}
	return ""
}

func (n *node) releaseIP(uid string) {
	n.mu.Lock()
	delete(n.ips, uid)
	n.mu.Unlock()
}

// nodeObject is the Node a simulated kubelet registers.
func (s *Sim) nodeObject(n *node) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(s.cfg.CPU),
		corev1.ResourceMemory:           resource.MustParse(s.cfg.Memory),
		corev1.ResourcePods:             *resource.NewQuantity(int64(s.cfg.Pods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	now := metav1.Now()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.name,
			Labels: map[string]string{
				corev1.LabelHostname: n.name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64",
				LabelSim: "true",
			},
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0"},
		},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Phase:       corev1.NodeRunning,
			Conditions:  nodestatus.Conditions(nodestatus.Ready, nil, now),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: n.ip},
				{Type: corev1.NodeHostName, Address: n.name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID: n.name, SystemUUID: n.name, BootID: n.name,
				KernelVersion: "sim", OSImage: "skiff simulated node", ContainerRuntimeVersion: "sim://" + version.Kubernetes(),
				KubeletVersion: version.Kubernetes(), OperatingSystem: "linux", Architecture: "amd64",
			},
		},
	}
}

func prefixHash(p string) int {
	h := fnv.New32a()
	h.Write([]byte(p))
	return int(h.Sum32() & 0xffff)
}

// nodeIndex is the position of a sim node among this process's nodes.
func (s *Sim) nodeIndex(name string) int {
	var i int
	fmt.Sscanf(name[len(s.cfg.NamePrefix):], "%d", &i)
	return i
}
