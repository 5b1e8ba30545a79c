package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// rawRequest sends a raw body with the admin's credentials and returns the status
// code and body as the server wrote them.
func rawRequest(t *testing.T, verb, path, contentType string, body []byte, params map[string]string) (int, string) {
	t.Helper()
	hc, err := rest.HTTPClientFor(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	u := strings.TrimSuffix(srv.Config.Host, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctxT(t), verb, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func TestBadInput(t *testing.T) {
	ns := newNamespace(t)
	cms := "/api/v1/namespaces/" + ns + "/configmaps"
	cases := []struct {
		name        string
		verb, path  string
		ctype, body string
		params      map[string]string
		code        int
		contains    []string
	}{
		{"malformed json", "POST", cms, "application/json", `{"metadata": {"name": "x"`, nil, 400, []string{"BadRequest"}},
		{"malformed yaml", "POST", cms, "application/yaml", "metadata: [name: x", nil, 400, []string{"BadRequest"}},
		{"wrong kind", "POST", cms, "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`, nil, 400, []string{"Secret"}},
		{"unknown field strict", "POST", cms, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},"bogus":1}`,
			map[string]string{"fieldValidation": "Strict"}, 400, []string{`unknown field \"bogus\"`}},
		{"duplicate field strict", "POST", cms, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1"},"data":{"b":"2"}}`,
			map[string]string{"fieldValidation": "Strict"}, 400, []string{`duplicate field \"data\"`}},
		{"invalid name", "POST", cms, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}`, nil, 422,
			[]string{"metadata.name", "Invalid value", "RFC 1123"}},
		{"invalid key", "POST", cms, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"badkey"},"data":{"a b":"1"}}`, nil, 422,
			[]string{"data[a b]"}},
		{"unknown resource", "GET", "/api/v1/namespaces/" + ns + "/foos", "application/json", "", nil, 404, []string{"NotFound"}},
		{"unknown group", "GET", "/apis/nothing.example.com/v1/things", "application/json", "", nil, 404, nil},
		{"namespace mismatch", "POST", cms, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"m","namespace":"other"}}`, nil, 400,
			[]string{"does not match the namespace"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := rawRequest(t, c.verb, c.path, c.ctype, []byte(c.body), c.params)
			if code != c.code {
				t.Fatalf("status %d, want %d: %s", code, c.code, body)
			}
			for _, s := range c.contains {
				if !strings.Contains(body, s) {
					t.Errorf("response lacks %q: %s", s, body)
				}
			}
		})
	}
	t.Run("unknown field warn", func(t *testing.T) {
		res := srv.Client.CoreV1().RESTClient().Post().AbsPath(cms).Param("fieldValidation", "Warn").SetHeader("Content-Type", "application/json").
			Body([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warned"},"bogus":1}`)).Do(ctxT(t))
		if err := res.Error(); err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, w := range res.Warnings() {
			found = found || strings.Contains(w.Text, `unknown field "bogus"`)
		}
		if !found {
			t.Errorf("no unknown-field warning: %v", res.Warnings())
		}
	})
	t.Run("request too large", func(t *testing.T) {
		big := strings.Repeat("x", 4<<20)
		code, body := rawRequest(t, "POST", cms, "application/json", []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"a":%q}}`, big)), nil)
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413: %.300s", code, body)
		}
	})
	t.Run("stale resourceVersion", func(t *testing.T) {
		ctx := ctxT(t)
		cm, err := srv.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "occ"}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stale := cm.DeepCopy()
		cm.Data["a"] = "2"
		if _, err := srv.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		stale.Data["a"] = "3"
		_, err = srv.Client.CoreV1().ConfigMaps(ns).Update(ctx, stale, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			t.Fatalf("update with stale resourceVersion: %v, want 409 Conflict", err)
		}
		got, _ := srv.Client.CoreV1().ConfigMaps(ns).Get(ctx, "occ", metav1.GetOptions{})
		if got.Data["a"] != "2" {
			t.Fatalf("data = %v after refused update", got.Data)
		}
	})
	// None of the refused objects exists; only "warned" and "occ" were created.
	list, err := srv.Client.CoreV1().ConfigMaps(ns).List(ctxT(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cm := range list.Items {
		if cm.Name != "kube-root-ca.crt" {
			names = append(names, cm.Name)
		}
	}
	if strings.Join(names, ",") != "occ,warned" {
		t.Fatalf("configmaps after bad input: %v, want [occ warned]", names)
	}
	if _, err := srv.Client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctxT(t)).Raw(); err != nil {
		t.Fatalf("server unhealthy after bad input: %v", err)
	}
}
