package kubelet

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/kubelet/downward"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	"github.com/skiff-k8s/skiff/pkg/kubelet/volume"
	"github.com/skiff-k8s/skiff/pkg/sysctl"
)

// containerConfig derives the runtime's container config from the spec.
func (k *Kubelet) containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, pr *podRuntime, vols map[string]volume.Mounted, attempt int) (runtime.ContainerConfig, error) {
	env, err := k.containerEnv(ctx, pod, c, pr)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	cfg := runtime.ContainerConfig{
		Name:       c.Name,
		Attempt:    attempt,
		Command:    expandAll(c.Command, vars),
		Args:       expandAll(c.Args, vars),
		WorkingDir: c.WorkingDir,
		Env:        env,
		TTY:        c.TTY,
		Stdin:      c.Stdin,
		StdinOnce:  c.StdinOnce,
		Resources:  k.resources(pod, c),
	}
	mounts, err := containerMounts(c, vols)
	if err != nil {
		return cfg, err
	}
	cfg.Mounts = mounts
	if c.TerminationMessagePath != "" {
		m, file, err := k.terminationMessageMount(pod, c)
		if err != nil {
			return cfg, err
		}
		cfg.Mounts = append(cfg.Mounts, m)
		cfg.Labels = map[string]string{labelTerminationMessageFile: file, labelTerminationMessagePolicy: string(c.TerminationMessagePolicy)}
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels[labelResources] = resourcesLabel(c.Resources)
	if err := applySecurityContext(&cfg, pod, c, filepath.Join(k.cfg.DataDir, "seccomp")); err != nil {
		return cfg, err
	}
	cfg.Sysctls = sysctl.OfPod(pod)
	return cfg, nil
}

// containerEnv resolves env and envFrom (with the service link variables
// first, as upstream), expanding $(VAR) references in order.
func (k *Kubelet) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, pr *podRuntime) ([]runtime.EnvVar, error) {
	vars := map[string]string{}
	var order []string
	set := func(name, value string) {
		if _, ok := vars[name]; !ok {
			order = append(order, name)
		}
		vars[name] = value
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		svc, err := k.serviceEnv(pod.Namespace)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(svc))
		for n := range svc {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			set(n, svc[n])
		}
	}
	cms := map[string]*corev1.ConfigMap{}
	secrets := map[string]*corev1.Secret{}
	getCM := func(name string) (*corev1.ConfigMap, error) {
		if cm, ok := cms[name]; ok {
			return cm, nil
		}
		cm, err := k.sources.ConfigMap(ctx, pod.Namespace, name)
		if err != nil {
			return nil, err
		}
		cms[name] = cm
		return cm, nil
	}
	getSecret := func(name string) (*corev1.Secret, error) {
		if s, ok := secrets[name]; ok {
			return s, nil
		}
		s, err := k.sources.Secret(ctx, pod.Namespace, name)
		if err != nil {
			return nil, err
		}
		secrets[name] = s
		return s, nil
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := getCM(from.ConfigMapRef.Name)
			if err != nil {
				if optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			for key, v := range cm.Data {
				set(from.Prefix+key, v)
			}
		case from.SecretRef != nil:
			s, err := getSecret(from.SecretRef.Name)
			if err != nil {
				if optional(from.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
			for key, v := range s.Data {
				set(from.Prefix+key, string(v))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vars))
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.FieldRef != nil:
			v, err := podField(pod, vf.FieldRef.FieldPath, pr, k.cfg.NodeIP)
			if err != nil {
				return nil, err
			}
			set(e.Name, v)
		case vf.ResourceFieldRef != nil:
			v, err := resourceField(pod, c, vf.ResourceFieldRef, k.nodeAllocatable())
			if err != nil {
				return nil, err
			}
			set(e.Name, v)
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			cm, err := getCM(ref.Name)
			if err != nil {
				if optional(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", ref.Name)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if optional(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			set(e.Name, v)
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			s, err := getSecret(ref.Name)
			if err != nil {
				if optional(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", ref.Name)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if optional(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			set(e.Name, string(v))
		}
	}
	out := make([]runtime.EnvVar, 0, len(order))
	for _, n := range order {
		out = append(out, runtime.EnvVar{Name: n, Value: vars[n]})
	}
	return out, nil
}

func optional(b *bool) bool { return b != nil && *b }

// podField resolves a downward API field path.
func podField(pod *corev1.Pod, path string, pr *podRuntime, nodeIP net.IP) (string, error) {
	var hostIPs, podIPs []string
	if nodeIP != nil {
		hostIPs = []string{nodeIP.String()}
	}
	if pr != nil {
		podIPs = pr.ips
	}
	return downward.FieldValue(pod, path, hostIPs, podIPs)
}

// resourceField resolves a resourceFieldRef; unset limits default to the
// node's allocatable, as upstream.
func resourceField(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, alloc corev1.ResourceList) (string, error) {
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == ref.ContainerName {
				c = &pod.Spec.Containers[i]
			}
		}
	}
	return downward.ResourceValue(c, ref, func() (corev1.ResourceList, error) { return alloc, nil })
}

func (k *Kubelet) nodeAllocatable() corev1.ResourceList {
	_, allocatable := k.resourcesOfNode()
	return allocatable
}

// expand replaces $(VAR) with vars' values; $$ escapes a $, and a
// reference to an unknown variable stays as written, as upstream.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += end + 2
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func expandAll(in []string, vars map[string]string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, vars)
	}
	return out
}

