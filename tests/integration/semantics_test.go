package integration

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

func TestWatch(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	cms := srv.Client.CoreV1().ConfigMaps(ns)
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Only w1: the root CA publisher writes kube-root-ca.crt into new namespaces.
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, FieldSelector: "metadata.name=w1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []watch.EventType{watch.Added, watch.Deleted}
	for _, typ := range want {
		select {
		case ev := <-w.ResultChan():
			got := ev.Object.(*corev1.ConfigMap)
			if ev.Type != typ || got.Name != "w1" {
				t.Fatalf("event %s %s, want %s w1", ev.Type, got.Name, typ)
			}
			if typ == watch.Added && got.ResourceVersion != cm.ResourceVersion {
				t.Fatalf("ADDED resourceVersion %s, want %s", got.ResourceVersion, cm.ResourceVersion)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestWatchListBookmark(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	cms := srv.Client.CoreV1().ConfigMaps(ns)
	for i := 0; i < 3; i++ {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("b%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	send := true
	w, err := cms.Watch(ctx, metav1.ListOptions{SendInitialEvents: &send, AllowWatchBookmarks: true,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	added := 0
	for {
		select {
		case ev := <-w.ResultChan():
			switch ev.Type {
			case watch.Added:
				added++
			case watch.Bookmark:
				m, _ := ev.Object.(*corev1.ConfigMap)
				if m == nil || m.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
					t.Fatalf("bookmark without the initial-events-end annotation: %#v", ev.Object)
				}
				if added < 3 { // kube-root-ca.crt may or may not be there yet
					t.Fatalf("bookmark after %d ADDED events, want >= 3", added)
				}
				return
			default:
				t.Fatalf("unexpected event %s", ev.Type)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("no bookmark")
		}
	}
}

func TestWatchExpiredResourceVersion(t *testing.T) {
	// A watch from a resourceVersion older than the store keeps gets 410 Gone (or an
	// ERROR event carrying it), never a silent hang.
	ns := newNamespace(t)
	ctx := ctxT(t)
	w, err := srv.Client.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		if !apierrors.IsGone(err) && !apierrors.IsResourceExpired(err) {
			t.Fatalf("watch from rv 1: %v, want 410", err)
		}
		return
	}
	defer w.Stop()
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Error {
			t.Skipf("rv 1 is still within the watch window (event %s)", ev.Type)
		}
		st, ok := ev.Object.(*metav1.Status)
		if !ok || st.Code != 410 {
			t.Fatalf("error event %#v, want 410", ev.Object)
		}
	case <-time.After(5 * time.Second):
		t.Skip("rv 1 is still within the watch window")
	}
}

func TestPaginationAndSelectors(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	cms := srv.Client.CoreV1().ConfigMaps(ns)
	for i := 0; i < 25; i++ {
		labels := map[string]string{"parity": []string{"even", "odd"}[i%2]}
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%02d", i), Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var pages, total int
	opts := metav1.ListOptions{Limit: 10, LabelSelector: "parity"}
	for {
		l, err := cms.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		total += len(l.Items)
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	if pages != 3 || total != 25 {
		t.Fatalf("pages=%d total=%d, want 3 and 25", pages, total)
	}
	odd, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "parity=odd"})
	if err != nil || len(odd.Items) != 12 {
		t.Fatalf("parity=odd: %d items, err %v; want 12", len(odd.Items), err)
	}
	one, err := cms.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=p07"})
	if err != nil || len(one.Items) != 1 {
		t.Fatalf("field selector metadata.name=p07: %v %v", one, err)
	}
	if _, err := cms.List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("unsupported field selector: %v, want 400", err)
	}
}

func TestDryRunGenerateNameFinalizersOwners(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	cms := srv.Client.CoreV1().ConfigMaps(ns)

	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dry"}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run create persisted: %v", err)
	}

	g, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
	if err != nil || len(g.Name) != len("gen-")+5 {
		t.Fatalf("generateName: %v %v", g.Name, err)
	}

	owner := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: g.Name, UID: g.UID}
	f, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fin", Finalizers: []string{"example.com/hold"}, OwnerReferences: []metav1.OwnerReference{owner}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.OwnerReferences) != 1 || f.OwnerReferences[0].UID != g.UID {
		t.Fatalf("ownerReferences not stored: %v", f.OwnerReferences)
	}
	if err := cms.Delete(ctx, "fin", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	held, err := cms.Get(ctx, "fin", metav1.GetOptions{})
	if err != nil || held.DeletionTimestamp == nil {
		t.Fatalf("object with finalizer: %v, deletionTimestamp %v", err, held.DeletionTimestamp)
	}
	if _, err := cms.Patch(ctx, "fin", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if _, err := cms.Get(ctx, "fin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})

	// Delete propagation is recorded as a finalizer.
	for policy, fin := range map[metav1.DeletionPropagation]string{metav1.DeletePropagationOrphan: "orphan", metav1.DeletePropagationForeground: "foregroundDeletion"} {
		name := map[bool]string{true: "prop-orphan", false: "prop-fg"}[policy == metav1.DeletePropagationOrphan]
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := policy
		// The DELETE's answer is the object as the delete left it: the garbage collector
		// may process the finalizer and remove the object at once after.
		obj, err := srv.Client.CoreV1().RESTClient().Delete().Namespace(ns).Resource("configmaps").Name(name).
			Body(&metav1.DeleteOptions{PropagationPolicy: &p}).Do(ctx).Get()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := obj.(*corev1.ConfigMap)
		if !ok || got.DeletionTimestamp == nil || len(got.Finalizers) != 1 || got.Finalizers[0] != fin {
			t.Fatalf("%s delete answered %#v", policy, obj)
		}
	}
}
