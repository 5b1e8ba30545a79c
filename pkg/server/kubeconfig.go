package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/skiff-k8s/skiff/pkg/pki"
)

// Kubeconfig files of the components running inside the server, under
// <data-dir>/server/cred, each with the component's own client certificate.
const (
	controllerKubeconfig = "controller.kubeconfig"
	schedulerKubeconfig  = "scheduler.kubeconfig"
	simKubeconfig        = "sim.kubeconfig"
)

// writeKubeconfigs writes the admin kubeconfig to the data dir (0600) and, if asked,
// to --write-kubeconfig with --write-kubeconfig-mode, then the components' kubeconfigs
// beside the admin's. Certificates are embedded so a file works when copied elsewhere.
func writeKubeconfigs(b *pki.Bundle, server, adminPath, extraPath, mode string) error {
	data, err := kubeconfig(b, server, b.AdminCert, b.AdminKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(adminPath), 0o700); err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(adminPath, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", adminPath, err)
	}
	for _, c := range []struct{ name, cert, key string }{
		{controllerKubeconfig, b.ControllerManagerCert, b.ControllerManagerKey},
		{schedulerKubeconfig, b.SchedulerCert, b.SchedulerKey},
		{simKubeconfig, b.SimNodeCert, b.SimNodeKey},
	} {
		cdata, err := kubeconfig(b, server, c.cert, c.key)
		if err != nil {
			return err
		}
		path := filepath.Join(filepath.Dir(adminPath), c.name)
		if err := pki.WriteFileAtomic(path, cdata, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if extraPath == "" {
		return nil
	}
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil || m > 0o777 {
		return fmt.Errorf("--write-kubeconfig-mode: %q is not an octal file mode", mode)
	}
	if err := os.MkdirAll(filepath.Dir(extraPath), 0o755); err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(extraPath, data, os.FileMode(m)); err != nil {
		return fmt.Errorf("write %s: %w", extraPath, err)
	}
	return nil
}

// kubeconfig encodes a kubeconfig for server that authenticates with the given client
// certificate and trusts the cluster CA.
func kubeconfig(b *pki.Bundle, server, certFile, keyFile string) ([]byte, error) {
	ca, err := os.ReadFile(b.ServerCA)
	if err != nil {
		return nil, err
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	cfg.CurrentContext = "default"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	return data, nil
}

// writeAgentKubeconfig writes the kubeconfig of the server's own node agent,
// <data-dir>/agent/kubelet.kubeconfig, with the node's client certificate
// (system:node:<name>), and returns its path.
func writeAgentKubeconfig(b *pki.Bundle, server, dataDir, nodeName string) (string, error) {
	cert, key, err := b.EnsureNodeClient(nodeName)
	if err != nil {
		return "", fmt.Errorf("node client certificate: %w", err)
	}
	data, err := kubeconfig(b, server, cert, key)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dataDir, "agent", "kubelet.kubeconfig")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := pki.WriteFileAtomic(path, data, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}
