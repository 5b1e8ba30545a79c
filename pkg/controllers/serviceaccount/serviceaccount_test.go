package serviceaccount

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestDefaultServiceAccount(t *testing.T) {
	client := fake.NewClientset()
	inf := informers.NewSharedInformerFactory(client, 0)
	nsInf, saInf := inf.Core().V1().Namespaces().Informer(), inf.Core().V1().ServiceAccounts().Informer()
	e := newController(client, nsInf, saInf)
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "active"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		{ObjectMeta: metav1.ObjectMeta{Name: "going"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
	} {
		if err := nsInf.GetIndexer().Add(ns); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"active", "going", "missing"} {
		if err := e.sync(context.Background(), ns); err != nil {
			t.Fatalf("sync %s: %v", ns, err)
		}
	}
	if _, err := client.CoreV1().ServiceAccounts("active").Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Errorf("active namespace: %v", err)
	}
	if _, err := client.CoreV1().ServiceAccounts("going").Get(context.Background(), "default", metav1.GetOptions{}); err == nil {
		t.Errorf("a terminating namespace got a service account")
	}

	// Already in the cache: no write.
	sa, _ := client.CoreV1().ServiceAccounts("active").Get(context.Background(), "default", metav1.GetOptions{})
	if err := saInf.GetIndexer().Add(sa); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if err := e.sync(context.Background(), "active"); err != nil || len(client.Actions()) != 0 {
		t.Errorf("resync wrote %v (err %v)", client.Actions(), err)
	}
}
