package pod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TestEnumsAndForbiddenFields pins the exact errors, in order, of the enum checks and the
// fields forbidden on init and ephemeral containers.
func TestEnumsAndForbiddenFields(t *testing.T) {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, SuccessThreshold: 1}
	never := corev1.ContainerRestartPolicyNever
	bogus := corev1.ContainerRestartPolicy("Sometimes")
	type want struct {
		typ    field.ErrorType
		field  string
		detail string
	}
	cases := map[string]struct {
		mutate func(s *corev1.PodSpec)
		want   []want
	}{
		"no restartPolicy": {func(s *corev1.PodSpec) { s.RestartPolicy = "" },
			[]want{{field.ErrorTypeRequired, "spec.restartPolicy", ""}}},
		"bad dnsPolicy": {func(s *corev1.PodSpec) { s.DNSPolicy = "Google" },
			[]want{{field.ErrorTypeNotSupported, "spec.dnsPolicy", `supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"`}}},
		"bad pull policy": {func(s *corev1.PodSpec) { s.Containers[0].ImagePullPolicy = "Sometimes" },
			[]want{{field.ErrorTypeNotSupported, "spec.containers[0].imagePullPolicy", `supported values: "Always", "IfNotPresent", "Never"`}}},
		"no termination message policy": {func(s *corev1.PodSpec) { s.Containers[0].TerminationMessagePolicy = "" },
			[]want{{field.ErrorTypeRequired, "spec.containers[0].terminationMessagePolicy", ""}}},
		"bad protocol": {func(s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: "QUIC"}}
		},
			[]want{{field.ErrorTypeNotSupported, "spec.containers[0].ports[0].protocol", `supported values: "SCTP", "TCP", "UDP"`}}},
		"sysctls": {func(s *corev1.PodSpec) {
			s.HostNetwork, s.HostIPC = true, true
			s.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
				{Name: ""}, {Name: "Net.Core"}, {Name: "kernel.shm_rmid_forced"}, {Name: "kernel.shm_rmid_forced"},
				{Name: "net/ipv4/ip_local_port_range", Value: "40000 50000"}, {Name: "vm.swappiness"}}}
		}, []want{
			{field.ErrorTypeRequired, "spec.securityContext.sysctls[0].name", ""},
			{field.ErrorTypeInvalid, "spec.securityContext.sysctls[1].name", `must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`},
			{field.ErrorTypeInvalid, "spec.securityContext.sysctls[2].name", "may not be specified when 'hostIPC' is true"},
			{field.ErrorTypeDuplicate, "spec.securityContext.sysctls[3].name", ""},
			{field.ErrorTypeInvalid, "spec.securityContext.sysctls[3].name", "may not be specified when 'hostIPC' is true"},
			{field.ErrorTypeInvalid, "spec.securityContext.sysctls[4].name", "may not be specified when 'hostNetwork' is true"},
		}},
		"seccomp profile without type": {func(s *corev1.PodSpec) {
			s.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{}}
		}, []want{{field.ErrorTypeRequired, "spec.securityContext.seccompProfile.type", "type is required when seccompProfile is set"}}},
		"bad seccomp profile type": {func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: "Strict"}}
		}, []want{{field.ErrorTypeNotSupported, "spec.containers[0].securityContext.seccompProfile.type", `supported values: "Localhost", "RuntimeDefault", "Unconfined"`}}},
		"Localhost seccomp profile without a path": {func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}}
		}, []want{{field.ErrorTypeRequired, "spec.containers[0].securityContext.seccompProfile.localhostProfile", "must be set when seccomp type is Localhost"}}},
		"Localhost seccomp profile out of the root": {func(s *corev1.PodSpec) {
			p := "../etc/profile.json"
			s.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &p}}
		}, []want{{field.ErrorTypeInvalid, "spec.securityContext.seccompProfile.localhostProfile", "must not contain '..'"}}},
		"localhostProfile with RuntimeDefault": {func(s *corev1.PodSpec) {
			p := "profile.json"
			s.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault, LocalhostProfile: &p}}
		}, []want{{field.ErrorTypeInvalid, "spec.securityContext.seccompProfile.localhostProfile", "can only be set when seccomp type is Localhost"}}},
		"bad container restartPolicy": {func(s *corev1.PodSpec) { s.Containers[0].RestartPolicy = &bogus },
			[]want{{field.ErrorTypeNotSupported, "spec.containers[0].restartPolicy", `supported values: "Always", "OnFailure", "Never"`}}},
		"init container restartPolicy Never": {func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "i", Image: "busybox", ImagePullPolicy: corev1.PullAlways,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile, RestartPolicy: &never}}
		}, []want{{field.ErrorTypeNotSupported, "spec.initContainers[0].restartPolicy", `supported values: "Always"`}}},
		"init container probes": {func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "i", Image: "busybox", ImagePullPolicy: corev1.PullAlways,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile, StartupProbe: probe, LivenessProbe: probe, Lifecycle: &corev1.Lifecycle{}}}
		}, []want{
			{field.ErrorTypeForbidden, "spec.initContainers[0].lifecycle", "may not be set for init containers without restartPolicy=Always"},
			{field.ErrorTypeForbidden, "spec.initContainers[0].livenessProbe", "may not be set for init containers without restartPolicy=Always"},
			{field.ErrorTypeForbidden, "spec.initContainers[0].startupProbe", "may not be set for init containers without restartPolicy=Always"},
		}},
		"ephemeral container fields": {func(s *corev1.PodSpec) {
			s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "e", Image: "busybox", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}, ReadinessProbe: probe, Lifecycle: &corev1.Lifecycle{}}}}
		}, []want{
			{field.ErrorTypeForbidden, "spec.ephemeralContainers[0].ports", "cannot be set for an Ephemeral Container"},
			{field.ErrorTypeForbidden, "spec.ephemeralContainers[0].readinessProbe", "cannot be set for an Ephemeral Container"},
			{field.ErrorTypeForbidden, "spec.ephemeralContainers[0].lifecycle", "cannot be set for an Ephemeral Container"},
		}},
		"bad toleration effect": {func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: "Sometimes"}}
		}, []want{{field.ErrorTypeNotSupported, "spec.tolerations[0].effect", `supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`}}},
	}
	for name, c := range cases {
		p := minimalPod()
		c.mutate(&p.Spec)
		errs := ValidatePodSpec(&p.Spec, &p.ObjectMeta, field.NewPath("spec"))
		if len(errs) != len(c.want) {
			t.Errorf("%s: got %v", name, errs)
			continue
		}
		for i, w := range c.want {
			if e := errs[i]; e.Type != w.typ || e.Field != w.field || e.Detail != w.detail {
				t.Errorf("%s: error %d is %q %s %q, want %q %s %q", name, i, e.Type, e.Field, e.Detail, w.typ, w.field, w.detail)
			}
		}
	}
}

