package daemonset

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	intstrutil "k8s.io/apimachinery/pkg/util/intstr"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// templateGenerationLabel is the deprecated pod-template-generation label
// (extensions/v1beta1's DaemonSetTemplateGenerationKey), still honoured upstream.
const templateGenerationLabel = "pod-template-generation"

// daemonTolerations are added to every daemon pod, as upstream does, so that a
// node's conditions (not ready, unreachable, under pressure, cordoned) neither keep
// its daemon from being scheduled nor evict it.
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// hostNetworkToleration lets host-network daemons run before the pod network is up.
var hostNetworkToleration = corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable,
	Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// addDaemonTolerations adds the daemon tolerations to spec, replacing any toleration
// that matches one of them (same key, operator, value and effect).
func addDaemonTolerations(spec *corev1.PodSpec) {
	add := daemonTolerations
	if spec.HostNetwork {
		add = append(append([]corev1.Toleration(nil), add...), hostNetworkToleration)
	}
	for i := range add {
		addOrUpdateToleration(spec, &add[i])
	}
}

func addOrUpdateToleration(spec *corev1.PodSpec, t *corev1.Toleration) {
	for i := range spec.Tolerations {
		if t.MatchToleration(&spec.Tolerations[i]) {
			if !apiequality.Semantic.DeepEqual(*t, spec.Tolerations[i]) {
				spec.Tolerations[i] = *t
			}
			return
		}
	}
	spec.Tolerations = append(spec.Tolerations, *t)
}

// newPodTemplate is the template of the daemon pods at hash: the DaemonSet's, with
// the daemon tolerations and the controller-revision-hash (and the deprecated
// pod-template-generation) labels.
func newPodTemplate(ds *appsv1.DaemonSet, hash string) corev1.PodTemplateSpec {
	t := *ds.Spec.Template.DeepCopy()
	addDaemonTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if gen := templateGeneration(ds); gen != nil {
		t.Labels[templateGenerationLabel] = strconv.FormatInt(*gen, 10)
	}
	if hash != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	return t
}

// templateGeneration is the deprecated deprecated.daemonset.template.generation
// annotation, when it parses.
func templateGeneration(ds *appsv1.DaemonSet) *int64 {
	v, ok := ds.Annotations[appsv1.DeprecatedTemplateGeneration]
	if !ok {
		return nil
	}
	g, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil
	}
	return &g
}

// isPodUpdated reports whether pod runs the DaemonSet's current template.
func isPodUpdated(ds *appsv1.DaemonSet, pod *corev1.Pod, hash string) bool {
	gen := templateGeneration(ds)
	templateMatches := gen != nil && pod.Labels[templateGenerationLabel] == strconv.FormatInt(*gen, 10)
	return (hash != "" && pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash) || templateMatches
}

// nodeAffinityFor pins a pod to node through a required matchFields term on
// metadata.name, replacing any required terms: the scheduler then binds it there.
func nodeAffinityFor(affinity *corev1.Affinity, node string) *corev1.Affinity {
	term := corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{
		Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}
	if affinity == nil {
		affinity = &corev1.Affinity{}
	}
	if affinity.NodeAffinity == nil {
		affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term}}
	return affinity
}

// targetNodeName is the node a daemon pod runs on or is pinned to.
func targetNodeName(pod *corev1.Pod) (string, error) {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName, nil
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", fmt.Errorf("no spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution for pod %s/%s", pod.Namespace, pod.Name)
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, exp := range term.MatchFields {
			if exp.Key == metav1.ObjectNameField && exp.Operator == corev1.NodeSelectorOpIn {
				if len(exp.Values) != 1 {
					return "", fmt.Errorf("the matchFields value of '%s' is not unique for pod %s/%s", metav1.ObjectNameField, pod.Namespace, pod.Name)
				}
				return exp.Values[0], nil
			}
		}
	}
	return "", fmt.Errorf("no node name found for pod %s/%s", pod.Namespace, pod.Name)
}

// nodeShouldRunDaemonPod reports whether a daemon pod should be started on node
// (shouldRun) and whether one already there may stay (shouldContinueRunning): the
// node must match the template's nodeName and required node affinity; untolerated
// NoSchedule taints stop new pods, untolerated NoExecute taints evict.
func nodeShouldRunDaemonPod(logger klog.Logger, node *corev1.Node, ds *appsv1.DaemonSet) (shouldRun, shouldContinueRunning bool) {
	pod := &corev1.Pod{Spec: *ds.Spec.Template.Spec.DeepCopy(), ObjectMeta: ds.Spec.Template.ObjectMeta}
	pod.Namespace = ds.Namespace
	pod.Spec.NodeName = node.Name
	addDaemonTolerations(&pod.Spec)

	if n := ds.Spec.Template.Spec.NodeName; n != "" && n != node.Name {
		return false, false
	}
	if fits, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); !fits {
		return false, false
	}
	_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute || t.Effect == corev1.TaintEffectNoSchedule
	}, false)
	if !untolerated {
		return true, true
	}
	_, untoleratedNoExecute := corev1helpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute
	}, false)
	return false, !untoleratedNoExecute
}

// surgeCount and unavailableCount resolve the rolling update's maxSurge and
// maxUnavailable against the number of nodes that should run the daemon (rounding up).
func surgeCount(ds *appsv1.DaemonSet, numberToSchedule int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxSurge == nil {
		return 0, nil
	}
	return intstrutil.GetScaledValueFromIntOrPercent(ru.MaxSurge, numberToSchedule, true)
}

func unavailableCount(ds *appsv1.DaemonSet, numberToSchedule int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil {
		return 0, nil
	}
	return intstrutil.GetScaledValueFromIntOrPercent(intstrutil.ValueOrDefault(ru.MaxUnavailable, intstrutil.FromInt32(1)), numberToSchedule, true)
}

func allowsSurge(ds *appsv1.DaemonSet) bool {
	n, err := surgeCount(ds, 1)
	return err == nil && n > 0
}
