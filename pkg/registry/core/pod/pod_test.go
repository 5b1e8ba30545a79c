package pod

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func minimalPod() *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	DefaultPod(p)
	return p
}

func TestDefaultPullPolicy(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"busybox":                  corev1.PullAlways,
		"busybox:latest":           corev1.PullAlways,
		"busybox:1.36":             corev1.PullIfNotPresent,
		"localhost:5000/busybox":   corev1.PullAlways,
		"localhost:5000/busybox:1": corev1.PullIfNotPresent,
		"busybox@sha256:" + strings.Repeat("a", 64): corev1.PullIfNotPresent,
	} {
		if got := DefaultPullPolicy(image); got != want {
			t.Errorf("%s: got %s, want %s", image, got, want)
		}
	}
}

func TestDefaultPod(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "c", Image: "nginx:1.25",
			Ports:          []corev1.ContainerPort{{ContainerPort: 80}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
			Resources:      corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
			Env:            []corev1.EnvVar{{Name: "N", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
		}},
		Volumes: []corev1.Volume{{Name: "e"}, {Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}}},
			{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}}},
	}}
	DefaultPod(p)
	s, c := p.Spec, p.Spec.Containers[0]
	checks := map[string]bool{
		"restartPolicy":     s.RestartPolicy == corev1.RestartPolicyAlways,
		"dnsPolicy":         s.DNSPolicy == corev1.DNSClusterFirst,
		"schedulerName":     s.SchedulerName == "default-scheduler",
		"grace":             *s.TerminationGracePeriodSeconds == 30,
		"securityContext":   s.SecurityContext != nil,
		"enableServiceLink": *s.EnableServiceLinks,
		"pullPolicy":        c.ImagePullPolicy == corev1.PullIfNotPresent,
		"terminationPath":   c.TerminationMessagePath == "/dev/termination-log",
		"terminationPolicy": c.TerminationMessagePolicy == corev1.TerminationMessageReadFile,
		"protocol":          c.Ports[0].Protocol == corev1.ProtocolTCP,
		"probe":             c.ReadinessProbe.TimeoutSeconds == 1 && c.ReadinessProbe.PeriodSeconds == 10 && c.ReadinessProbe.SuccessThreshold == 1 && c.ReadinessProbe.FailureThreshold == 3,
		"httpGet":           c.ReadinessProbe.HTTPGet.Path == "/" && c.ReadinessProbe.HTTPGet.Scheme == corev1.URISchemeHTTP,
		"requests":          c.Resources.Requests.Cpu().String() == "1",
		"fieldRef":          c.Env[0].ValueFrom.FieldRef.APIVersion == "v1",
		"emptyDir":          s.Volumes[0].EmptyDir != nil,
		"secretMode":        *s.Volumes[1].Secret.DefaultMode == 420,
		"hostPathType":      *s.Volumes[2].HostPath.Type == corev1.HostPathUnset,
		"noPriority":        s.Priority == nil && s.PreemptionPolicy == nil && s.Tolerations == nil,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("default %s not applied: %+v", name, p.Spec)
		}
	}
	// Templates do not get the pod-only defaults.
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}}
	DefaultPodTemplateSpec(tmpl)
	if tmpl.Spec.EnableServiceLinks != nil || tmpl.Spec.Containers[0].Resources.Requests != nil {
		t.Errorf("template got pod-only defaults: %+v", tmpl.Spec)
	}
}

func errorStrings(errs field.ErrorList) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "\n")
}

func TestValidatePodSpec(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []string
	}{
		{"valid", func(p *corev1.Pod) {}, nil},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil }, []string{"spec.containers: Required value"}},
		{"no image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []string{"spec.containers[0].image: Required value"}},
		{"bad name", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "A" }, []string{`spec.containers[0].name: Invalid value: "A"`}},
		{"duplicate init name", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{p.Spec.Containers[0]}
		}, []string{`spec.initContainers[0].name: Duplicate value: "c"`}},
		{"port range", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 0, Protocol: "TCP"}, {ContainerPort: 70000, Protocol: "TCP"}}
		}, []string{"spec.containers[0].ports[0].containerPort: Required value", "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"}},
		{"duplicate port name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: "TCP"}, {Name: "http", ContainerPort: 81, Protocol: "TCP"}}
		}, []string{`spec.containers[0].ports[1].name: Duplicate value: "http"`}},
		{"restart policy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, []string{`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`}},
		{"dns policy", func(p *corev1.Pod) { p.Spec.DNSPolicy = "X" }, []string{`spec.dnsPolicy: Unsupported value: "X"`}},
		{"volume mount", func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/v"}}
		}, []string{`spec.containers[0].volumeMounts[0].name: Not found: "v"`}},
		{"two volume sources", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}, []string{"spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"}},
		{"duplicate volume", func(p *corev1.Pod) {
			v := corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
			p.Spec.Volumes = []corev1.Volume{v, v}
		}, []string{`spec.volumes[1].name: Duplicate value: "v"`}},
		{"env name", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}} }, []string{`spec.containers[0].env[0].name: Invalid value: "A=B"`}},
		{"requests above limits", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}, Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
		}, []string{`spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`}},
		{"negative grace", func(p *corev1.Pod) { g := int64(-1); p.Spec.TerminationGracePeriodSeconds = &g }, []string{"spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"}},
		{"ephemeral on create", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "d", Image: "x", ImagePullPolicy: "Always", TerminationMessagePolicy: "File"}}}
		}, []string{"spec.ephemeralContainers: Forbidden: cannot be set on create"}},
	}
	for _, tc := range cases {
		p := minimalPod()
		tc.mutate(p)
		got := errorStrings(ValidatePodCreate(p))
		if tc.want == nil && got != "" {
			t.Errorf("%s: unexpected errors:\n%s", tc.name, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: want %q in:\n%s", tc.name, w, got)
			}
		}
	}
}

