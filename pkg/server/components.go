package server

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/agent"
	"github.com/skiff-k8s/skiff/pkg/controllermanager"
	"github.com/skiff-k8s/skiff/pkg/controllers"
	kserver "github.com/skiff-k8s/skiff/pkg/kubelet/server"
	"github.com/skiff-k8s/skiff/pkg/pki"
	"github.com/skiff-k8s/skiff/pkg/scheduler"
	"github.com/skiff-k8s/skiff/pkg/sim"
)

// components are the API clients that run inside the server beside the apiserver:
// the controller manager, the scheduler and the simulated nodes. Each talks to the
// apiserver over HTTPS with its own kubeconfig and identity, exactly as it would from
// another machine, and waits (by retrying) until the apiserver answers.
type components struct {
	wg sync.WaitGroup
}

func (c *components) start(ctx context.Context, name string, run func(ctx context.Context) error) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := run(klog.NewContext(ctx, klog.FromContext(ctx).WithName(name))); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Component failed", "component", name)
		}
	}()
}

func (c *components) wait() { c.wg.Wait() }

// startComponents launches the in-server components the options enable.
func startComponents(ctx context.Context, o Options, dataDir string, bundle *pki.Bundle, svcNet *net.IPNet) *components {
	cred := filepath.Join(dataDir, "server", "cred")
	c := &components{}
	if !o.DisableControllerManager {
		_, clusterNet, _ := net.ParseCIDR(o.ClusterCIDR)
		cfg := controllermanager.Config{
			Kubeconfig: filepath.Join(cred, controllerKubeconfig),
			// --disable names packaged components, as k3s spells them (local-storage, …);
			// those that are controllers are left out of the manager.
			Disabled: o.Disable,
			Config: controllers.Config{
				ClusterCIDR:        clusterNet,
				NodeCIDRMaskSize:   24,
				ServiceCIDR:        svcNet,
				DataDir:            dataDir,
				RootCAFile:         bundle.ServerCA,
				ClusterSigningCert: bundle.ClientCA,
				ClusterSigningKey:  bundle.ClientKey,
				// JOIN: joined kubelets' serving certificates, which the apiserver verifies with the server CA.
				KubeletServingSigningCert: bundle.ServerCA,
				KubeletServingSigningKey:  bundle.ServerKey,
			},
		}
		c.start(ctx, "controller-manager", func(ctx context.Context) error { return controllermanager.Run(ctx, cfg) })
	}
	if !o.DisableScheduler { // SCHEDULER
		cfg := scheduler.Config{Kubeconfig: filepath.Join(cred, schedulerKubeconfig)}
		c.start(ctx, "scheduler", func(ctx context.Context) error { return scheduler.Run(ctx, cfg) })
	}
	if !o.DisableAgent {
		c.start(ctx, "agent", func(ctx context.Context) error { return runAgent(ctx, o, dataDir, bundle) })
	}
	if o.SimNodes > 0 {
		c.start(ctx, "sim", func(ctx context.Context) error {
			rc, err := controllermanager.RESTConfig(filepath.Join(cred, simKubeconfig), "skiff/sim")
			if err != nil {
				return err
			}
			return sim.Run(ctx, sim.Config{RESTConfig: rc, Nodes: o.SimNodes})
		})
	}
	return c
}

// runAgent runs the server's own node agent with a node identity
// (system:node:<name>) and the cluster settings of the server. A machine
// that cannot run pods (not root, no containerd) runs the control plane
// alone: the agent logs why and stays off.
func runAgent(ctx context.Context, o Options, dataDir string, bundle *pki.Bundle) error {
	cfg := o.Agent
	cfg.DataDir = dataDir
	cfg.NodeName = o.NodeName
	cfg.NodeIP = o.AdvertiseAddress
	cfg.ClusterDomain = o.ClusterDomain
	cfg.ControlPlane = true
	if ip := net.ParseIP(o.ClusterDNS); ip != nil {
		cfg.ClusterDNS = []net.IP{ip}
	}
	cfg.DisableDNS = cfg.DisableDNS || slices.Contains(o.Disable, DisableDNS)
	_, cfg.ClusterCIDR, _ = net.ParseCIDR(o.ClusterCIDR)
	if err := agent.Preflight(cfg); err != nil {
		if errors.Is(err, agent.ErrUnsupported) {
			klog.InfoS("Not running the node agent", "reason", err)
			return nil
		}
		return err
	}
	if cfg.NodeName == "" {
		cfg.NodeName = agent.DefaultNodeName()
	}
	kc, err := writeAgentKubeconfig(bundle, "https://127.0.0.1:"+strconv.Itoa(o.HTTPSPort), dataDir, cfg.NodeName)
	if err != nil {
		return err
	}
	cfg.Kubeconfig = kc
	// The kubelet API's certificate is signed by the cluster CA, which the
	// apiserver trusts for kubelets; its clients are the apiserver's.
	cfg.ServingCertFile = filepath.Join(dataDir, "agent", "serving-kubelet.crt")
	cfg.ServingKeyFile = filepath.Join(dataDir, "agent", "serving-kubelet.key")
	cfg.ClientCAFile = bundle.ClientCA
	ips := []net.IP{net.IPv4(127, 0, 0, 1)}
	if o.AdvertiseAddress != nil {
		ips = append(ips, o.AdvertiseAddress)
	} else {
		ips = append(ips, agent.PrimaryIP())
	}
	var dns []string
	if h, err := os.Hostname(); err == nil {
		dns = append(dns, h)
	}
	if err := kserver.EnsureServingCert(bundle.ServerCA, bundle.ServerKey, cfg.ServingCertFile, cfg.ServingKeyFile, cfg.NodeName, dns, ips); err != nil {
		return err
	}
	return agent.Run(ctx, cfg)
}
