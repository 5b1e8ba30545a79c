package scheduler

import (
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Cache holds every node and the pods counted on each. The informers feed it, and
// the scheduler adds a pod the moment it decides to bind it (assume), so the next
// cycle sees the node's new load before the binding comes back through the watch:
// without that, a fast stream of pods would overcommit the emptiest node.
//
// The scheduling cycle holds mu while it filters and scores, so plugins read the
// NodeInfos directly rather than from a per-cycle copy.
type Cache struct {
	mu    sync.Mutex
	nodes map[string]*NodeInfo
	// list holds the NodeInfos with a Node, in name order; rebuilt when nodes come
	// and go.
	list  []*NodeInfo
	dirty bool
	pods  map[types.UID]*cachedPod
	// nominated and nominatedByNode index the nominated pods (nominator.go).
	nominated       map[types.UID]nomination
	nominatedByNode map[string]map[types.UID]*PodInfo
}

type cachedPod struct {
	info    *PodInfo
	node    string
	assumed bool
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{nodes: map[string]*NodeInfo{}, pods: map[types.UID]*cachedPod{},
		nominated: map[types.UID]nomination{}, nominatedByNode: map[string]map[types.UID]*PodInfo{}}
}

func (c *Cache) nodeInfo(name string) *NodeInfo {
	n := c.nodes[name]
	if n == nil {
		n = &NodeInfo{}
		c.nodes[name] = n
	}
	return n
}

// SetNode adds or updates a node.
func (c *Cache) SetNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodeInfo(node.Name)
	if n.Node == nil {
		c.dirty = true
	}
	n.setNode(node)
}

// RemoveNode drops a node; its pods stay counted on a placeholder until they go.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[name]
	if n == nil {
		return
	}
	c.dirty = true
	if len(n.Pods) == 0 {
		delete(c.nodes, name)
		return
	}
	n.Node = nil
}

// Nodes returns the nodes in name order. The caller holds c.mu.
func (c *Cache) Nodes() []*NodeInfo {
	if c.dirty {
		c.list = c.list[:0]
		for _, n := range c.nodes {
			if n.Node != nil {
				c.list = append(c.list, n)
			}
		}
		sort.Slice(c.list, func(i, j int) bool { return c.list[i].Node.Name < c.list[j].Node.Name })
		c.dirty = false
	}
	return c.list
}

// Node returns a node's info, or nil. The caller holds c.mu.
func (c *Cache) Node(name string) *NodeInfo {
	n := c.nodes[name]
	if n == nil || n.Node == nil {
		return nil
	}
	return n
}

// SetPod counts a pod the informer shows bound to a node, replacing what the cache
// held for it (an assumed copy included).
func (c *Cache) SetPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(pod.UID)
	c.addLocked(pod, false)
}

// RemovePod stops counting a pod.
func (c *Cache) RemovePod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(uid)
}

// Assume counts pod (with spec.nodeName set to its node) before the binding is
// seen. The caller holds c.mu.
func (c *Cache) Assume(pod *corev1.Pod) {
	c.removeLocked(pod.UID)
	c.addLocked(pod, true)
}

// Forget drops an assumed pod whose binding failed; a pod the informer has already
// shown bound stays.
func (c *Cache) Forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp := c.pods[uid]; cp != nil && cp.assumed {
		c.removeLocked(uid)
	}
}

// IsAssumedOrBound reports whether the cache counts the pod on a node.
func (c *Cache) IsAssumedOrBound(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pods[uid] != nil
}

func (c *Cache) addLocked(pod *corev1.Pod, assumed bool) {
	pi := newPodInfo(pod)
	c.nodeInfo(pod.Spec.NodeName).addPod(pi)
	c.pods[pod.UID] = &cachedPod{info: pi, node: pod.Spec.NodeName, assumed: assumed}
}

func (c *Cache) removeLocked(uid types.UID) {
	cp := c.pods[uid]
	if cp == nil {
		return
	}
	delete(c.pods, uid)
	n := c.nodes[cp.node]
	if n == nil {
		return
	}
	n.removePod(cp.info)
	if n.Node == nil && len(n.Pods) == 0 {
		delete(c.nodes, cp.node)
	}
}
