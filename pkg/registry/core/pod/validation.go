package pod

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/sysctl"
)

// ValidatePodTemplateSpec checks a pod template: its labels and annotations and its spec.
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	if t == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	errs := metavalidation.ValidateLabels(t.Labels, fldPath.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, fldPath.Child("annotations"))...)
	errs = append(errs, ValidatePodSpec(&t.Spec, &t.ObjectMeta, fldPath.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(fldPath.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

// ValidatePodSpec checks a PodSpec with upstream's field paths and messages. meta is the
// pod's (or template's) metadata, or nil.
func ValidatePodSpec(spec *corev1.PodSpec, meta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	vols, verrs := validateVolumes(spec.Volumes, fldPath.Child("volumes"))
	errs = append(errs, verrs...)
	errs = append(errs, validateContainers(spec.Containers, vols, fldPath.Child("containers"))...)
	errs = append(errs, validateInitContainers(spec.InitContainers, spec.Containers, vols, fldPath.Child("initContainers"))...)
	errs = append(errs, validateEphemeralContainers(spec.EphemeralContainers, spec.Containers, spec.InitContainers, vols, fldPath.Child("ephemeralContainers"))...)
	errs = append(errs, checkHostPortConflicts(spec, fldPath)...)
	errs = append(errs, requiredOneOf(spec.RestartPolicy, restartPolicies, fldPath.Child("restartPolicy"))...)
	errs = append(errs, requiredOneOf(spec.DNSPolicy, dnsPolicies, fldPath.Child("dnsPolicy"))...)
	if spec.DNSPolicy == corev1.DNSNone && spec.DNSConfig == nil {
		errs = append(errs, field.Required(fldPath.Child("dnsConfig"), fmt.Sprintf("must provide `dnsConfig` when `dnsPolicy` is %s", corev1.DNSNone)))
	}
	errs = append(errs, metavalidation.ValidateLabels(spec.NodeSelector, fldPath.Child("nodeSelector"))...)
	if spec.ServiceAccountName != "" {
		for _, msg := range apivalidation.ValidateServiceAccountName(spec.ServiceAccountName, false) {
			errs = append(errs, field.Invalid(fldPath.Child("serviceAccountName"), spec.ServiceAccountName, msg))
		}
	}
	if spec.NodeName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(spec.NodeName) {
			errs = append(errs, field.Invalid(fldPath.Child("nodeName"), spec.NodeName, msg))
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		if v := *spec.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			errs = append(errs, field.Invalid(fldPath.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, math.MaxInt32)))
		}
	}
	if spec.Hostname != "" {
		errs = append(errs, dnsLabel(spec.Hostname, fldPath.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, dnsLabel(spec.Subdomain, fldPath.Child("subdomain"))...)
	}
	errs = append(errs, ValidateTolerations(spec.Tolerations, fldPath.Child("tolerations"))...)
	if spec.PriorityClassName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(spec.PriorityClassName) {
			errs = append(errs, field.Invalid(fldPath.Child("priorityClassName"), spec.PriorityClassName, msg))
		}
	}
	if spec.RuntimeClassName != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*spec.RuntimeClassName) {
			errs = append(errs, field.Invalid(fldPath.Child("runtimeClassName"), *spec.RuntimeClassName, msg))
		}
	}
	for i, s := range spec.ImagePullSecrets {
		if s.Name == "" {
			errs = append(errs, field.Required(fldPath.Child("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	if spec.PreemptionPolicy != nil {
		errs = append(errs, oneOf(*spec.PreemptionPolicy, []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}, fldPath.Child("preemptionPolicy"))...)
	}
	if sc := spec.SecurityContext; sc != nil {
		errs = append(errs, validatePodSecurityContext(sc, spec, fldPath.Child("securityContext"))...)
	}
	errs = append(errs, validateReadinessGates(spec.ReadinessGates, fldPath.Child("readinessGates"))...)
	errs = append(errs, validateTopologySpread(spec.TopologySpreadConstraints, fldPath.Child("topologySpreadConstraints"))...)
	for i, a := range spec.HostAliases {
		p := fldPath.Child("hostAliases").Index(i)
		if a.IP == "" {
			errs = append(errs, field.Required(p.Child("ip"), ""))
		} else if !validIP(a.IP) {
			errs = append(errs, field.Invalid(p.Child("ip"), a.IP, "must be a valid IP address"))
		}
		for j, h := range a.Hostnames {
			errs = append(errs, dnsSubdomain(h, p.Child("hostnames").Index(j))...)
		}
	}
	if spec.Overhead != nil {
		for k, q := range spec.Overhead {
			errs = append(errs, nonNegativeQuantity(q, fldPath.Child("overhead").Key(string(k)))...)
		}
	}
	if spec.Resources != nil {
		errs = append(errs, validateResources(spec.Resources, fldPath.Child("resources"))...)
	}
	return errs
}

func dnsLabel(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func dnsSubdomain(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

var (
	restartPolicies            = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}
	dnsPolicies                = []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}
	containerRestartPolicies   = []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways, corev1.ContainerRestartPolicyOnFailure, corev1.ContainerRestartPolicyNever}
	terminationMessagePolicies = []corev1.TerminationMessagePolicy{corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError}
	pullPolicies               = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
)

// requiredOneOf checks a required enum field: set, and one of supported.
func requiredOneOf[T ~string](v T, supported []T, p *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return oneOf(v, supported, p)
}

// oneOf checks an enum field is one of supported.
func oneOf[T ~string](v T, supported []T, p *field.Path) field.ErrorList {
	if !slices.Contains(supported, v) {
		return field.ErrorList{field.NotSupported(p, v, supported)}
	}
	return nil
}

// setField is a field of a container and whether it is set.
type setField struct {
	name string
	set  bool
}

// forbidSet forbids, in order, each of fields that is set, with msg.
func forbidSet(p *field.Path, msg string, fields ...setField) field.ErrorList {
	var errs field.ErrorList
	for _, f := range fields {
		if f.set {
			errs = append(errs, field.Forbidden(p.Child(f.name), msg))
		}
	}
	return errs
}

// volumeSourceOrder is the order upstream checks volume sources in: the second source
// found is the one reported.
var volumeSourceOrder = []string{"emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret",
	"nfs", "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "quobyte", "cinder", "cephfs", "downwardAPI",
	"fc", "flexVolume", "configMap", "azureFile", "vsphereVolume", "photonPersistentDisk", "portworxVolume", "azureDisk",
	"storageos", "projected", "scaleIO", "csi", "ephemeral", "image"}

func validateVolumes(vols []corev1.Volume, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	byName := map[string]corev1.VolumeSource{}
	for i, v := range vols {
		p := fldPath.Index(i)
		errs = append(errs, validateVolumeSource(&v.VolumeSource, p)...)
		if v.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, dnsLabel(v.Name, p.Child("name"))...)
		}
		if _, dup := byName[v.Name]; dup {
			errs = append(errs, field.Duplicate(p.Child("name"), v.Name))
		}
		byName[v.Name] = v.VolumeSource
	}
	return byName, errs
}

