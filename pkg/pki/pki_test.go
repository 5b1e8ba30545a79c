package pki

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestEnsureCreatesReusesAndReissues(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	names := Names{DNS: []string{"kubernetes"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}}
	b, err := Ensure(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{b.ServerKey, b.ClientKey, b.ServingKey, b.AdminKey, b.KubeletClientKey, b.RequestHeaderKey, b.ProxyClientKey, b.ServiceAccountKey} {
		st, err := os.Stat(key)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o, want 600", key, st.Mode().Perm())
		}
	}
	admin, err := readCert(b.AdminCert)
	if err != nil {
		t.Fatal(err)
	}
	if admin.Subject.CommonName != "system:admin" || !slices.Equal(admin.Subject.Organization, []string{"system:masters"}) ||
		!slices.Contains(admin.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Fatalf("admin certificate subject %v usages %v", admin.Subject, admin.ExtKeyUsage)
	}
	clientCA, _ := readCert(b.ClientCA)
	if err := admin.CheckSignatureFrom(clientCA); err != nil {
		t.Fatalf("admin certificate not signed by the client CA: %v", err)
	}
	proxyCert, _ := readCert(b.ProxyClientCert)
	rhCA, _ := readCert(b.RequestHeaderCA)
	if proxyCert == nil || rhCA == nil || proxyCert.CheckSignatureFrom(rhCA) != nil || proxyCert.Subject.CommonName != ProxyClientName {
		t.Fatalf("front-proxy client certificate not signed by the request-header CA as %s", ProxyClientName)
	}
	serving1, _ := os.ReadFile(b.ServingCert)
	ca1, _ := os.ReadFile(b.ServerCA)

	// A second start with the same names changes nothing.
	if _, err := Ensure(dir, names); err != nil {
		t.Fatal(err)
	}
	serving2, _ := os.ReadFile(b.ServingCert)
	if string(serving1) != string(serving2) {
		t.Fatal("serving certificate re-issued without reason")
	}

	// A new name re-issues the serving certificate from the same CA.
	names.IPs = append(names.IPs, net.ParseIP("10.43.0.1"))
	if _, err := Ensure(dir, names); err != nil {
		t.Fatal(err)
	}
	ca3, _ := os.ReadFile(b.ServerCA)
	if string(ca1) != string(ca3) {
		t.Fatal("cluster CA changed")
	}
	serving, err := readCert(b.ServingCert)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(serving.IPAddresses, net.ParseIP("10.43.0.1").Equal) {
		t.Fatalf("serving certificate lacks the new IP: %v", serving.IPAddresses)
	}
	serverCA, _ := readCert(b.ServerCA)
	if err := serving.CheckSignatureFrom(serverCA); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKey(b.ServiceAccountKey); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFileAtomicMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	if err := WriteFileAtomic(p, []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("a"), 0o644); err != nil { // same content, new mode
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %o", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}
