package containerd

import (
	"context"
	"fmt"
	"time"

	containerd "github.com/containerd/containerd"
)

// Namespace is the containerd namespace the kubelet keeps pods in. It is the one upstream's
// CRI plugin uses, so that `ctr -n k8s.io` shows the same containers.
const Namespace = "k8s.io"

// Connect returns a client for the containerd listening on address, once it answers.
func Connect(ctx context.Context, address string) (*containerd.Client, error) {
	c, err := containerd.New(address, containerd.WithTimeout(10*time.Second), containerd.WithDefaultNamespace(Namespace))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	ok, err := c.IsServing(ctx)
	if err == nil && !ok {
		err = fmt.Errorf("containerd at %s is not serving", address)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
