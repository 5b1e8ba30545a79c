package join

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstraputil "k8s.io/cluster-bootstrap/token/util"
)

func TestParseToken(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	cases := []struct {
		in      string
		want    Token
		wantErr string
	}{
		{in: "K10" + hash + "::server:abcdef.0123456789abcdef", want: Token{CAHash: hash, Username: "server", Password: "abcdef.0123456789abcdef"}},
		{in: "K10" + strings.ToUpper(hash) + "::abcdef.0123456789abcdef", want: Token{CAHash: hash, Password: "abcdef.0123456789abcdef"}},
		{in: " mysecret\n", want: Token{Password: "mysecret"}},
		{in: "K10notatoken", want: Token{Password: "K10notatoken"}},
		{in: "", wantErr: "join token is empty"},
		{in: "K10abc::server:x", wantErr: "must be 64 hex digits, got 3"},
		{in: "K10" + strings.Repeat("zz", 32) + "::server:x", wantErr: "is not hexadecimal"},
		{in: "K10" + hash + "::server:", wantErr: "no password"},
	}
	for _, tc := range cases {
		got, err := ParseToken(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseToken(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseToken(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if again, _ := ParseToken(got.String()); again != got {
			t.Errorf("round trip of %q: %+v", got.String(), again)
		}
	}
}

func TestBootstrapToken(t *testing.T) {
	if got := (Token{Password: "abcdef.0123456789abcdef"}).BootstrapToken(); got != "abcdef.0123456789abcdef" {
		t.Errorf("a bootstrap token is kept, got %q", got)
	}
	a, b := Token{Password: "my secret"}.BootstrapToken(), Token{Password: "my secret"}.BootstrapToken()
	if a != b || !bootstraputil.IsValidBootstrapToken(a) {
		t.Errorf("derived tokens %q, %q: want equal and valid", a, b)
	}
	if c := (Token{Password: "other"}).BootstrapToken(); c == a {
		t.Errorf("different passwords derive the same token %q", c)
	}
}

func TestEnsureServerToken(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(ca)
	path := filepath.Join(dir, "server", "token")
	first, err := EnsureServerToken(path, ca, "")
	if err != nil {
		t.Fatal(err)
	}
	if first.CAHash != HashCA(caPEM) || !bootstraputil.IsValidBootstrapToken(first.Password) || first.Username != "server" {
		t.Errorf("generated token %+v", first)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	again, err := EnsureServerToken(path, ca, "")
	if err != nil || again != first {
		t.Errorf("restart: %+v, %v; want the token kept, %+v", again, err, first)
	}
	explicit, err := EnsureServerToken(path, ca, "hunter2")
	if err != nil || explicit.Password != "hunter2" {
		t.Errorf("--token hunter2: %+v, %v", explicit, err)
	}
	data, _ := os.ReadFile(path)
	if strings.TrimSpace(string(data)) != explicit.String() {
		t.Errorf("file holds %q, want %q", data, explicit.String())
	}
	if _, err := EnsureServerToken(path, ca, "K10"+strings.Repeat("00", 32)+"::server:x"); err == nil || !strings.Contains(err.Error(), "does not match this server's CA") {
		t.Errorf("--token of another CA: %v", err)
	}
}