func validateVolumeSource(s *corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	set := setSources(s)
	for _, name := range set {
		if n > 0 {
			errs = append(errs, field.Forbidden(fldPath.Child(name), "may not specify more than 1 volume type"))
		}
		n++
	}
	if n == 0 {
		return field.ErrorList{field.Required(fldPath, "must specify a volume type")}
	}
	if n > 1 {
		return errs
	}
	switch {
	case s.HostPath != nil:
		p := fldPath.Child("hostPath")
		if s.HostPath.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		}
		if t := s.HostPath.Type; t != nil {
			errs = append(errs, oneOf(*t, []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
				corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev}, p.Child("type"))...)
		}
	case s.EmptyDir != nil:
		if s.EmptyDir.SizeLimit != nil && s.EmptyDir.SizeLimit.Sign() < 0 {
			errs = append(errs, field.Forbidden(fldPath.Child("emptyDir", "sizeLimit"), "SizeLimit field must be a valid resource quantity"))
		}
	case s.Secret != nil:
		errs = append(errs, validateKeysVolume(s.Secret.SecretName, "secretName", s.Secret.DefaultMode, s.Secret.Items, fldPath.Child("secret"))...)
	case s.ConfigMap != nil:
		errs = append(errs, validateKeysVolume(s.ConfigMap.Name, "name", s.ConfigMap.DefaultMode, s.ConfigMap.Items, fldPath.Child("configMap"))...)
	case s.PersistentVolumeClaim != nil:
		if s.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(fldPath.Child("persistentVolumeClaim", "claimName"), ""))
		}
	case s.NFS != nil:
		p := fldPath.Child("nfs")
		if s.NFS.Server == "" {
			errs = append(errs, field.Required(p.Child("server"), ""))
		}
		if s.NFS.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else if !path.IsAbs(s.NFS.Path) {
			errs = append(errs, field.Invalid(p.Child("path"), s.NFS.Path, "must be an absolute path"))
		}
	case s.DownwardAPI != nil:
		p := fldPath.Child("downwardAPI")
		errs = append(errs, validateMode(s.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
		for i, it := range s.DownwardAPI.Items {
			ip := p.Child("items").Index(i)
			errs = append(errs, validateLocalDescendingPath(it.Path, ip.Child("path"))...)
			if it.FieldRef == nil && it.ResourceFieldRef == nil {
				errs = append(errs, field.Required(ip, "must specify one of: `fieldRef` or `resourceFieldRef`"))
			}
		}
	case s.Projected != nil:
		errs = append(errs, validateMode(s.Projected.DefaultMode, fldPath.Child("projected", "defaultMode"))...)
	case s.CSI != nil:
		if s.CSI.Driver == "" {
			errs = append(errs, field.Required(fldPath.Child("csi", "driver"), ""))
		}
	case s.Ephemeral != nil:
		if s.Ephemeral.VolumeClaimTemplate == nil {
			errs = append(errs, field.Required(fldPath.Child("ephemeral", "volumeClaimTemplate"), ""))
		}
	case s.Image != nil:
		if s.Image.Reference == "" {
			errs = append(errs, field.Required(fldPath.Child("image", "reference"), ""))
		}
	}
	return errs
}

