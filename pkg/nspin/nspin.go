// Package nspin makes Linux namespaces that outlive every process in them,
// pinned by a bind mount of the namespace's file, as `ip netns add` does: the
// pods' network namespaces (pkg/network) and IPC namespaces (the kubelet's
// runtime), which skiff keeps without a pause container. Bind pins one a
// process made (a shared PID namespace, whose holder is pkg/pidholder).
package nspin

// Kind is a kind of namespace, named as in /proc/PID/ns.
type Kind string

// The kinds skiff pins.
const (
	Net Kind = "net"
	IPC Kind = "ipc"
)
