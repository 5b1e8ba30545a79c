package integration

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
}

const cmManifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: app
  labels: {tier: web}
data:
  color: blue
`

// TestKubectlVerbs drives the everyday kubectl verbs against ConfigMaps and Namespaces,
// once with the embedded kubectl and once with the system's.
func TestKubectlVerbs(t *testing.T) {
	srv.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		ns := newNamespace(t)
		mustContain(t, k.Run("get", "ns"), "NAME", "STATUS", "AGE", "default", "Active", ns)
		k.Run("create", "configmap", "lit", "-n", ns, "--from-literal=a=b")
		k.Stdin(cmManifest, "apply", "-n", ns, "-f", "-")
		mustContain(t, k.Run("get", "cm", "app", "-n", ns, "-o", "wide"), "NAME", "DATA", "AGE", "app")
		mustContain(t, k.Run("get", "cm", "app", "-n", ns, "-o", "yaml"), "color: blue", "last-applied-configuration")
		mustContain(t, k.Run("get", "cm", "app", "-n", ns, "-o", "jsonpath={.data.color}"), "blue")
		mustContain(t, k.Run("get", "cm", "-n", ns, "-o", "custom-columns=N:.metadata.name,C:.data.color"), "N", "app", "blue")
		var obj map[string]any
		if err := json.Unmarshal([]byte(k.Run("get", "cm", "app", "-n", ns, "-o", "json")), &obj); err != nil {
			t.Fatal(err)
		}
		// diff shows the change (exit code 1) and leaves the object alone.
		out, err := k.Try(nil, strings.Replace(cmManifest, "blue", "green", 1), "diff", "-n", ns, "-f", "-")
		if err == nil || !strings.Contains(out, "+  color: green") {
			t.Fatalf("diff: %v\n%s", err, out)
		}
		k.Stdin(strings.Replace(cmManifest, "blue", "red", 1), "apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-")
		mustContain(t, k.Run("get", "cm", "app", "-n", ns, "-o", "jsonpath={.data.color}"), "red")
		k.Run("patch", "cm", "app", "-n", ns, "--type=merge", "-p", `{"data":{"m":"1"}}`)
		k.Run("patch", "cm", "app", "-n", ns, "--type=json", "-p", `[{"op":"add","path":"/data/j","value":"2"}]`)
		k.Run("patch", "cm", "app", "-n", ns, "-p", `{"data":{"s":"3"}}`) // strategic merge
		mustContain(t, k.Run("get", "cm", "app", "-n", ns, "-o", "jsonpath={.data.m}{.data.j}{.data.s}"), "123")
		k.Run("label", "cm", "app", "-n", ns, "env=prod")
		k.Run("annotate", "cm", "app", "-n", ns, "owner=team-a")
		mustContain(t, k.Run("get", "cm", "-n", ns, "-l", "env=prod", "-o", "name"), "configmap/app")
		mustContain(t, k.Run("describe", "cm", "app", "-n", ns), "Name:", "app", "Labels:", "env=prod", "owner: team-a")
		if out, err := k.Try([]string{"KUBE_EDITOR=sed -i s/color:.red/color:\\ edited/"}, "", "edit", "cm", "app", "-n", ns); err != nil {
			t.Fatalf("edit: %v\n%s", err, out)
		}
		mustContain(t, k.Run("get", "cm", "app", "-n", ns, "-o", "jsonpath={.data.color}"), "edited")
		k.Run("delete", "cm", "lit", "-n", ns, "--wait=false")
		k.Run("wait", "--for=delete", "cm/lit", "-n", ns, "--timeout=30s")
		k.Run("delete", "ns", ns, "--wait=false")
		// The namespace controller empties and removes it; until then it is Terminating.
		if out, err := k.Try(nil, "", "get", "ns", ns, "-o", "jsonpath={.status.phase}"); err == nil && !strings.Contains(out, "Terminating") {
			t.Fatalf("deleted namespace is %q, want Terminating", out)
		} else if err != nil && !strings.Contains(out, "NotFound") {
			t.Fatalf("get deleted namespace: %v %s", err, out)
		}
		k.Run("wait", "--for=delete", "ns/"+ns, "--timeout=60s")
	})
}

func TestKubectlDiscoveryAndExplain(t *testing.T) {
	srv.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		mustContain(t, k.Run("api-versions"), "v1\n", "apiextensions.k8s.io/v1", "apiregistration.k8s.io/v1")
		mustContain(t, k.Run("api-resources"), "configmaps", "cm", "namespaces", "ns", "customresourcedefinitions", "apiservices")
		mustContain(t, k.Run("explain", "configmap.data"), "KIND:", "ConfigMap", "FIELD:", "data")
		mustContain(t, k.Run("explain", "namespace.spec.finalizers"), "finalizers")
	})
}