func setSources(s *corev1.VolumeSource) []string {
	set := map[string]bool{}
	v := reflectValue(s)
	for i := 0; i < v.NumField(); i++ {
		if !v.Field(i).IsNil() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			set[name] = true
		}
	}
	var out []string
	for _, name := range volumeSourceOrder {
		if set[name] {
			out = append(out, name)
		}
	}
	return out
}

// validateKeysVolume checks a secret or config map volume at p: the object's name (in
// field nameField), the default mode and the keys projected to paths.
func validateKeysVolume(name, nameField string, mode *int32, items []corev1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child(nameField), ""))
	}
	errs = append(errs, validateMode(mode, p.Child("defaultMode"))...)
	return append(errs, validateKeyToPaths(items, p.Child("items"))...)
}

func validateMode(m *int32, p *field.Path) field.ErrorList {
	if m != nil && (*m > 0777 || *m < 0) {
		return field.ErrorList{field.Invalid(p, *m, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

func validateKeyToPaths(items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		p := fldPath.Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(p.Child("key"), ""))
		}
		if it.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		}
		errs = append(errs, validateLocalDescendingPath(it.Path, p.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, p.Child("mode"))...)
	}
	return errs
}

func validateLocalDescendingPath(target string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) {
		errs = append(errs, field.Invalid(fldPath, target, "must be a relative path"))
	}
	for _, item := range strings.Split(target, "/") {
		if item == ".." {
			errs = append(errs, field.Invalid(fldPath, target, "must not contain '..'"))
			break
		}
	}
	return errs
}

