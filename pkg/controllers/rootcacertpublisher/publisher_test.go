package rootcacertpublisher

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPublishAndRepair(t *testing.T) {
	client := fake.NewClientset()
	inf := informers.NewSharedInformerFactory(client, 0)
	cmInf := inf.Core().V1().ConfigMaps().Informer()
	p := newPublisher(client, []byte("CA"), inf.Core().V1().Namespaces().Informer(), cmInf)
	ctx := context.Background()
	if err := p.sync(ctx, "ns"); err != nil {
		t.Fatal(err)
	}
	cm, err := client.CoreV1().ConfigMaps("ns").Get(ctx, ConfigMapName, metav1.GetOptions{})
	if err != nil || cm.Data["ca.crt"] != "CA" || cm.Annotations[DescriptionAnnotation] != Description {
		t.Fatalf("published %+v, %v", cm, err)
	}
	// Tampered in the cache: put back.
	tampered := cm.DeepCopy()
	tampered.Data = map[string]string{"ca.crt": "x"}
	tampered.Annotations = nil
	if err := cmInf.GetIndexer().Add(tampered); err != nil {
		t.Fatal(err)
	}
	if err := p.sync(ctx, "ns"); err != nil {
		t.Fatal(err)
	}
	cm, _ = client.CoreV1().ConfigMaps("ns").Get(ctx, ConfigMapName, metav1.GetOptions{})
	if cm.Data["ca.crt"] != "CA" || cm.Annotations[DescriptionAnnotation] == "" {
		t.Fatalf("not repaired: %+v", cm)
	}
	// Correct in the cache: no write.
	if err := cmInf.GetIndexer().Update(cm); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if err := p.sync(ctx, "ns"); err != nil || len(client.Actions()) != 0 {
		t.Errorf("resync wrote %v (err %v)", client.Actions(), err)
	}
}
