package kubelet

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

func qosContainer(name string, req, lim map[corev1.ResourceName]string) corev1.Container {
	c := corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}}
	for n, v := range req {
		c.Resources.Requests[n] = resource.MustParse(v)
	}
	for n, v := range lim {
		c.Resources.Limits[n] = resource.MustParse(v)
	}
	return c
}

func TestPodCgroupResources(t *testing.T) {
	cpu, mem := corev1.ResourceCPU, corev1.ResourceMemory
	always := corev1.ContainerRestartPolicyAlways
	for _, tc := range []struct {
		name  string
		pod   corev1.PodSpec
		class corev1.PodQOSClass
		want  runtime.CgroupResources
	}{
		{"besteffort", corev1.PodSpec{Containers: []corev1.Container{qosContainer("a", nil, nil)}},
			corev1.PodQOSBestEffort, runtime.CgroupResources{CPUShares: 2}},
		{"guaranteed", corev1.PodSpec{Containers: []corev1.Container{
			qosContainer("a", map[corev1.ResourceName]string{cpu: "250m", mem: "32Mi"}, map[corev1.ResourceName]string{cpu: "250m", mem: "32Mi"}),
			qosContainer("b", map[corev1.ResourceName]string{cpu: "1", mem: "64Mi"}, map[corev1.ResourceName]string{cpu: "1", mem: "64Mi"}),
		}}, corev1.PodQOSGuaranteed, runtime.CgroupResources{CPUShares: 1280, CPUPeriod: 100000, CPUQuota: 125000, MemoryLimit: 96 << 20}},
		{"burstable memory limits only", corev1.PodSpec{Containers: []corev1.Container{
			qosContainer("a", map[corev1.ResourceName]string{cpu: "100m"}, map[corev1.ResourceName]string{mem: "64Mi"}),
			qosContainer("b", nil, map[corev1.ResourceName]string{cpu: "200m", mem: "32Mi"}),
		}}, corev1.PodQOSBurstable, runtime.CgroupResources{CPUShares: 102, MemoryLimit: 96 << 20}},
		{"burstable tiny request", corev1.PodSpec{Containers: []corev1.Container{
			qosContainer("a", map[corev1.ResourceName]string{cpu: "1m"}, nil),
		}}, corev1.PodQOSBurstable, runtime.CgroupResources{CPUShares: 2}},
		{"init container larger", corev1.PodSpec{
			InitContainers: []corev1.Container{
				qosContainer("side", map[corev1.ResourceName]string{cpu: "100m"}, map[corev1.ResourceName]string{cpu: "100m", mem: "16Mi"}),
				qosContainer("init", map[corev1.ResourceName]string{cpu: "1"}, map[corev1.ResourceName]string{cpu: "1", mem: "128Mi"}),
			},
			Containers: []corev1.Container{qosContainer("a", map[corev1.ResourceName]string{cpu: "200m"}, map[corev1.ResourceName]string{cpu: "500m", mem: "32Mi"})},
		}, corev1.PodQOSBurstable, runtime.CgroupResources{CPUShares: 1126, CPUPeriod: 100000, CPUQuota: 110000, MemoryLimit: 144 << 20}},
		{"pod-level resources", corev1.PodSpec{
			Containers: []corev1.Container{qosContainer("a", nil, nil), qosContainer("b", map[corev1.ResourceName]string{cpu: "100m"}, nil)},
		}, corev1.PodQOSBurstable, runtime.CgroupResources{CPUShares: 512, CPUPeriod: 100000, CPUQuota: 100000, MemoryLimit: 256 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "pod-level resources" {
				tc.pod.Resources = &corev1.ResourceRequirements{
					Requests: corev1.ResourceList{cpu: resource.MustParse("500m"), mem: resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{cpu: resource.MustParse("1"), mem: resource.MustParse("256Mi")},
				}
			}
			if tc.name == "init container larger" {
				tc.pod.InitContainers[0].RestartPolicy = &always
			}
			pod := &corev1.Pod{Spec: tc.pod}
			pod.UID = "u"
			if got := qosClass(pod); got != tc.class {
				t.Fatalf("QoS class %s, want %s", got, tc.class)
			}
			if got := podCgroupResources(pod); got != tc.want {
				t.Errorf("pod cgroup %+v, want %+v", got, tc.want)
			}
		})
	}
}