// serviceLinkFields is the service informer's transform: the kubelet keeps
// only what the service link variables are made of.
func serviceLinkFields(obj any) (any, error) {
	s, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, ResourceVersion: s.ResourceVersion},
		Spec:       corev1.ServiceSpec{ClusterIP: s.Spec.ClusterIP, Ports: s.Spec.Ports},
	}, nil
}

// serviceEnv returns the Docker-link style variables of the namespace's
// services and of the master service, as upstream's getServiceEnvVarMap.
func (k *Kubelet) serviceEnv(ns string) (map[string]string, error) {
	out := map[string]string{}
	svcs, err := k.services.Services(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	if ns != metav1.NamespaceDefault {
		if m, err := k.services.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
			svcs = append(svcs, m)
		}
	}
	for _, s := range svcs {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		if s.Namespace != ns && s.Name != "kubernetes" {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		out[name+"_SERVICE_HOST"] = s.Spec.ClusterIP
		if len(s.Spec.Ports) == 0 {
			continue
		}
		p0 := s.Spec.Ports[0]
		out[name+"_SERVICE_PORT"] = strconv.Itoa(int(p0.Port))
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				out[name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = strconv.Itoa(int(p.Port))
			}
		}
		proto := strings.ToLower(string(p0.Protocol))
		out[name+"_PORT"] = fmt.Sprintf("%s://%s:%d", proto, s.Spec.ClusterIP, p0.Port)
		for _, p := range s.Spec.Ports {
			pr := strings.ToUpper(string(p.Protocol))
			prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, pr)
			out[prefix] = fmt.Sprintf("%s://%s:%d", strings.ToLower(pr), s.Spec.ClusterIP, p.Port)
			out[prefix+"_PROTO"] = strings.ToLower(pr)
			out[prefix+"_PORT"] = strconv.Itoa(int(p.Port))
			out[prefix+"_ADDR"] = s.Spec.ClusterIP
		}
	}
	return out, nil
}

