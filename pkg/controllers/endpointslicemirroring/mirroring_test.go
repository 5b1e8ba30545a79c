package endpointslicemirroring

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

type fixture struct {
	client *fake.Clientset
	inf    informers.SharedInformerFactory
	e      *controller
}

func newFixture(t *testing.T, objs ...interface{}) *fixture {
	client := fake.NewClientset()
	// The fake clientset does not generate names.
	n := 0
	client.PrependReactor("create", "endpointslices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s := a.(k8stesting.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
		if s.Name == "" {
			n++
			s.Name = fmt.Sprintf("%s%d", s.GenerateName, n)
		}
		return false, nil, nil
	})
	inf := informers.NewSharedInformerFactory(client, 0)
	e := newController(client, record.NewFakeRecorder(10), inf.Core().V1().Services().Informer(),
		inf.Core().V1().Endpoints().Informer(), inf.Discovery().V1().EndpointSlices().Informer())
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Service:
			err = inf.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Endpoints:
			err = inf.Core().V1().Endpoints().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{client: client, inf: inf, e: e}
}

func (f *fixture) slices(t *testing.T) []discoveryv1.EndpointSlice {
	t.Helper()
	list, err := f.client.DiscoveryV1().EndpointSlices("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func endpoints(name string, labels map[string]string) *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "ep-uid", Labels: labels,
			Annotations: map[string]string{"note": "x", corev1.EndpointsLastChangeTriggerTime: "t"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "192.0.2.1", Hostname: "h1"}, {IP: "not-an-ip"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "192.0.2.2"}},
			Ports:             []corev1.EndpointPort{{Name: "p", Port: 80, Protocol: corev1.ProtocolTCP}},
		}, {
			Addresses: []corev1.EndpointAddress{{IP: "2001:db8::1"}},
			Ports:     []corev1.EndpointPort{{Name: "p", Port: 80, Protocol: corev1.ProtocolTCP}},
		}},
	}
}

func selectorless(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}
}

func TestMirrorsSelectorlessEndpoints(t *testing.T) {
	f := newFixture(t, selectorless("ext"), endpoints("ext", map[string]string{"team": "a"}))
	if err := f.e.sync(context.Background(), "ns/ext"); err != nil {
		t.Fatal(err)
	}
	slices := f.slices(t)
	if len(slices) != 2 {
		t.Fatalf("got %d slices, want an IPv4 and an IPv6 one: %+v", len(slices), slices)
	}
	for _, s := range slices {
		if s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels[discoveryv1.LabelServiceName] != "ext" || s.Labels["team"] != "a" {
			t.Errorf("labels = %v", s.Labels)
		}
		if s.Annotations["note"] != "x" || s.Annotations[corev1.EndpointsLastChangeTriggerTime] != "" {
			t.Errorf("annotations = %v", s.Annotations)
		}
		if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "Endpoints" {
			t.Errorf("owners = %v", s.OwnerReferences)
		}
		switch s.AddressType {
		case discoveryv1.AddressTypeIPv4:
			if len(s.Endpoints) != 2 || s.Endpoints[0].Addresses[0] != "192.0.2.1" || !*s.Endpoints[0].Conditions.Ready ||
				*s.Endpoints[1].Conditions.Ready || *s.Endpoints[0].Hostname != "h1" {
				t.Errorf("IPv4 endpoints = %+v", s.Endpoints)
			}
		case discoveryv1.AddressTypeIPv6:
			if len(s.Endpoints) != 1 {
				t.Errorf("IPv6 endpoints = %+v", s.Endpoints)
			}
		}
	}
}

func TestNotMirrored(t *testing.T) {
	withSelector := selectorless("sel")
	withSelector.Spec.Selector = map[string]string{"app": "x"}
	cases := map[string]*fixture{
		"skip-mirror label": newFixture(t, selectorless("ext"), endpoints("ext", map[string]string{discoveryv1.LabelSkipMirror: "true"})),
		"selector service":  newFixture(t, withSelector, endpoints("sel", nil)),
		"no service":        newFixture(t, endpoints("ext", nil)),
	}
	for name, f := range cases {
		for _, key := range []string{"ns/ext", "ns/sel"} {
			if err := f.e.sync(context.Background(), key); err != nil {
				t.Fatal(err)
			}
		}
		if s := f.slices(t); len(s) != 0 {
			t.Errorf("%s: mirrored %d slices", name, len(s))
		}
	}
}