// TestHandlers pins the errors of probe and lifecycle handlers, in order.
func TestHandlers(t *testing.T) {
	p := field.NewPath("p")
	badPort := intstr.FromInt32(0)
	cases := map[string]struct {
		errs field.ErrorList
		want []string
	}{
		"probe without handler": {validateProbe(&corev1.Probe{}, p), []string{"Required value p"}},
		"probe with two handlers": {validateProbe(&corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			Exec: &corev1.ExecAction{}, HTTPGet: &corev1.HTTPGetAction{Port: badPort, Scheme: "FTP"},
			TCPSocket: &corev1.TCPSocketAction{Port: badPort}, GRPC: &corev1.GRPCAction{Port: 70000}}}, p),
			[]string{"Required value p.exec.command", "Invalid value p.httpGet.port", "Required value p.httpGet.path",
				"Unsupported value p.httpGet.scheme", "Invalid value p.tcpSocket.port", "Invalid value p.grpc.port", "Forbidden p"}},
		"postStart httpGet checks only the port": {validateLifecycle(&corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{
			HTTPGet: &corev1.HTTPGetAction{Port: badPort, Scheme: "FTP"}, Sleep: &corev1.SleepAction{Seconds: -1}}}, p),
			[]string{"Invalid value p.postStart.httpGet.port", "Invalid value p.postStart.sleep.seconds", "Forbidden p.postStart"}},
		"preStop without handler": {validateLifecycle(&corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{}}, p),
			[]string{"Required value p.preStop"}},
	}
	for name, c := range cases {
		var got []string
		for _, e := range c.errs {
			got = append(got, e.Type.String()+" "+e.Field)
		}
		if strings.Join(got, "; ") != strings.Join(c.want, "; ") {
			t.Errorf("%s:\ngot  %v\nwant %v", name, got, c.want)
		}
	}
}

func TestKeysVolumes(t *testing.T) {
	bad := int32(01000)
	vols := []corev1.Volume{
		{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{DefaultMode: &bad, Items: []corev1.KeyToPath{{Key: "k", Path: "../x"}}}}},
		{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{DefaultMode: &bad}}},
	}
	_, errs := validateVolumes(vols, field.NewPath("volumes"))
	var got []string
	for _, e := range errs {
		got = append(got, e.Type.String()+" "+e.Field)
	}
	want := []string{
		"Required value volumes[0].secret.secretName", "Invalid value volumes[0].secret.defaultMode", "Invalid value volumes[0].secret.items[0].path",
		"Required value volumes[1].configMap.name", "Invalid value volumes[1].configMap.defaultMode",
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