// resources maps requests and limits to cgroup settings as upstream's
// kuberuntime does (shares from the CPU request, CFS quota from the CPU
// limit over a 100 ms period, the memory limit, and the OOM score by QoS).
func (k *Kubelet) resources(pod *corev1.Pod, c *corev1.Container) runtime.Resources {
	var r runtime.Resources
	const period = 100000
	if req, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.CPUShares = uint64(max(req.MilliValue()*1024/1000, 2))
	} else if lim, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CPUShares = uint64(max(lim.MilliValue()*1024/1000, 2))
	} else {
		r.CPUShares = 2
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CPUPeriod = period
		r.CPUQuota = max(lim.MilliValue()*period/1000, 1000)
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimit = lim.Value()
	}
	switch qosClass(pod) {
	case corev1.PodQOSGuaranteed:
		r.OOMScoreAdj = -997
	case corev1.PodQOSBestEffort:
		r.OOMScoreAdj = 1000
	default:
		capacity := int64(1)
		if m, ok := k.nodeAllocatable()[corev1.ResourceMemory]; ok && m.Value() > 0 {
			capacity = m.Value()
		}
		req := c.Resources.Requests[corev1.ResourceMemory]
		adj := 1000 - (1000*req.Value())/capacity
		r.OOMScoreAdj = int(min(max(adj, 2), 999))
	}
	return r
}

// applySecurityContext merges the pod's and the container's security
// contexts. Localhost seccomp profiles are files under seccompRoot (upstream's
// <root-dir>/seccomp).
func applySecurityContext(cfg *runtime.ContainerConfig, pod *corev1.Pod, c *corev1.Container, seccompRoot string) error {
	u := &runtime.User{}
	var sp *corev1.SeccompProfile
	if psc := pod.Spec.SecurityContext; psc != nil {
		sp = psc.SeccompProfile
		u.UID, u.GID = psc.RunAsUser, psc.RunAsGroup
		u.SupplementalGroups = psc.SupplementalGroups
		if psc.FSGroup != nil {
			u.SupplementalGroups = append(u.SupplementalGroups, *psc.FSGroup)
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.SeccompProfile != nil {
			sp = sc.SeccompProfile
		}
		if sc.RunAsUser != nil {
			u.UID = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			u.GID = sc.RunAsGroup
		}
		cfg.Privileged = sc.Privileged != nil && *sc.Privileged
		cfg.ReadOnlyRootfs = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		cfg.AllowPrivilegeEscalation = sc.AllowPrivilegeEscalation
		if sc.Capabilities != nil {
			caps := &runtime.Capabilities{}
			for _, a := range sc.Capabilities.Add {
				caps.Add = append(caps.Add, string(a))
			}
			for _, d := range sc.Capabilities.Drop {
				caps.Drop = append(caps.Drop, string(d))
			}
			cfg.Capabilities = caps
		}
	}
	if u.UID != nil || u.GID != nil || len(u.SupplementalGroups) > 0 {
		cfg.User = u
	}
	if sp != nil {
		switch sp.Type {
		case corev1.SeccompProfileTypeRuntimeDefault:
			cfg.Seccomp = &runtime.Seccomp{}
		case corev1.SeccompProfileTypeLocalhost:
			if sp.LocalhostProfile == nil || !filepath.IsLocal(*sp.LocalhostProfile) {
				return fmt.Errorf("seccomp profile %q is not a path under %s", ptr.Deref(sp.LocalhostProfile, ""), seccompRoot)
			}
			cfg.Seccomp = &runtime.Seccomp{LocalhostPath: filepath.Join(seccompRoot, *sp.LocalhostProfile)}
		}
	}
	return nil
}

// containerMounts binds the pod's volumes (set up by the volume manager)
// into the container, as its volumeMounts say.
func containerMounts(c *corev1.Container, vols map[string]volume.Mounted) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", m.Name, c.Name)
		}
		host, err := volume.SubPath(v.HostPath, m.SubPath)
		if err != nil {
			return nil, err
		}
		mnt := runtime.Mount{HostPath: host, ContainerPath: m.MountPath, ReadOnly: m.ReadOnly || v.ReadOnly}
		if m.MountPropagation != nil {
			switch *m.MountPropagation {
			case corev1.MountPropagationHostToContainer:
				mnt.Propagation = runtime.PropagationSlave
			case corev1.MountPropagationBidirectional:
				mnt.Propagation = runtime.PropagationShared
			}
		}
		out = append(out, mnt)
	}
	return out, nil
}
