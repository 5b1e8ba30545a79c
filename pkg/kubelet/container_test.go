package kubelet

import (
	"net"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

type runtimeConfig = runtime.ContainerConfig

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b"}
	for in, want := range map[string]string{
		"plain":         "plain",
		"$(A)":          "a",
		"x-$(A)-$(B)":   "x-a-b",
		"$$(A)":         "$(A)",
		"$(MISSING)":    "$(MISSING)",
		"$(A":           "$(A",
		"cost $5":       "cost $5",
		"$$":            "$",
		"end$":          "end$",
		"$(A)$(A)$$$$x": "aa$$x",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPodField(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "x", "tier": "y"}},
		Spec:       corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa"},
	}
	pr := &podRuntime{ips: []string{"10.42.0.9"}}
	for path, want := range map[string]string{
		"metadata.name":             "web",
		"metadata.namespace":        "ns",
		"metadata.uid":              "u1",
		"metadata.labels['app']":    "x",
		"metadata.labels":           "app=\"x\"\ntier=\"y\"",
		"spec.nodeName":             "n1",
		"spec.serviceAccountName":   "sa",
		"status.podIP":              "10.42.0.9",
		"status.hostIP":             "192.0.2.7",
		"metadata.annotations['z']": "",
	} {
		got, err := podField(pod, path, pr, net.ParseIP("192.0.2.7"))
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := podField(pod, "spec.bogus", pr, nil); err == nil {
		t.Error("unknown field path accepted")
	}
}

func TestResourceField(t *testing.T) {
	c := &corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{*c}}}
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	for _, tc := range []struct {
		res, divisor, want string
	}{
		{"requests.cpu", "", "1"},     // 250m rounds up to 1 core
		{"requests.cpu", "1m", "250"}, // in millicores
		{"limits.cpu", "", "4"},       // unset limit: node allocatable
		{"limits.memory", "1Mi", "64"},
		{"limits.memory", "", "67108864"},
	} {
		ref := &corev1.ResourceFieldSelector{Resource: tc.res}
		if tc.divisor != "" {
			ref.Divisor = resource.MustParse(tc.divisor)
		}
		got, err := resourceField(pod, c, ref, alloc)
		if err != nil || got != tc.want {
			t.Errorf("%s/%s = %q, %v; want %q", tc.res, tc.divisor, got, err, tc.want)
		}
	}
}

func TestApplySecurityContext(t *testing.T) {
	uid, gid, cuid := int64(1000), int64(2000), int64(1001)
	pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &gid, SupplementalGroups: []int64{5}}}}
	c := &corev1.Container{SecurityContext: &corev1.SecurityContext{
		RunAsUser:              &cuid,
		ReadOnlyRootFilesystem: ptrBool(true),
		Capabilities:           &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
	}}
	rc := containerConfigForTest(pod, c)
	if rc.User == nil || *rc.User.UID != 1001 || *rc.User.GID != 2000 || len(rc.User.SupplementalGroups) != 1 {
		t.Errorf("user %+v", rc.User)
	}
	if !rc.ReadOnlyRootfs || rc.Capabilities == nil || rc.Capabilities.Add[0] != "NET_ADMIN" || rc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("config %+v", rc)
	}
	if rc.Seccomp != nil {
		t.Errorf("seccomp %+v with no profile asked for, want unconfined", rc.Seccomp)
	}
	// Seccomp: the container's profile over the pod's.
	local := "profiles/audit.json"
	pod.Spec.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	if rc := containerConfigForTest(pod, c); rc.Seccomp == nil || rc.Seccomp.LocalhostPath != "" {
		t.Errorf("pod's RuntimeDefault: %+v", rc.Seccomp)
	}
	c.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &local}
	if rc := containerConfigForTest(pod, c); rc.Seccomp == nil || rc.Seccomp.LocalhostPath != "/seccomp/profiles/audit.json" {
		t.Errorf("container's Localhost: %+v", rc.Seccomp)
	}
	c.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	if rc := containerConfigForTest(pod, c); rc.Seccomp != nil {
		t.Errorf("container's Unconfined: %+v", rc.Seccomp)
	}
	escape := "../x.json"
	c.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &escape}
	var cfg runtimeConfig
	if err := applySecurityContext(&cfg, pod, c, "/seccomp"); err == nil {
		t.Errorf("a profile out of the seccomp root was taken: %+v", cfg.Seccomp)
	}
}

func containerConfigForTest(pod *corev1.Pod, c *corev1.Container) runtimeConfig {
	var cfg runtimeConfig
	if err := applySecurityContext(&cfg, pod, c, "/seccomp"); err != nil {
		panic(err)
	}
	return cfg
}

func TestPodHostname(t *testing.T) {
	yes := true
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "ns"}, Spec: corev1.PodSpec{Hostname: "web", Subdomain: "svc"}}
	if h, err := podHostname(pod, "cluster.local"); err != nil || h != "web" {
		t.Errorf("hostname %q %v", h, err)
	}
	pod.Spec.SetHostnameAsFQDN = &yes
	if h, err := podHostname(pod, "cluster.local"); err != nil || h != "web.svc.ns.svc.cluster.local" {
		t.Errorf("FQDN %q %v", h, err)
	}
	pod.Spec.Hostname = "a-rather-long-hostname-that-is-still-a-valid-label"
	if _, err := podHostname(pod, "cluster.local"); err == nil || !strings.Contains(err.Error(), "is too long (64 characters is the max") {
		t.Errorf("long FQDN: %v", err)
	}
}
