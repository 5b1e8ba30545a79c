package kubelet

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

func rl(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func TestAllocationsPersist(t *testing.T) {
	dir := t.TempDir()
	a := newAllocations(dir)
	want := map[string]corev1.ResourceRequirements{"c": {Requests: rl("cpu", "100m")}}
	if err := a.set("uid-1", want); err != nil {
		t.Fatal(err)
	}
	if got := newAllocations(dir).get("uid-1"); !sameResources(got["c"], want["c"]) {
		t.Errorf("reloaded %v, want %v", got, want)
	}
	if err := a.set("uid-1", nil); err != nil {
		t.Fatal(err)
	}
	if got := newAllocations(dir).get("uid-1"); got != nil {
		t.Errorf("forgotten allocation reloaded: %v", got)
	}
	// A nil store (a kubelet built without one) records nothing.
	var none *allocations
	if err := none.set(types.UID("x"), want); err != nil || none.get("x") != nil {
		t.Error("nil store")
	}
	if _, err := os.Stat(filepath.Join(dir, allocationsFile+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

func TestWithResources(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{
			{Name: "init", Resources: corev1.ResourceRequirements{Requests: rl("cpu", "1")}},
			{Name: "side", RestartPolicy: ptrTo(corev1.ContainerRestartPolicyAlways), Resources: corev1.ResourceRequirements{Requests: rl("cpu", "100m")}},
		},
		Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: rl("cpu", "100m", "memory", "32Mi", "ephemeral-storage", "1Gi"), Limits: rl("memory", "64Mi")}}},
	}}
	same := map[string]corev1.ResourceRequirements{"side": cpuMem(pod.Spec.InitContainers[1].Resources), "c": cpuMem(pod.Spec.Containers[0].Resources)}
	if got := withResources(pod, same); got != pod {
		t.Error("an allocation equal to the spec copied the pod")
	}
	alloc := map[string]corev1.ResourceRequirements{
		"side": {Requests: rl("cpu", "200m")},
		"c":    {Requests: rl("cpu", "300m"), Limits: rl("cpu", "1", "memory", "128Mi")},
	}
	got := withResources(pod, alloc)
	c := got.Spec.Containers[0].Resources
	if !c.Requests.Cpu().Equal(resource.MustParse("300m")) || c.Requests.Memory().Value() != 0 || c.Requests.StorageEphemeral().String() != "1Gi" ||
		!c.Limits.Cpu().Equal(resource.MustParse("1")) || !c.Limits.Memory().Equal(resource.MustParse("128Mi")) {
		t.Errorf("container resources %v", c)
	}
	if s := got.Spec.InitContainers[1].Resources.Requests.Cpu(); !s.Equal(resource.MustParse("200m")) {
		t.Errorf("sidecar cpu %v", s)
	}
	if got.Spec.InitContainers[0].Resources.Requests.Cpu().String() != "1" || pod.Spec.Containers[0].Resources.Requests.Cpu().String() != "100m" {
		t.Error("changed an init container, or the pod given")
	}
}

func TestNeedsRestart(t *testing.T) {
	c := &corev1.Container{ResizePolicy: []corev1.ContainerResizePolicy{
		{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer},
		{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired},
	}}
	old := corev1.ResourceRequirements{Requests: rl("cpu", "100m", "memory", "32Mi"), Limits: rl("memory", "64Mi")}
	for _, tc := range []struct {
		name  string
		alloc corev1.ResourceRequirements
		want  bool
	}{
		{"cpu request", corev1.ResourceRequirements{Requests: rl("cpu", "200m", "memory", "32Mi"), Limits: rl("memory", "64Mi")}, false},
		{"memory request alone", corev1.ResourceRequirements{Requests: rl("cpu", "100m", "memory", "48Mi"), Limits: rl("memory", "64Mi")}, false},
		{"memory limit", corev1.ResourceRequirements{Requests: rl("cpu", "100m", "memory", "32Mi"), Limits: rl("memory", "96Mi")}, true},
	} {
		if got := needsRestart(c, old, tc.alloc); got != tc.want {
			t.Errorf("%s: restart %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWidestAndLowered(t *testing.T) {
	a := runtime.CgroupResources{CPUShares: 100, CPUQuota: 20000, CPUPeriod: 100000, MemoryLimit: 64 << 20}
	b := runtime.CgroupResources{CPUShares: 200, CPUQuota: 10000, CPUPeriod: 100000, MemoryLimit: 0}
	if got := widest(a, b); got != (runtime.CgroupResources{CPUShares: 200, CPUQuota: 20000, CPUPeriod: 100000}) {
		t.Errorf("widest %+v", got)
	}
	for _, tc := range []struct {
		n, o int64
		want bool
	}{{10, 20, true}, {20, 10, false}, {10, 0, true}, {0, 10, false}, {10, 10, false}} {
		if got := lowered(tc.n, tc.o); got != tc.want {
			t.Errorf("lowered(%d, %d) = %v", tc.n, tc.o, got)
		}
	}
}

func TestResizeStatusAndEvent(t *testing.T) {
	alloc := corev1.ResourceRequirements{Requests: rl("cpu", "200m", "memory", "32Mi"), Limits: rl("memory", "64Mi")}
	running := &runtime.ContainerStatus{State: runtime.StateRunning, Labels: map[string]string{
		labelResources: resourcesLabel(corev1.ResourceRequirements{Requests: rl("cpu", "100m", "memory", "32Mi"), Limits: rl("memory", "64Mi")})}}
	var cs corev1.ContainerStatus
	resizeStatus(&cs, alloc, running)
	if !cs.AllocatedResources.Cpu().Equal(resource.MustParse("200m")) || !cs.Resources.Requests.Cpu().Equal(resource.MustParse("100m")) || !cs.Resources.Limits.Memory().Equal(resource.MustParse("64Mi")) {
		t.Errorf("running: allocated %v, resources %v", cs.AllocatedResources, cs.Resources)
	}
	cs = corev1.ContainerStatus{}
	resizeStatus(&cs, alloc, &runtime.ContainerStatus{State: runtime.StateExited})
	if !cs.Resources.Requests.Cpu().Equal(resource.MustParse("200m")) {
		t.Errorf("exited: resources %v, want the allocation", cs.Resources)
	}
	cs = corev1.ContainerStatus{}
	resizeStatus(&cs, corev1.ResourceRequirements{}, running)
	if cs.AllocatedResources != nil {
		t.Errorf("best effort: allocated %v", cs.AllocatedResources)
	}

	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c0", Resources: alloc}}}}
	pod.Generation = 2
	want := `{"containers":[{"name":"c0","resources":{"limits":{"memory":"64Mi"},"requests":{"cpu":"200m","memory":"32Mi"}}}],"generation":2,"error":"no"}`
	if got := resizeEventJSON(pod, "no"); got != want {
		t.Errorf("event body\n%s\nwant\n%s", got, want)
	}
}

func ptrTo[T any](v T) *T { return &v }
