// Package volumeattachment serves storage.k8s.io/v1 VolumeAttachments: the intent to
// attach a volume to a node, and (in status) whether the attacher did.
package volumeattachment

import (
	"context"

	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/storage/storageutil"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// maxErrorLength bounds attach and detach error messages, as upstream.
const maxErrorLength = 1024

// Resource is volumeattachments.
var Resource = &store.Resource{
	Name: "volumeattachments", Singular: "volumeattachment", Status: true,
	New:     func() runtime.Object { return &storagev1.VolumeAttachment{} },
	NewList: func() runtime.Object { return &storagev1.VolumeAttachmentList{} },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*storagev1.VolumeAttachment))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*storagev1.VolumeAttachment), old.(*storagev1.VolumeAttachment))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		return validateStatus(&obj.(*storagev1.VolumeAttachment).Status, field.NewPath("status"))
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Attacher", Type: "string", Format: "name", Description: storagev1.VolumeAttachmentSpec{}.SwaggerDoc()["attacher"]},
		{Name: "PV", Type: "string", Description: storagev1.VolumeAttachmentSource{}.SwaggerDoc()["persistentVolumeName"]},
		{Name: "Node", Type: "string", Description: storagev1.VolumeAttachmentSpec{}.SwaggerDoc()["nodeName"]},
		{Name: "Attached", Type: "boolean", Description: storagev1.VolumeAttachmentStatus{}.SwaggerDoc()["attached"]},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any {
		va := obj.(*storagev1.VolumeAttachment)
		pv := ""
		if va.Spec.Source.PersistentVolumeName != nil {
			pv = *va.Spec.Source.PersistentVolumeName
		}
		return []any{va.Name, va.Spec.Attacher, pv, va.Spec.NodeName, va.Status.Attached, store.Age(va.CreationTimestamp)}
	},
}

// Validate checks the attacher, the source (exactly one of two) and the node.
func Validate(va *storagev1.VolumeAttachment) field.ErrorList {
	sp := field.NewPath("spec")
	errs := storageutil.ValidateCSIDriverName(va.Spec.Attacher, sp.Child("attacher"))
	src := va.Spec.Source
	switch {
	case src.PersistentVolumeName == nil && src.InlineVolumeSpec == nil,
		src.PersistentVolumeName != nil && src.InlineVolumeSpec != nil:
		errs = append(errs, field.Required(sp.Child("source"), "must specify exactly one of inlineVolumeSpec and persistentVolumeName"))
	case src.PersistentVolumeName != nil:
		if *src.PersistentVolumeName == "" {
			errs = append(errs, field.Required(sp.Child("source", "persistentVolumeName"), "must specify non empty persistentVolumeName"))
		}
	}
	if va.Spec.NodeName == "" {
		errs = append(errs, field.Required(sp.Child("nodeName"), ""))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(va.Spec.NodeName) {
			errs = append(errs, field.Invalid(sp.Child("nodeName"), va.Spec.NodeName, msg))
		}
	}
	return errs
}

// ValidateUpdate checks an attachment and that its spec did not change.
func ValidateUpdate(va, old *storagev1.VolumeAttachment) field.ErrorList {
	errs := Validate(va)
	if !equality.Semantic.DeepEqual(va.Spec, old.Spec) {
		errs = append(errs, field.Invalid(field.NewPath("spec"), va.Spec, "field is immutable"))
	}
	return errs
}

func validateStatus(s *storagev1.VolumeAttachmentStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for k, v := range s.AttachmentMetadata {
		size += len(k) + len(v)
	}
	if size > 256*1024 {
		errs = append(errs, field.TooLong(p.Child("attachmentMetadata"), "", 256*1024))
	}
	for name, e := range map[string]*storagev1.VolumeError{"attachError": s.AttachError, "detachError": s.DetachError} {
		if e != nil && len(e.Message) > maxErrorLength {
			errs = append(errs, field.TooLong(p.Child(name, "message"), e.Message, maxErrorLength))
		}
	}
	return errs
}