func validateContainers(cs []corev1.Container, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(cs) == 0 {
		errs = append(errs, field.Required(fldPath, ""))
	}
	names := sets.New[string]()
	for i := range cs {
		c := &cs[i]
		p := fldPath.Index(i)
		errs = append(errs, validateContainerCommon(c, vols, p)...)
		if names.Has(c.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		} else {
			names.Insert(c.Name)
		}
		errs = append(errs, validateProbe(c.LivenessProbe, p.Child("livenessProbe"))...)
		if c.LivenessProbe != nil && c.LivenessProbe.SuccessThreshold != 1 {
			errs = append(errs, field.Invalid(p.Child("livenessProbe", "successThreshold"), c.LivenessProbe.SuccessThreshold, "must be 1"))
		}
		errs = append(errs, validateProbe(c.ReadinessProbe, p.Child("readinessProbe"))...)
		if c.ReadinessProbe != nil && c.ReadinessProbe.TerminationGracePeriodSeconds != nil {
			errs = append(errs, field.Invalid(p.Child("readinessProbe", "terminationGracePeriodSeconds"), *c.ReadinessProbe.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
		}
		errs = append(errs, validateProbe(c.StartupProbe, p.Child("startupProbe"))...)
		if c.StartupProbe != nil && c.StartupProbe.SuccessThreshold != 1 {
			errs = append(errs, field.Invalid(p.Child("startupProbe", "successThreshold"), c.StartupProbe.SuccessThreshold, "must be 1"))
		}
		errs = append(errs, validateLifecycle(c.Lifecycle, p.Child("lifecycle"))...)
		if c.RestartPolicy != nil {
			errs = append(errs, oneOf(*c.RestartPolicy, containerRestartPolicies, p.Child("restartPolicy"))...)
		}
	}
	return errs
}

func validateInitContainers(cs, regular []corev1.Container, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for _, c := range regular {
		names.Insert(c.Name)
	}
	for i := range cs {
		c := &cs[i]
		p := fldPath.Index(i)
		errs = append(errs, validateContainerCommon(c, vols, p)...)
		if names.Has(c.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		} else if c.Name != "" {
			names.Insert(c.Name)
		}
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if c.RestartPolicy != nil {
			errs = append(errs, oneOf(*c.RestartPolicy, []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}, p.Child("restartPolicy"))...)
		}
		if sidecar {
			errs = append(errs, validateProbe(c.LivenessProbe, p.Child("livenessProbe"))...)
			errs = append(errs, validateProbe(c.ReadinessProbe, p.Child("readinessProbe"))...)
			errs = append(errs, validateProbe(c.StartupProbe, p.Child("startupProbe"))...)
			errs = append(errs, validateLifecycle(c.Lifecycle, p.Child("lifecycle"))...)
			continue
		}
		errs = append(errs, forbidSet(p, "may not be set for init containers without restartPolicy=Always",
			setField{"lifecycle", c.Lifecycle != nil}, setField{"livenessProbe", c.LivenessProbe != nil},
			setField{"readinessProbe", c.ReadinessProbe != nil}, setField{"startupProbe", c.StartupProbe != nil})...)
	}
	return errs
}

func validateEphemeralContainers(ecs []corev1.EphemeralContainer, regular, init []corev1.Container, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ecs) == 0 {
		return nil
	}
	others := sets.New[string]()
	for _, c := range regular {
		others.Insert(c.Name)
	}
	for _, c := range init {
		others.Insert(c.Name)
	}
	seen := sets.New[string]()
	for i := range ecs {
		ec := &ecs[i]
		p := fldPath.Index(i)
		c := (*corev1.Container)(&ec.EphemeralContainerCommon)
		errs = append(errs, validateContainerCommon(c, vols, p)...)
		if others.Has(ec.Name) || seen.Has(ec.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), ec.Name))
		}
		seen.Insert(ec.Name)
		if ec.TargetContainerName != "" && !others.Has(ec.TargetContainerName) {
			errs = append(errs, field.NotFound(p.Child("targetContainerName"), ec.TargetContainerName))
		}
		const msg = "cannot be set for an Ephemeral Container"
		errs = append(errs, forbidSet(p, msg,
			setField{"ports", len(ec.Ports) > 0}, setField{"livenessProbe", ec.LivenessProbe != nil},
			setField{"readinessProbe", ec.ReadinessProbe != nil}, setField{"startupProbe", ec.StartupProbe != nil},
			setField{"lifecycle", ec.Lifecycle != nil}, setField{"resources", len(ec.Resources.Limits) > 0 || len(ec.Resources.Requests) > 0})...)
		for j, m := range ec.VolumeMounts {
			if m.SubPath != "" {
				errs = append(errs, field.Forbidden(p.Child("volumeMounts").Index(j).Child("subPath"), msg))
			}
		}
	}
	return errs
}

func validateContainerCommon(c *corev1.Container, vols map[string]corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, dnsLabel(c.Name, p.Child("name"))...)
	}
	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	} else if strings.TrimSpace(c.Image) != c.Image {
		errs = append(errs, field.Invalid(p.Child("image"), c.Image, "must not have leading or trailing whitespace"))
	}
	errs = append(errs, requiredOneOf(c.TerminationMessagePolicy, terminationMessagePolicies, p.Child("terminationMessagePolicy"))...)
	errs = append(errs, validateContainerPorts(c.Ports, p.Child("ports"))...)
	errs = append(errs, validateEnv(c.Env, p.Child("env"))...)
	errs = append(errs, validateEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
	errs = append(errs, validateVolumeMounts(c.VolumeMounts, vols, p.Child("volumeMounts"))...)
	errs = append(errs, requiredOneOf(c.ImagePullPolicy, pullPolicies, p.Child("imagePullPolicy"))...)
	errs = append(errs, validateResources(&c.Resources, p.Child("resources"))...)
	for i, rp := range c.ResizePolicy {
		ip := p.Child("resizePolicy").Index(i)
		errs = append(errs, oneOf(rp.ResourceName, []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}, ip.Child("resourceName"))...)
		errs = append(errs, oneOf(rp.RestartPolicy, []corev1.ResourceResizeRestartPolicy{corev1.NotRequired, corev1.RestartContainer}, ip.Child("restartPolicy"))...)
	}
	if c.WorkingDir != "" && strings.TrimSpace(c.WorkingDir) == "" {
		errs = append(errs, field.Invalid(p.Child("workingDir"), c.WorkingDir, "must not be empty"))
	}
	if c.SecurityContext != nil {
		errs = append(errs, validateSeccompProfile(c.SecurityContext.SeccompProfile, p.Child("securityContext", "seccompProfile"))...)
	}
	return errs
}

