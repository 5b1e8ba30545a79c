package resourcequota

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// A status.used that another writer set wrong (as a sync whose listers lagged
// does) is measured again and corrected, though the namespace's objects do not
// change.
func TestStatusWrittenElsewhereIsCorrected(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns", ResourceVersion: "1"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}}}
	client := fake.NewClientset(pod, rq)
	c := &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0)}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		c.Wait()
		c.Informers.Shutdown()
	}()
	if err := Start(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Informers.Start(ctx.Done())
	c.InformersStarted()

	waitUsed := func(want int64) {
		t.Helper()
		var last string
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			q, err := client.CoreV1().ResourceQuotas("ns").Get(ctx, "q", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			used := q.Status.Used[corev1.ResourcePods]
			last = fmt.Sprint(q.Status.Used)
			return q.Status.Hard != nil && used.Value() == want, nil
		})
		if err != nil {
			t.Fatalf("status.used pods never %d: %v (last %s)", want, err, last)
		}
	}
	waitUsed(1)

	// Another writer sets the usage to 0 (the fake clientset keeps the
	// resourceVersion it is given, so give it a new one).
	q, err := client.CoreV1().ResourceQuotas("ns").Get(ctx, "q", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.ResourceVersion = "2"
	q.Status.Used = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}
	if _, err := client.CoreV1().ResourceQuotas("ns").UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(1)
}