func TestValidatePodUpdate(t *testing.T) {
	old := minimalPod()
	p := old.DeepCopy()
	p.Spec.Containers[0].Image = "busybox:2"
	p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
	if errs := ValidatePodUpdate(p, old); len(errs) > 0 {
		t.Fatalf("image and toleration change refused: %v", errs)
	}
	p = old.DeepCopy()
	p.Spec.RestartPolicy = corev1.RestartPolicyNever
	got := errorStrings(ValidatePodUpdate(p, old))
	if !strings.Contains(got, "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`") {
		t.Errorf("restartPolicy change: %s", got)
	}
	neg := int64(-5)
	old.Spec.TerminationGracePeriodSeconds = &neg
	p = old.DeepCopy()
	one := int64(1)
	p.Spec.TerminationGracePeriodSeconds = &one
	if errs := ValidatePodUpdate(p, old); len(errs) > 0 {
		t.Errorf("negative grace to 1 refused: %v", errs)
	}
}

func TestPrepareAndQOS(t *testing.T) {
	p := minimalPod()
	p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "g"}}
	PrepareForCreate(p)
	if p.Status.Phase != corev1.PodPending || p.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("status: %+v", p.Status)
	}
	if _, _, reason, _ := Summary(p); reason != "SchedulingGated" {
		t.Errorf("gated pod status %q", reason)
	}
	both := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: both, Requests: both}
	if q := QOSClass(p); q != corev1.PodQOSGuaranteed {
		t.Errorf("qos %s", q)
	}
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: both}
	if q := QOSClass(p); q != corev1.PodQOSBurstable {
		t.Errorf("qos %s", q)
	}
}

func TestCheckGracefulDelete(t *testing.T) {
	p := minimalPod()
	opts := &metav1.DeleteOptions{}
	CheckGracefulDelete(p, opts)
	if *opts.GracePeriodSeconds != 0 {
		t.Errorf("unscheduled pod grace %d", *opts.GracePeriodSeconds)
	}
	p.Spec.NodeName = "n"
	opts = &metav1.DeleteOptions{}
	CheckGracefulDelete(p, opts)
	if *opts.GracePeriodSeconds != 30 {
		t.Errorf("scheduled pod grace %d", *opts.GracePeriodSeconds)
	}
	neg := int64(-3)
	opts = &metav1.DeleteOptions{GracePeriodSeconds: &neg}
	CheckGracefulDelete(p, opts)
	if *opts.GracePeriodSeconds != 1 {
		t.Errorf("negative grace became %d", *opts.GracePeriodSeconds)
	}
}

func TestRow(t *testing.T) {
	ago := metav1.NewTime(time.Now().Add(-time.Hour))
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	cases := []struct {
		name        string
		status      corev1.PodStatus
		deleting    bool
		ready, text string
		restarts    string
	}{
		{"pending", corev1.PodStatus{Phase: corev1.PodPending}, false, "0/1", "Pending", "0"},
		{"running", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, State: running}}}, false, "1/1", "Running", "0"},
		{"crashloop", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "c", RestartCount: 4,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: ago}}}}}, false, "0/1", "CrashLoopBackOff", "4 (60m ago)"},
		{"completed", corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{Name: "c",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}}, false, "0/1", "Completed", "0"},
		{"init", corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{Name: "i",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}}, false, "0/1", "Init:0/1", "0"},
		{"init error", corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{Name: "i",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}}}, false, "0/1", "Init:ExitCode:2", "0"},
		{"terminating", corev1.PodStatus{Phase: corev1.PodRunning}, true, "0/1", "Terminating", "0"},
		{"evicted", corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}, false, "0/1", "Evicted", "0"},
	}
	for _, tc := range cases {
		p := minimalPod()
		p.Spec.InitContainers = nil
		if strings.HasPrefix(tc.name, "init") {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Image: "x"}}
		}
		p.Status = tc.status
		if tc.deleting {
			p.DeletionTimestamp = &ago
		}
		row := Row(p)
		if len(row) != len(Resource.Columns) {
			t.Fatalf("%d cells for %d columns", len(row), len(Resource.Columns))
		}
		if row[1] != tc.ready || row[2] != tc.text || row[3] != tc.restarts {
			t.Errorf("%s: got %v %v %v, want %s %s %s", tc.name, row[1], row[2], row[3], tc.ready, tc.text, tc.restarts)
		}
		if row[5] != "<none>" || row[6] != "<none>" || row[8] != "<none>" {
			t.Errorf("%s: wide cells %v", tc.name, row[5:])
		}
	}
}

func TestValidatePodTemplateSpec(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	DefaultPodTemplateSpec(tmpl)
	if errs := ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")); len(errs) > 0 {
		t.Fatalf("valid template: %v", errs)
	}
	tmpl.Labels["bad key!"] = "v"
	tmpl.Spec.Containers[0].Image = ""
	got := errorStrings(ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")))
	for _, w := range []string{"spec.template.labels: Invalid value: \"bad key!\"", "spec.template.spec.containers[0].image: Required value"} {
		if !strings.Contains(got, w) {
			t.Errorf("want %q in %s", w, got)
		}
	}
}