var seccompProfileTypes = []corev1.SeccompProfileType{corev1.SeccompProfileTypeLocalhost, corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined}

// validateSeccompProfile: a known type, and a relative localhostProfile
// without ".." exactly when the type is Localhost.
func validateSeccompProfile(sp *corev1.SeccompProfile, fldPath *field.Path) field.ErrorList {
	if sp == nil {
		return nil
	}
	var errs field.ErrorList
	if sp.Type == "" {
		errs = append(errs, field.Required(fldPath.Child("type"), "type is required when seccompProfile is set"))
	} else {
		errs = append(errs, oneOf(sp.Type, seccompProfileTypes, fldPath.Child("type"))...)
	}
	switch {
	case sp.Type == corev1.SeccompProfileTypeLocalhost && sp.LocalhostProfile == nil:
		errs = append(errs, field.Required(fldPath.Child("localhostProfile"), "must be set when seccomp type is Localhost"))
	case sp.Type == corev1.SeccompProfileTypeLocalhost:
		errs = append(errs, validateLocalDescendingPath(*sp.LocalhostProfile, fldPath.Child("localhostProfile"))...)
	case sp.LocalhostProfile != nil:
		errs = append(errs, field.Invalid(fldPath.Child("localhostProfile"), sp, "can only be set when seccomp type is Localhost"))
	}
	return errs
}

var supportedProtocols = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}

func validateContainerPorts(ports []corev1.ContainerPort, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		p := fldPath.Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) > 0 {
				for _, msg := range msgs {
					errs = append(errs, field.Invalid(p.Child("name"), port.Name, msg))
				}
			} else if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			} else {
				names.Insert(port.Name)
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(p.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
				errs = append(errs, field.Invalid(p.Child("containerPort"), port.ContainerPort, msg))
			}
		}
		if port.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(port.HostPort)) {
				errs = append(errs, field.Invalid(p.Child("hostPort"), port.HostPort, msg))
			}
		}
		errs = append(errs, requiredOneOf(port.Protocol, supportedProtocols, p.Child("protocol"))...)
	}
	return errs
}

// checkHostPortConflicts rejects two containers asking for the same host IP, protocol
// and port.
func checkHostPortConflicts(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, c := range spec.Containers {
		for j, port := range c.Ports {
			if port.HostPort == 0 {
				continue
			}
			key := fmt.Sprintf("%s/%s/%d", port.HostIP, port.Protocol, port.HostPort)
			if seen.Has(key) {
				errs = append(errs, field.Duplicate(fldPath.Child("containers").Index(i).Child("ports").Index(j).Child("hostPort"), key))
			}
			seen.Insert(key)
		}
	}
	return errs
}

// validEnvFieldPaths are the pod fields an env var may refer to through fieldRef.
var validEnvFieldPaths = []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
	"spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}

func validateEnv(vars []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range vars {
		p := fldPath.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), ev.Name, msg))
			}
		}
		errs = append(errs, validateEnvVarValueFrom(ev, p.Child("valueFrom"))...)
	}
	return errs
}

func validateEnvVarValueFrom(ev corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	s := ev.ValueFrom
	if s == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if s.FieldRef != nil {
		n++
		errs = append(errs, validateFieldRef(s.FieldRef, fldPath.Child("fieldRef"))...)
	}
	if s.ResourceFieldRef != nil {
		n++
		if s.ResourceFieldRef.Resource == "" {
			errs = append(errs, field.Required(fldPath.Child("resourceFieldRef", "resource"), ""))
		}
	}
	if s.ConfigMapKeyRef != nil {
		n++
		errs = append(errs, validateKeyRef(s.ConfigMapKeyRef.Name, s.ConfigMapKeyRef.Key, fldPath.Child("configMapKeyRef"))...)
	}
	if s.SecretKeyRef != nil {
		n++
		errs = append(errs, validateKeyRef(s.SecretKeyRef.Name, s.SecretKeyRef.Key, fldPath.Child("secretKeyRef"))...)
	}
	if s.FileKeyRef != nil {
		n++
	}
	if n == 0 {
		return append(errs, field.Invalid(fldPath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	}
	if ev.Value != "" {
		errs = append(errs, field.Invalid(fldPath, "", "may not be specified when `value` is not empty"))
	} else if n > 1 {
		errs = append(errs, field.Invalid(fldPath, "", "may not have more than one field specified at a time"))
	}
	return errs
}

func validateKeyRef(name, key string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	}
	if key == "" {
		errs = append(errs, field.Required(fldPath.Child("key"), ""))
	} else {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(fldPath.Child("key"), key, msg))
		}
	}
	return errs
}

