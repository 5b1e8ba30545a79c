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

// writeKubeconfigs writes the admin kubeconfig to the data dir (0600) and, if asked,
// to --write-kubeconfig with --write-kubeconfig-mode. Certificates are embedded so
// the file works when copied elsewhere.
func writeKubeconfigs(b *pki.Bundle, server, adminPath, extraPath, mode string) error {
	ca, err := os.ReadFile(b.ServerCA)
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(b.AdminCert)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(b.AdminKey)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	cfg.CurrentContext = "default"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(adminPath), 0o700); err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(adminPath, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", adminPath, err)
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
