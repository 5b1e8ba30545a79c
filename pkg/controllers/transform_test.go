package controllers

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func testPod(uid, rv string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: types.UID("u" + uid), ResourceVersion: rv,
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
}

func transformPod(t *testing.T, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := CacheTransform(p)
	if err != nil {
		t.Fatal(err)
	}
	return out.(*corev1.Pod)
}

func TestCacheTransformSharesOneCopyPerVersion(t *testing.T) {
	a := transformPod(t, testPod("1", "10"))
	if a.ManagedFields != nil {
		t.Errorf("managedFields kept: %v", a.ManagedFields)
	}
	b := transformPod(t, testPod("1", "10"))
	if a != b {
		t.Errorf("a second decode of uid 1 rv 10 got its own copy")
	}
	// A field-selected watch's deletion carries the previous content under the
	// new resourceVersion: not the same object, not shared.
	stale := testPod("1", "10")
	stale.Status.Phase = corev1.PodRunning
	if transformPod(t, stale) == a {
		t.Errorf("a different content under uid 1 rv 10 got the shared copy")
	}
	if c := transformPod(t, testPod("1", "11")); c == a {
		t.Errorf("rv 11 shares rv 10's copy")
	}
	if d := transformPod(t, testPod("2", "10")); d == a {
		t.Errorf("uid 2 shares uid 1's copy")
	}
	// Objects without a version (a fake client's) are left alone.
	e, f := testPod("3", ""), testPod("3", "")
	if transformPod(t, e) != e || transformPod(t, f) != f {
		t.Errorf("unversioned objects were shared")
	}
	// A tombstone's object is stripped but passed through as it came.
	tomb := cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: testPod("4", "1")}
	if _, err := CacheTransform(tomb); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(a)
}

func TestCacheTransformForgetsCollectedVersions(t *testing.T) {
	before := sharedPods.versions.Len()
	held := make([]*corev1.Pod, 0, 100)
	for i := range 100 {
		held = append(held, transformPod(t, testPod(fmt.Sprintf("gone-%d", i), "1")))
	}
	if n := sharedPods.versions.Len(); n != before+100 {
		t.Fatalf("table holds %d versions, want %d", n, before+100)
	}
	runtime.KeepAlive(held)
	held = nil
	deadline := time.Now().Add(10 * time.Second)
	for sharedPods.versions.Len() > before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := sharedPods.versions.Len(); n > before {
		t.Errorf("table still holds %d versions after their copies were collected, want %d", n, before)
	}
}
