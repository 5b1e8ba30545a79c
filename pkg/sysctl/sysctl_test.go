package sysctl

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNames(t *testing.T) {
	for name, want := range map[string]bool{
		"net.ipv4.ip_local_port_range":       true,
		"net/ipv4/conf/eth0.100/rp_filter":   true,
		"kernel.shm_rmid_forced":             true,
		"":                                   false,
		"Net.ipv4":                           false,
		"net..ipv4":                          false,
		"net.ipv4.":                          false,
		"net.*":                              false,
		strings.Repeat("a", MaxLength+1):     false,
		strings.Repeat("a.", 126) + "a":      true,
		"kernel.msg-max_x":                   true,
		"kernel.msgmax=1":                    false,
		"net.ipv4.conf.all.-forwarding":      false,
		"net.ipv4.conf.eth0/100.rp_filter":   true,
		"fs.mqueue.queues_max":               true,
		"net.ipv4.conf.all.forwarding\n":     false,
		"net.ipv4.conf.all.forwarding/extra": true,
	} {
		if got := IsValidName(name); got != want {
			t.Errorf("IsValidName(%q) = %v, want %v", name, got, want)
		}
	}
	for in, want := range map[string]string{
		"net/ipv4/conf/eth0.100/rp_filter": "net.ipv4.conf.eth0/100.rp_filter",
		"net.ipv4.conf.eth0/100.rp_filter": "net.ipv4.conf.eth0/100.rp_filter",
		"kernel":                           "kernel",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	for name, want := range map[string]Namespace{
		"kernel.sem": IPCNamespace, "kernel.shmmax": IPCNamespace, "kernel.msgmax": IPCNamespace,
		"fs.mqueue.msg_max": IPCNamespace, "net/ipv4/tcp_syncookies": NetNamespace,
		"kernel.semx": Unknown, "vm.overcommit_memory": Unknown, "kernel.hostname": Unknown,
	} {
		if got := NamespaceOf(name); got != want {
			t.Errorf("NamespaceOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestAllowlist(t *testing.T) {
	for _, bad := range []struct{ pattern, want string }{
		{"vm.swappiness", `the sysctl "vm.swappiness" are not known to be namespaced`},
		{"kernel.*", `the sysctls "kernel.*" are not known to be namespaced`},
		{"net.*.x", `sysctl "net.*.x" must have at most 253 characters and match regex`},
		{"Net.x", `must have at most 253 characters`},
	} {
		if _, err := NewAllowlist([]string{bad.pattern}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("NewAllowlist(%q): %v, want %q", bad.pattern, err, bad.want)
		}
	}
	a, err := NewAllowlist([]string{"kernel.msg*", "net.core.somaxconn", "net/ipv4/conf/*"})
	if err != nil {
		t.Fatal(err)
	}
	pod := func(hostNet, hostIPC bool, names ...string) *corev1.Pod {
		p := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: hostNet, HostIPC: hostIPC, SecurityContext: &corev1.PodSecurityContext{}}}
		for _, n := range names {
			p.Spec.SecurityContext.Sysctls = append(p.Spec.SecurityContext.Sysctls, corev1.Sysctl{Name: n, Value: "1"})
		}
		return p
	}
	for _, tc := range []struct {
		pod  *corev1.Pod
		want string
	}{
		{&corev1.Pod{}, ""},
		{pod(false, false, "net.ipv4.ip_unprivileged_port_start", "kernel.shm_rmid_forced"), ""},
		{pod(false, false, "net/ipv4/ip_local_port_range"), ""},
		{pod(false, false, "kernel.msgmax", "net.core.somaxconn", "net.ipv4.conf.eth0.rp_filter"), ""},
		{pod(false, false, "net.ipv4.ip_forward"), `forbidden sysctl: "net.ipv4.ip_forward" not allowlisted`},
		{pod(false, false, "kernel.shmmax"), `forbidden sysctl: "kernel.shmmax" not allowlisted`},
		{pod(true, false, "net.core.somaxconn"), `forbidden sysctl: "net.core.somaxconn" not allowed with host net enabled`},
		{pod(false, true, "kernel.msgmnb"), `forbidden sysctl: "kernel.msgmnb" not allowed with host ipc enabled`},
		{pod(true, false, "kernel.msgmnb"), ""},
	} {
		if got := a.Admit(tc.pod); got != tc.want {
			t.Errorf("Admit(%v) = %q, want %q", tc.pod.Spec.SecurityContext, got, tc.want)
		}
	}
	if got := OfPod(pod(false, false, "net/ipv4/conf/eth0.100/rp_filter")); got["net.ipv4.conf.eth0/100.rp_filter"] != "1" || len(got) != 1 {
		t.Errorf("OfPod: %v", got)
	}
}
