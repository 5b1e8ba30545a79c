package apiserver

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/skiff-k8s/skiff/pkg/apiserver/scheme"
)

func podVersion(node string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", UID: "uid-web-1", Labels: map[string]string{"app": "web"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate,
				FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}`)}}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "web", Image: "nginx",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}},
			Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists}}},
		Status: corev1.PodStatus{Phase: phase},
	}
}

// Versions decoded on the watch path equal what the plain codec decodes, and
// share what did not change with the version before.
func TestWatchCodecSharesUnchangedParts(t *testing.T) {
	codec := scheme.Codecs.CodecForVersions(protobuf.NewSerializer(scheme.Scheme, scheme.Scheme), scheme.Codecs.UniversalDecoder(), corev1.SchemeGroupVersion, corev1.SchemeGroupVersion)
	wc := watchCodec{codec}
	decode := func(c kruntime.Codec, p *corev1.Pod) *corev1.Pod {
		t.Helper()
		data, err := kruntime.Encode(codec, p)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := kruntime.Decode(c, data)
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*corev1.Pod)
	}
	v1, v2 := podVersion("", corev1.PodPending), podVersion("node-1", corev1.PodPending)
	v2.ManagedFields = append(v2.ManagedFields, metav1.ManagedFieldsEntry{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{"f:phase":{}}}`)}})
	a := decode(wc, v1)
	b := decode(wc, v2)
	if plain := decode(codec, v2); !reflect.DeepEqual(b, plain) {
		t.Fatalf("watch decode differs from the plain decode:\n%#v\n%#v", b, plain)
	}
	if b.Spec.NodeName != "node-1" || a.Spec.NodeName != "" {
		t.Errorf("nodeName: v1 %q, v2 %q", a.Spec.NodeName, b.Spec.NodeName)
	}
	same := func(name string, x, y any) {
		if reflect.ValueOf(x).Pointer() != reflect.ValueOf(y).Pointer() {
			t.Errorf("%s not shared between versions", name)
		}
	}
	same("containers", a.Spec.Containers, b.Spec.Containers)
	same("tolerations", a.Spec.Tolerations, b.Spec.Tolerations)
	same("labels", a.Labels, b.Labels)
	same("controller manager's managed fields", a.ManagedFields[0].FieldsV1, b.ManagedFields[0].FieldsV1)
	if len(b.ManagedFields) != 2 || string(b.ManagedFields[1].FieldsV1.Raw) != `{"f:status":{"f:phase":{}}}` {
		t.Errorf("managedFields of v2: %+v", b.ManagedFields)
	}
	// A changed part stays the new version's own.
	v3 := podVersion("node-1", corev1.PodRunning)
	v3.Spec.Containers[0].Image = "nginx:2"
	c := decode(wc, v3)
	if c.Spec.Containers[0].Image != "nginx:2" || b.Spec.Containers[0].Image != "nginx" {
		t.Errorf("images: v2 %q, v3 %q", b.Spec.Containers[0].Image, c.Spec.Containers[0].Image)
	}
	if c.Status.Phase != corev1.PodRunning {
		t.Errorf("phase of v3: %q", c.Status.Phase)
	}
}
