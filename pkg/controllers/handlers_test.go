package controllers

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// ownedFixture records what OwnedHandlers ask of a controller whose owners are
// named by their UID.
type ownedFixture struct {
	events []string
	h      *OwnedHandlers[string, *corev1.Pod]
}

func newOwnedFixture(owners ...string) *ownedFixture {
	f := &ownedFixture{}
	known := map[string]bool{}
	for _, o := range owners {
		known[o] = true
	}
	f.h = &OwnedHandlers[string, *corev1.Pod]{
		Resolve: func(_ string, ref *metav1.OwnerReference) string {
			if !known[string(ref.UID)] {
				return ""
			}
			return string(ref.UID)
		},
		Matching: func(p *corev1.Pod) []string { return []string{"matching-" + p.Labels["app"]} },
		Enqueue:  func(o string) { f.events = append(f.events, "enqueue "+o) },
		Created:  func(o string, _ *corev1.Pod) { f.events = append(f.events, "created "+o) },
		Deleted:  func(o string, _ *corev1.Pod) { f.events = append(f.events, "deleted "+o) },
		Updated:  func(o string, _, _ *corev1.Pod) { f.events = append(f.events, "updated "+o) },
	}
	return f
}

func ownedPod(rv, owner, app string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", ResourceVersion: rv,
		Labels: map[string]string{"app": app}}}
	if owner != "" {
		t := true
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: owner, UID: types.UID(owner), Controller: &t}}
	}
	return p
}

func (f *ownedFixture) expect(t *testing.T, what string, want ...string) {
	t.Helper()
	if !reflect.DeepEqual(f.events, want) {
		t.Errorf("%s: got %q, want %q", what, f.events, want)
	}
	f.events = nil
}

func TestOwnedHandlers(t *testing.T) {
	f := newOwnedFixture("a", "b")
	f.h.Add(ownedPod("1", "a", "x"))
	f.expect(t, "add owned", "created a", "enqueue a")
	f.h.Add(ownedPod("1", "gone", "x"))
	f.expect(t, "add with unknown owner")
	f.h.Add(ownedPod("1", "", "x"))
	f.expect(t, "add orphan", "enqueue matching-x")

	f.h.Update(ownedPod("1", "a", "x"), ownedPod("1", "a", "y"))
	f.expect(t, "resync")
	f.h.Update(ownedPod("1", "a", "x"), ownedPod("2", "b", "x"))
	f.expect(t, "controllerRef changed", "enqueue a", "enqueue b", "updated b")
	f.h.Update(ownedPod("1", "a", "x"), ownedPod("2", "", "x"))
	f.expect(t, "released", "enqueue a", "enqueue matching-x")
	f.h.Update(ownedPod("1", "", "x"), ownedPod("2", "", "y"))
	f.expect(t, "orphan relabelled", "enqueue matching-y")
	f.h.Update(ownedPod("1", "", "x"), ownedPod("2", "", "x"))
	f.expect(t, "orphan unchanged")

	terminating := ownedPod("2", "a", "y")
	terminating.DeletionTimestamp = &metav1.Time{}
	f.h.Update(ownedPod("1", "a", "x"), terminating)
	f.expect(t, "terminating, by default", "enqueue a", "updated a")
	f.h.DeleteOnTerminating = true
	f.h.Update(ownedPod("1", "a", "x"), terminating)
	f.expect(t, "terminating as deleted", "deleted a", "enqueue a")
	f.h.DeleteOldOnRelabel = true
	f.h.Update(ownedPod("1", "a", "x"), terminating)
	f.expect(t, "terminating and relabelled", "deleted a", "enqueue a", "deleted a", "enqueue a")
	f.h.Add(terminating)
	f.expect(t, "added terminating", "deleted a", "enqueue a")

	f.h.Delete(ownedPod("1", "b", "x"))
	f.expect(t, "delete", "deleted b", "enqueue b")
	f.h.Delete(cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: ownedPod("1", "b", "x")})
	f.expect(t, "tombstone", "deleted b", "enqueue b")
	f.h.Delete(ownedPod("1", "", "x"))
	f.expect(t, "orphan deleted")
	f.h.Delete(cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: &corev1.Node{}})
	f.expect(t, "tombstone of another kind")
}

func TestSelecting(t *testing.T) {
	owners := []*metav1.LabelSelector{
		{MatchLabels: map[string]string{"app": "x"}},
		{},  // selects everything: never an adopter
		nil, // selects nothing
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}},
		{MatchLabels: map[string]string{"app": "y"}},
	}
	got := Selecting(owners, func(s *metav1.LabelSelector) *metav1.LabelSelector { return s }, map[string]string{"app": "x"})
	if len(got) != 1 || got[0] != owners[0] {
		t.Errorf("got %v, want only the app=x selector", got)
	}
}

func TestResolveControllerRef(t *testing.T) {
	cached := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "owner", UID: "u1"}}
	get := func(name string) (*corev1.Pod, error) {
		if name != "owner" {
			return nil, fmt.Errorf("not found")
		}
		return cached, nil
	}
	for _, tc := range []struct {
		ref  *metav1.OwnerReference
		want *corev1.Pod
	}{
		{&metav1.OwnerReference{Kind: "Pod", Name: "owner", UID: "u1"}, cached},
		{&metav1.OwnerReference{Kind: "Pod", Name: "owner", UID: "u0"}, nil}, // a namesake
		{&metav1.OwnerReference{Kind: "Node", Name: "owner", UID: "u1"}, nil},
		{&metav1.OwnerReference{Kind: "Pod", Name: "gone", UID: "u1"}, nil},
		{nil, nil},
	} {
		if got := ResolveControllerRef(tc.ref, "Pod", get); got != tc.want {
			t.Errorf("%v: got %v, want %v", tc.ref, got, tc.want)
		}
	}
}