func validateFieldRef(ref *corev1.ObjectFieldSelector, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.APIVersion == "" {
		errs = append(errs, field.Required(fldPath.Child("apiVersion"), ""))
		return errs
	}
	if ref.FieldPath == "" {
		return append(errs, field.Required(fldPath.Child("fieldPath"), ""))
	}
	if ref.APIVersion != "v1" {
		return append(errs, field.Invalid(fldPath.Child("apiVersion"), ref.APIVersion, "unsupported API version"))
	}
	fp := ref.FieldPath
	if strings.HasPrefix(fp, "metadata.labels[") || strings.HasPrefix(fp, "metadata.annotations[") {
		if !strings.HasSuffix(fp, "]") {
			return append(errs, field.Invalid(fldPath.Child("fieldPath"), fp, "error converting fieldPath: unsupported subscript"))
		}
		return errs
	}
	return append(errs, oneOf(fp, validEnvFieldPaths, fldPath.Child("fieldPath"))...)
}

func validateEnvFrom(vars []corev1.EnvFromSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range vars {
		p := fldPath.Index(i)
		if ev.Prefix != "" {
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Prefix) {
				errs = append(errs, field.Invalid(p.Child("prefix"), ev.Prefix, msg))
			}
		}
		n := 0
		if ev.ConfigMapRef != nil {
			n++
			if ev.ConfigMapRef.Name == "" {
				errs = append(errs, field.Required(p.Child("configMapRef", "name"), ""))
			}
		}
		if ev.SecretRef != nil {
			n++
			if ev.SecretRef.Name == "" {
				errs = append(errs, field.Required(p.Child("secretRef", "name"), ""))
			}
		}
		if n == 0 {
			errs = append(errs, field.Invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
		} else if n > 1 {
			errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

func validateVolumeMounts(mounts []corev1.VolumeMount, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	points := sets.New[string]()
	for i, m := range mounts {
		p := fldPath.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if _, ok := vols[m.Name]; !ok {
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		}
		if points.Has(m.MountPath) {
			errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		points.Insert(m.MountPath)
		if m.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(m.SubPath, p.Child("subPath"))...)
		}
		if m.SubPath != "" && m.SubPathExpr != "" {
			errs = append(errs, field.Invalid(p.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
		}
		if m.MountPropagation != nil {
			errs = append(errs, oneOf(*m.MountPropagation, []corev1.MountPropagationMode{corev1.MountPropagationBidirectional,
				corev1.MountPropagationHostToContainer, corev1.MountPropagationNone}, p.Child("mountPropagation"))...)
		}
	}
	return errs
}

func validateProbe(pr *corev1.Probe, fldPath *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	n, errs := validateHandlers(pr.Exec, pr.HTTPGet, pr.TCPSocket, true, fldPath)
	if pr.GRPC != nil {
		n++
		for _, msg := range validation.IsValidPortNum(int(pr.GRPC.Port)) {
			errs = append(errs, field.Invalid(fldPath.Child("grpc", "port"), pr.GRPC.Port, msg))
		}
	}
	errs = append(errs, oneHandler(n, fldPath)...)
	nonNeg := func(name string, v int32) {
		if v < 0 {
			errs = append(errs, field.Invalid(fldPath.Child(name), v, "must be greater than or equal to 0"))
		}
	}
	nonNeg("initialDelaySeconds", pr.InitialDelaySeconds)
	nonNeg("timeoutSeconds", pr.TimeoutSeconds)
	nonNeg("periodSeconds", pr.PeriodSeconds)
	nonNeg("successThreshold", pr.SuccessThreshold)
	nonNeg("failureThreshold", pr.FailureThreshold)
	if pr.TerminationGracePeriodSeconds != nil && *pr.TerminationGracePeriodSeconds <= 0 {
		errs = append(errs, field.Invalid(fldPath.Child("terminationGracePeriodSeconds"), *pr.TerminationGracePeriodSeconds, "must be greater than 0"))
	}
	return errs
}

// validateHandlers checks the exec, httpGet and tcpSocket handlers that probes and
// lifecycle hooks share, at p, and counts those set. Only probes (httpPathAndScheme)
// check an httpGet's path and scheme.
func validateHandlers(exec *corev1.ExecAction, httpGet *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, httpPathAndScheme bool, p *field.Path) (int, field.ErrorList) {
	var errs field.ErrorList
	n := 0
	if exec != nil {
		n++
		if len(exec.Command) == 0 {
			errs = append(errs, field.Required(p.Child("exec", "command"), ""))
		}
	}
	if httpGet != nil {
		n++
		errs = append(errs, validatePortRef(httpGet.Port, p.Child("httpGet", "port"))...)
		if httpPathAndScheme {
			if httpGet.Path == "" {
				errs = append(errs, field.Required(p.Child("httpGet", "path"), ""))
			}
			errs = append(errs, oneOf(httpGet.Scheme, []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}, p.Child("httpGet", "scheme"))...)
		}
	}
	if tcp != nil {
		n++
		errs = append(errs, validatePortRef(tcp.Port, p.Child("tcpSocket", "port"))...)
	}
	return n, errs
}

// oneHandler requires exactly one of the n handlers set at p.
func oneHandler(n int, p *field.Path) field.ErrorList {
	switch {
	case n == 0:
		return field.ErrorList{field.Required(p, "must specify a handler type")}
	case n > 1:
		return field.ErrorList{field.Forbidden(p, "may not specify more than 1 handler type")}
	}
	return nil
}

func validatePortRef(port intstrLike, fldPath *field.Path) field.ErrorList {
	if port.Type == 0 {
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			return field.ErrorList{field.Invalid(fldPath, port.IntVal, msg)}
		}
		return nil
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortName(port.StrVal) {
		errs = append(errs, field.Invalid(fldPath, port.StrVal, msg))
	}
	return errs
}

func validateLifecycle(l *corev1.Lifecycle, fldPath *field.Path) field.ErrorList {
	if l == nil {
		return nil
	}
	var errs field.ErrorList
	for name, h := range map[string]*corev1.LifecycleHandler{"postStart": l.PostStart, "preStop": l.PreStop} {
		if h == nil {
			continue
		}
		p := fldPath.Child(name)
		n, herrs := validateHandlers(h.Exec, h.HTTPGet, h.TCPSocket, false, p)
		errs = append(errs, herrs...)
		if h.Sleep != nil {
			n++
			if h.Sleep.Seconds < 0 {
				errs = append(errs, field.Invalid(p.Child("sleep", "seconds"), h.Sleep.Seconds, "must be non-negative"))
			}
		}
		errs = append(errs, oneHandler(n, p)...)
	}
	return errs
}

// isOvercommitAllowed is true for native resources other than huge pages: their requests
// may be below their limits.
func isOvercommitAllowed(name corev1.ResourceName) bool {
	n := string(name)
	native := !strings.Contains(n, "/") || strings.Contains(n, "kubernetes.io/")
	return native && !strings.HasPrefix(n, corev1.ResourceHugePagesPrefix)
}

var standardContainerResources = sets.New(corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage)

func validateResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	n := string(name)
	if !strings.Contains(n, "/") {
		if !standardContainerResources.Has(name) && !strings.HasPrefix(n, corev1.ResourceHugePagesPrefix) {
			return field.ErrorList{field.Invalid(fldPath, n, "must be a standard resource for containers")}
		}
		return nil
	}
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(n) {
		errs = append(errs, field.Invalid(fldPath, n, msg))
	}
	if len(errs) == 0 && strings.Contains(n, "kubernetes.io/") && !strings.HasPrefix(n, "requests.") {
		errs = append(errs, field.Invalid(fldPath, n, "must be a standard resource type or fully qualified"))
	}
	return errs
}

func nonNegativeQuantity(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), "must be greater than or equal to 0")}
	}
	return nil
}

