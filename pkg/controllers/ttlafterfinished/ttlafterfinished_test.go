package ttlafterfinished

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

func finishedJob(name string, ttl int32, finishedAt time.Time) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-x", ResourceVersion: "7"},
		Spec:       batchv1.JobSpec{TTLSecondsAfterFinished: &ttl},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{
			Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(finishedAt)}}},
	}
}

func TestDeletesExpiredJobInBackground(t *testing.T) {
	now := time.Now()
	expired := finishedJob("old", 10, now.Add(-time.Minute))
	young := finishedJob("young", 3600, now)
	client := fake.NewClientset(expired, young)
	f := informers.NewSharedInformerFactory(client, 0)
	_ = f.Batch().V1().Jobs().Informer().GetIndexer().Add(expired)
	_ = f.Batch().V1().Jobs().Informer().GetIndexer().Add(young)
	tc := &Controller{client: client, jobLister: f.Batch().V1().Jobs().Lister(), queue: controllers.NewQueue("t"), now: time.Now}
	defer tc.queue.ShutDown()
	for _, k := range []string{"default/old", "default/young"} {
		if err := tc.sync(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	var deleted []string
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			deleted = append(deleted, d.GetName())
			opts := d.GetDeleteOptions()
			if opts.PropagationPolicy == nil || *opts.PropagationPolicy != metav1.DeletePropagationBackground ||
				opts.Preconditions == nil || *opts.Preconditions.ResourceVersion != "7" {
				t.Errorf("delete options %+v", opts)
			}
		}
	}
	if len(deleted) != 1 || deleted[0] != "old" {
		t.Errorf("deleted %v, want [old]", deleted)
	}
	if tc.queue.Len() != 0 {
		// The young job waits in the delaying part of the queue, not the ready part.
		t.Errorf("queue len %d", tc.queue.Len())
	}
}

func TestUnfinishedOrNoTTLIsKept(t *testing.T) {
	j := finishedJob("j", 0, time.Now())
	j.Status.Conditions = nil
	if needsCleanup(j) {
		t.Error("unfinished job needs cleanup")
	}
	j = finishedJob("j", 0, time.Now())
	j.Spec.TTLSecondsAfterFinished = nil
	if needsCleanup(j) {
		t.Error("job without TTL needs cleanup")
	}
}
