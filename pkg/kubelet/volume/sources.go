package volume

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/downward"
)

// defaultMode is the file mode of projected files when the pod sets none.
const defaultMode os.FileMode = 0o644

func modeOf(item *int32, def *int32) os.FileMode {
	if item != nil {
		return os.FileMode(*item) & os.ModePerm
	}
	if def != nil {
		return os.FileMode(*def) & os.ModePerm
	}
	return defaultMode
}

// getConfigMap reads a ConfigMap from the watched sources; a missing one is
// reported with the resource name upstream's kubelet uses ("configmap \"x\"
// not found").
func (m *Manager) getConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return m.Sources.ConfigMap(ctx, ns, name)
}

func (m *Manager) getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return m.Sources.Secret(ctx, ns, name)
}

// keyed projects data (a ConfigMap's or Secret's keys) through items, or every key
// when items is empty.
func keyed(data map[string][]byte, items []corev1.KeyToPath, def *int32, optional bool, missing string, out map[string]fileData) error {
	if len(items) == 0 {
		for k, v := range data {
			out[k] = fileData{Data: v, Mode: modeOf(nil, def)}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("%s: %s", missing, it.Key)
		}
		out[it.Path] = fileData{Data: v, Mode: modeOf(it.Mode, def)}
	}
	return nil
}

func configMapData(cm *corev1.ConfigMap) map[string][]byte {
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data
}

func (m *Manager) configMapPayload(ctx context.Context, pod *corev1.Pod, src *corev1.ConfigMapVolumeSource) (map[string]fileData, error) {
	out := map[string]fileData{}
	cm, err := m.getConfigMap(ctx, pod.Namespace, src.Name)
	if err != nil {
		if apierrors.IsNotFound(err) && src.Optional != nil && *src.Optional {
			return out, nil
		}
		return nil, err
	}
	return out, keyed(configMapData(cm), src.Items, src.DefaultMode, src.Optional != nil && *src.Optional, "configmap references non-existent config key", out)
}

func (m *Manager) secretPayload(ctx context.Context, pod *corev1.Pod, src *corev1.SecretVolumeSource) (map[string]fileData, error) {
	out := map[string]fileData{}
	s, err := m.getSecret(ctx, pod.Namespace, src.SecretName)
	if err != nil {
		if apierrors.IsNotFound(err) && src.Optional != nil && *src.Optional {
			return out, nil
		}
		return nil, err
	}
	return out, keyed(s.Data, src.Items, src.DefaultMode, src.Optional != nil && *src.Optional, "references non-existent secret key", out)
}

func (m *Manager) downwardPayload(ctx context.Context, pod *corev1.Pod, src *corev1.DownwardAPIVolumeSource) (map[string]fileData, error) {
	out := map[string]fileData{}
	return out, m.downwardItems(ctx, pod, src.Items, src.DefaultMode, out)
}

func (m *Manager) downwardItems(ctx context.Context, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def *int32, out map[string]fileData) error {
	for _, it := range items {
		var val string
		var err error
		switch {
		case it.FieldRef != nil:
			val, err = podField(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			val, err = m.resourceField(ctx, pod, it.ResourceFieldRef)
		default:
			err = fmt.Errorf("downward API item %q has neither fieldRef nor resourceFieldRef", it.Path)
		}
		if err != nil {
			return err
		}
		out[it.Path] = fileData{Data: []byte(val), Mode: modeOf(it.Mode, def)}
	}
	return nil
}

// podField is a downward-API fieldRef's value for volumes, from the pod's status.
func podField(pod *corev1.Pod, path string) (string, error) {
	var hostIPs, podIPs []string
	for _, ip := range pod.Status.HostIPs {
		hostIPs = append(hostIPs, ip.IP)
	}
	for _, ip := range pod.Status.PodIPs {
		podIPs = append(podIPs, ip.IP)
	}
	if len(hostIPs) == 0 && pod.Status.HostIP != "" {
		hostIPs = []string{pod.Status.HostIP}
	}
	if len(podIPs) == 0 && pod.Status.PodIP != "" {
		podIPs = []string{pod.Status.PodIP}
	}
	return downward.FieldValue(pod, path, hostIPs, podIPs)
}

// resourceField is a container's limit or request in units of the divisor, rounded up;
// an unset limit is the node's allocatable, as upstream's kubelet reports it.
func (m *Manager) resourceField(ctx context.Context, pod *corev1.Pod, ref *corev1.ResourceFieldSelector) (string, error) {
	var c *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == ref.ContainerName {
			c = &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == ref.ContainerName {
			c = &pod.Spec.InitContainers[i]
		}
	}
	if c == nil {
		return "", fmt.Errorf("container %q not found in pod for resourceFieldRef", ref.ContainerName)
	}
	return downward.ResourceValue(c, ref, func() (corev1.ResourceList, error) { return m.allocatable(ctx) })
}

func (m *Manager) allocatable(ctx context.Context) (corev1.ResourceList, error) {
	n, err := m.Client.CoreV1().Nodes().Get(ctx, m.NodeName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("node allocatable for resourceFieldRef: %w", err)
	}
	return n.Status.Allocatable, nil
}

// projectedPayload merges the sources of a projected volume.
func (m *Manager) projectedPayload(ctx context.Context, pod *corev1.Pod, src *corev1.ProjectedVolumeSource) (map[string]fileData, error) {
	out := map[string]fileData{}
	def := src.DefaultMode
	for _, s := range src.Sources {
		switch {
		case s.ConfigMap != nil:
			opt := s.ConfigMap.Optional != nil && *s.ConfigMap.Optional
			cm, err := m.getConfigMap(ctx, pod.Namespace, s.ConfigMap.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && opt {
					continue
				}
				return nil, err
			}
			if err := keyed(configMapData(cm), s.ConfigMap.Items, def, opt, "configmap references non-existent config key", out); err != nil {
				return nil, err
			}
		case s.Secret != nil:
			opt := s.Secret.Optional != nil && *s.Secret.Optional
			sec, err := m.getSecret(ctx, pod.Namespace, s.Secret.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && opt {
					continue
				}
				return nil, err
			}
			if err := keyed(sec.Data, s.Secret.Items, def, opt, "references non-existent secret key", out); err != nil {
				return nil, err
			}
		case s.DownwardAPI != nil:
			if err := m.downwardItems(ctx, pod, s.DownwardAPI.Items, def, out); err != nil {
				return nil, err
			}
		case s.ServiceAccountToken != nil:
			tok, err := m.token(ctx, pod, s.ServiceAccountToken)
			if err != nil {
				return nil, err
			}
			out[s.ServiceAccountToken.Path] = fileData{Data: []byte(tok), Mode: modeOf(nil, def)}
		case s.ClusterTrustBundle != nil:
			if s.ClusterTrustBundle.Optional == nil || !*s.ClusterTrustBundle.Optional {
				return nil, fmt.Errorf("clusterTrustBundle projection is not supported on this node")
			}
		}
	}
	return out, nil
}