func validateResources(r *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := fldPath.Child("limits"), fldPath.Child("requests")
	for name, q := range r.Limits {
		p := limPath.Key(string(name))
		errs = append(errs, validateResourceName(name, p)...)
		errs = append(errs, nonNegativeQuantity(q, p)...)
	}
	for name, q := range r.Requests {
		p := reqPath.Key(string(name))
		errs = append(errs, validateResourceName(name, p)...)
		errs = append(errs, nonNegativeQuantity(q, p)...)
		if lim, ok := r.Limits[name]; ok {
			if q.Cmp(lim) != 0 && !isOvercommitAllowed(name) {
				errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, lim.String())))
			} else if q.Cmp(lim) > 0 {
				errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
			}
		} else if !isOvercommitAllowed(name) {
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
	}
	return errs
}

// ValidateTolerations checks tolerations as upstream does.
func ValidateTolerations(ts []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range ts {
		p := fldPath.Index(i)
		if t.Key != "" {
			errs = append(errs, metavalidation.ValidateLabelName(t.Key, p.Child("key"))...)
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Operator,
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			for _, msg := range validation.IsValidLabelValue(t.Value) {
				errs = append(errs, field.Invalid(p.Child("operator"), t.Value, msg))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(p.Child("operator"), t, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator, []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
		}
		if t.Effect != "" {
			errs = append(errs, oneOf(t.Effect, []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule,
				corev1.TaintEffectNoExecute}, p.Child("effect"))...)
		}
	}
	return errs
}

func validatePodSecurityContext(sc *corev1.PodSecurityContext, spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		for _, msg := range validation.IsValidUserID(*sc.RunAsUser) {
			errs = append(errs, field.Invalid(fldPath.Child("runAsUser"), *sc.RunAsUser, msg))
		}
	}
	if sc.RunAsGroup != nil {
		for _, msg := range validation.IsValidGroupID(*sc.RunAsGroup) {
			errs = append(errs, field.Invalid(fldPath.Child("runAsGroup"), *sc.RunAsGroup, msg))
		}
	}
	if sc.FSGroup != nil {
		for _, msg := range validation.IsValidGroupID(*sc.FSGroup) {
			errs = append(errs, field.Invalid(fldPath.Child("fsGroup"), *sc.FSGroup, msg))
		}
	}
	for i, g := range sc.SupplementalGroups {
		for _, msg := range validation.IsValidGroupID(g) {
			errs = append(errs, field.Invalid(fldPath.Child("supplementalGroups").Index(i), g, msg))
		}
	}
	errs = append(errs, validateSeccompProfile(sc.SeccompProfile, fldPath.Child("seccompProfile"))...)
	errs = append(errs, validateSysctls(sc.Sysctls, spec, fldPath.Child("sysctls"))...)
	if spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace && spec.HostPID {
		errs = append(errs, field.Invalid(fldPath.Child("shareProcessNamespace"), *spec.ShareProcessNamespace, "ShareProcessNamespace and HostPID cannot both be enabled"))
	}
	return errs
}

