package integration

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFrontProxyAuthentication: the aggregator's front-proxy certificate makes
// X-Remote-* headers count, no other certificate does, and the CAs and header names
// aggregated API servers need are published in kube-system.
func TestFrontProxyAuthentication(t *testing.T) {
	tlsDir := filepath.Join(srv.DataDir, "server", "tls")
	cm, err := srv.Client.CoreV1().ConfigMaps("kube-system").Get(ctxT(t), "extension-apiserver-authentication", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rhCA, _ := os.ReadFile(filepath.Join(tlsDir, "request-header-ca.crt"))
	if cm.Data["requestheader-client-ca-file"] != string(rhCA) || cm.Data["requestheader-allowed-names"] != `["system:auth-proxy"]` ||
		cm.Data["requestheader-username-headers"] != `["X-Remote-User"]` || !strings.Contains(cm.Data["client-ca-file"], "BEGIN CERTIFICATE") {
		t.Fatalf("extension-apiserver-authentication: %v", cm.Data)
	}
	if _, err := srv.Client.RbacV1().Roles("kube-system").Get(ctxT(t), "extension-apiserver-authentication-reader", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	whoami := func(certName string, headers map[string]string) (int, *authenticationv1.SelfSubjectReview) {
		cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, certName+".crt"), filepath.Join(tlsDir, certName+".key"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		ca, _ := os.ReadFile(filepath.Join(tlsDir, "server-ca.crt"))
		pool.AppendCertsFromPEM(ca)
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
		req, _ := http.NewRequest("POST", fmt.Sprintf("https://127.0.0.1:%d/apis/authentication.k8s.io/v1/selfsubjectreviews", srv.Port),
			strings.NewReader(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Add(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		out := &authenticationv1.SelfSubjectReview{}
		_ = json.Unmarshal(body, out)
		return resp.StatusCode, out
	}
	headers := map[string]string{"X-Remote-User": "alice", "X-Remote-Group": "devs", "X-Remote-Extra-Scopes": "read"}
	code, r := whoami("client-auth-proxy", headers)
	u := r.Status.UserInfo
	if code != 201 || u.Username != "alice" || strings.Join(u.Groups, ",") != "devs,system:authenticated" || len(u.Extra["scopes"]) != 1 {
		t.Fatalf("front proxy as alice: %d %+v", code, u)
	}
	// The admin's certificate is not the front proxy's: its headers are ignored.
	if code, r := whoami("client-admin", headers); code != 201 || r.Status.UserInfo.Username != "system:admin" {
		t.Fatalf("admin certificate with identity headers: %d %+v", code, r.Status.UserInfo)
	}
	// The front-proxy certificate alone is no identity.
	if code, _ := whoami("client-auth-proxy", nil); code != http.StatusUnauthorized {
		t.Fatalf("front-proxy certificate without headers: %d, want 401", code)
	}
}
