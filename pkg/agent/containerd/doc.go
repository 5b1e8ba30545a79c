// Package containerd starts and supervises the containerd daemon the node agent runs pods
// through, and connects the containerd Go client to it.
//
// Client version decision (issue 4): the whole project uses github.com/containerd/containerd
// v1.7.x (v1.7.35 at the time of writing), the "containerd" root package as the client
// (containerd.New, NewContainer, NewTask …) with its namespaces, oci, cio and images
// packages. It builds with our k8s.io 0.37 / grpc 1.85 dependencies without changing any of
// their versions, and it speaks the same v1 gRPC API as Debian 12's containerd 1.6 daemon.
// The v2 client (github.com/containerd/containerd/v2/client) is not used: v2 dropped some v1
// API shapes the 1.6 daemon still needs, and mixing both would double the dependency tree.
//
// By default the agent runs its own containerd with a config this package writes (root under
// the data dir, state and socket under /run/skiff/containerd, the CRI plugin disabled because
// our kubelet calls the containerd API directly), restarts it with back-off when it dies, and
// either stops it or leaves it running on agent shutdown (KeepRunning) so that pods survive a
// restart of the agent, as k3s does.
package containerd