// validateSysctls: valid names, each once, and none of a namespace the pod
// shares with the host, as upstream.
func validateSysctls(sysctls []corev1.Sysctl, spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, s := range sysctls {
		p := fldPath.Index(i).Child("name")
		switch {
		case s.Name == "":
			errs = append(errs, field.Required(p, ""))
		case !sysctl.IsValidName(s.Name):
			errs = append(errs, field.Invalid(p, s.Name, fmt.Sprintf("must have at most %d characters and match regex %s", sysctl.MaxLength, sysctl.NameRegexp)))
		case seen[s.Name]:
			errs = append(errs, field.Duplicate(p, s.Name))
		}
		seen[s.Name] = true
		switch ns := sysctl.NamespaceOf(s.Name); {
		case spec.HostNetwork && ns == sysctl.NetNamespace:
			errs = append(errs, field.Invalid(p, s.Name, "may not be specified when 'hostNetwork' is true"))
		case spec.HostIPC && ns == sysctl.IPCNamespace:
			errs = append(errs, field.Invalid(p, s.Name, "may not be specified when 'hostIPC' is true"))
		}
	}
	return errs
}

func validateReadinessGates(gates []corev1.PodReadinessGate, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, g := range gates {
		errs = append(errs, metavalidation.ValidateLabelName(string(g.ConditionType), fldPath.Index(i).Child("conditionType"))...)
	}
	return errs
}

func validateTopologySpread(cs []corev1.TopologySpreadConstraint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range cs {
		p := fldPath.Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(p.Child("maxSkew"), c.MaxSkew, "must be greater than zero"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(p.Child("topologyKey"), "can not be empty"))
		} else {
			errs = append(errs, metavalidation.ValidateLabelName(c.TopologyKey, p.Child("topologyKey"))...)
		}
		errs = append(errs, oneOf(c.WhenUnsatisfiable, []corev1.UnsatisfiableConstraintAction{corev1.DoNotSchedule, corev1.ScheduleAnyway}, p.Child("whenUnsatisfiable"))...)
	}
	return errs
}
