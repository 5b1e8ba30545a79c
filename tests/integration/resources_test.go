package integration

import (
	"bufio"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"
)

// checklistRow is one line of `kubectl api-resources -o wide` against upstream 1.37.
type checklistRow struct {
	name, shortNames, apiVersion, kind, verbs, categories string
	namespaced                                            bool
}

func readChecklist(t *testing.T) []checklistRow {
	f, err := os.Open("testdata/api-resources-1.37.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	header := sc.Text()
	col := func(name string) int { return strings.Index(header, name) }
	cols := []int{col("NAME"), col("SHORTNAMES"), col("APIVERSION"), col("NAMESPACED"), col("KIND"), col("VERBS"), col("CATEGORIES")}
	var rows []checklistRow
	for sc.Scan() {
		l := sc.Text()
		cell := func(i int) string {
			end := len(l)
			if i+1 < len(cols) && cols[i+1] < end {
				end = cols[i+1]
			}
			if cols[i] >= len(l) {
				return ""
			}
			return strings.TrimSpace(l[cols[i]:end])
		}
		rows = append(rows, checklistRow{name: cell(0), shortNames: cell(1), apiVersion: cell(2), namespaced: cell(3) == "true",
			kind: cell(4), verbs: cell(5), categories: cell(6)})
	}
	return rows
}

// TestDiscoveryMatchesUpstream checks every resource upstream 1.37 serves is served
// here at the same version, with the same kind, scope, verbs, short names and categories.
func TestDiscoveryMatchesUpstream(t *testing.T) {
	_, lists, err := srv.Client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]metav1.APIResource{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			served[l.GroupVersion+"/"+r.Name] = r
		}
	}
	rows := readChecklist(t)
	if len(rows) != 71 {
		t.Fatalf("checklist has %d rows, want 71", len(rows))
	}
	for _, row := range rows {
		r, ok := served[row.apiVersion+"/"+row.name]
		if !ok {
			t.Errorf("%s %s: not served", row.apiVersion, row.name)
			continue
		}
		verbs := append([]string(nil), r.Verbs...)
		sort.Strings(verbs)
		got := checklistRow{name: r.Name, shortNames: strings.Join(r.ShortNames, ","), apiVersion: row.apiVersion, kind: r.Kind,
			verbs: strings.Join(verbs, ","), categories: strings.Join(r.Categories, ","), namespaced: r.Namespaced}
		if got != row {
			t.Errorf("%s %s:\n got  %+v\n want %+v", row.apiVersion, row.name, got, row)
		}
	}
}

// TestPodSubresources checks the pod subresources upstream serves are all there.
func TestPodSubresources(t *testing.T) {
	l, err := srv.Client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range l.APIResources {
		have[r.Name] = true
	}
	for _, sub := range []string{"status", "binding", "eviction", "ephemeralcontainers", "resize", "log", "exec", "attach", "portforward"} {
		if !have["pods/"+sub] {
			t.Errorf("pods/%s not served", sub)
		}
	}
	for _, r := range []string{"deployments/scale", "replicasets/scale", "statefulsets/scale", "replicationcontrollers/scale", "serviceaccounts/token", "namespaces/finalize"} {
		gv := "apps/v1"
		if !strings.HasPrefix(r, "deployments") && !strings.HasPrefix(r, "replicasets") && !strings.HasPrefix(r, "statefulsets") {
			gv = "v1"
		}
		l, err := srv.Client.Discovery().ServerResourcesForGroupVersion(gv)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range l.APIResources {
			found = found || x.Name == r
		}
		if !found {
			t.Errorf("%s %s not served", gv, r)
		}
	}
}

// TestRoundTripEveryResource creates, reads, lists, patches, watches and deletes one
// object of every served resource that supports those verbs.
func TestRoundTripEveryResource(t *testing.T) {
	ns := newNamespace(t)
	fx := fixtures(t)
	for _, row := range readChecklist(t) {
		if !strings.Contains(row.verbs, "create") || !strings.Contains(row.verbs, "watch") {
			continue
		}
		row := row
		t.Run(row.apiVersion+"/"+row.name, func(t *testing.T) {
			key := row.name
			if row.apiVersion == "events.k8s.io/v1" {
				key = "events.k8s.io"
			}
			body, ok := fx[key]
			if !ok {
				t.Fatalf("no fixture for %s", row.name)
			}
			roundTrip(t, row, ns, body)
		})
	}
}

func roundTrip(t *testing.T, row checklistRow, ns, body string) {
	ctx := ctxT(t)
	gv, err := schema.ParseGroupVersion(row.apiVersion)
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(body, "__NS__", ns)), &obj.Object); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	obj.SetAPIVersion(row.apiVersion)
	obj.SetKind(row.kind)
	if obj.GetName() == "" {
		obj.SetName("rt-" + strings.ReplaceAll(row.name, ".", "-"))
	}
	name := obj.GetName()
	var r dynamic.ResourceInterface = srv.Dynamic.Resource(gv.WithResource(row.name))
	if row.namespaced {
		r = srv.Dynamic.Resource(gv.WithResource(row.name)).Namespace(ns)
	}
	w, err := r.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	created, err := r.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.GetUID() == "" || created.GetResourceVersion() == "" || created.GetCreationTimestamp().Time.IsZero() {
		t.Fatalf("created object lacks uid/resourceVersion/creationTimestamp: %v", created.Object["metadata"])
	}
	got, err := r.Get(ctx, name, metav1.GetOptions{})
	if err != nil || got.GetUID() != created.GetUID() {
		t.Fatalf("get: %v", err)
	}
	list, err := r.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	found := false
	for _, it := range list.Items {
		found = found || it.GetName() == name
	}
	if !found {
		t.Fatalf("list lacks %s", name)
	}
	patched, err := r.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"roundtrip":"yes"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("patch: %v", err)
	}
	if patched.GetLabels()["roundtrip"] != "yes" || patched.GetResourceVersion() == created.GetResourceVersion() {
		t.Fatalf("patch did not apply: labels %v rv %s", patched.GetLabels(), patched.GetResourceVersion())
	}
	// Update the latest copy: status controllers (APF, …) may write in between.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := r.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.SetAnnotations(map[string]string{"updated": "yes"})
		_, err = r.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if row.name == "namespaces" {
		return // namespaces terminate through the namespace controller
	}
	// Background, so that kinds whose default is to orphan (batch/v1 Jobs) go at once.
	background := metav1.DeletePropagationBackground
	if err := r.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	// A minute: some kinds go through finalizers (a CRD's instances are removed
	// and polled for by apiextensions' finalizer, every 5 s), which a machine busy
	// with parallel tests can slow well past the usual fraction of a second.
	var seen []watch.EventType
	deadline := time.After(time.Minute)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %v", seen)
			}
			if ev.Type == watch.Error {
				t.Fatalf("watch error: %v", ev.Object)
			}
			seen = append(seen, ev.Type)
			if ev.Type == watch.Deleted {
				if seen[0] != watch.Added || len(seen) < 4 {
					t.Fatalf("watch events %v, want ADDED, MODIFIED (patch, update), DELETED", seen)
				}
				return
			}
		case <-deadline:
			t.Fatalf("watch events %v, want ADDED, MODIFIED…, DELETED", seen)
		}
	}
}
