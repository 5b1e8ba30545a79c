package garbagecollector

import (
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// objectReference names an object of the graph: its owner-reference coordinates
// plus its namespace.
type objectReference struct {
	metav1.OwnerReference
	Namespace string
}

func (r objectReference) String() string {
	return fmt.Sprintf("[%s/%s, namespace: %s, name: %s, uid: %s]", r.APIVersion, r.Kind, r.Namespace, r.Name, r.UID)
}

// node is one object of the owner→dependents graph. A virtual node stands for an
// owner that some dependent names but no informer has shown yet.
type node struct {
	identity           objectReference
	owners             []metav1.OwnerReference
	dependents         map[*node]struct{}
	virtual            bool
	beingDeleted       bool
	deletingDependents bool
}

// view is a copy of a node's state a worker can use without the graph lock.
type view struct {
	identity           objectReference
	virtual            bool
	deletingDependents bool
	dependents         []objectReference
	// blocking are the dependents whose reference to this node has
	// blockOwnerDeletion set.
	blocking []objectReference
}

// graph is the uid-keyed owner→dependents graph. Only the graph builder goroutine
// changes it; workers read copies of nodes through view.
type graph struct {
	mu    sync.Mutex
	nodes map[types.UID]*node
}

func newGraph() *graph { return &graph{nodes: map[types.UID]*node{}} }

// view copies the node uid, or reports false when the graph no longer has it.
func (g *graph) view(uid types.UID) (view, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	if !ok {
		return view{}, false
	}
	v := view{identity: n.identity, virtual: n.virtual, deletingDependents: n.deletingDependents}
	for d := range n.dependents {
		v.dependents = append(v.dependents, d.identity)
		for _, ref := range d.owners {
			if ref.UID == uid && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
				v.blocking = append(v.blocking, d.identity)
				break
			}
		}
	}
	return v, true
}

// isDeletingDependents reports whether uid is a node waiting in foreground deletion.
func (g *graph) isDeletingDependents(uid types.UID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	return ok && n.deletingDependents
}

// len is the number of nodes, virtual ones included.
func (g *graph) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.nodes)
}
