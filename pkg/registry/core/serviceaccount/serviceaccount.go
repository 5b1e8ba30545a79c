// Package serviceaccount serves core/v1 ServiceAccounts and their token subresource
// (TokenRequest), which issues bound service-account tokens.
package serviceaccount

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is serviceaccounts; InstallToken adds serviceaccounts/token once the group
// is built.
var Resource = &store.Resource{
	Name: "serviceaccounts", Singular: "serviceaccount", Namespaced: true, ShortNames: []string{"sa"},
	New:     func() runtime.Object { return &corev1.ServiceAccount{} },
	NewList: func() runtime.Object { return &corev1.ServiceAccountList{} },
	PrepareForCreate: func(_ context.Context, obj runtime.Object) {
		cleanSecretReferences(obj.(*corev1.ServiceAccount))
	},
	PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
		cleanSecretReferences(obj.(*corev1.ServiceAccount))
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Secrets", Type: "string", Description: corev1.ServiceAccount{}.SwaggerDoc()["secrets"]},
		store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		sa := obj.(*corev1.ServiceAccount)
		return []any{sa.Name, int64(len(sa.Secrets)), store.Age(sa.CreationTimestamp)}
	},
}

// cleanSecretReferences keeps only the name of each secret reference, as upstream's
// strategy does: the other fields of an ObjectReference mean nothing there.
func cleanSecretReferences(sa *corev1.ServiceAccount) {
	for i, s := range sa.Secrets {
		sa.Secrets[i] = corev1.ObjectReference{Name: s.Name}
	}
}
