// Package pod serves core/v1 Pods and holds the PodSpec rules every workload shares:
// defaults (DefaultPodSpec, DefaultPodTemplateSpec) and validation (ValidatePodSpec,
// ValidatePodTemplateSpec), as upstream's pkg/apis/core/v1 defaults and
// pkg/apis/core/validation apply them.
//
//	pod.DefaultPodTemplateSpec(&deploy.Spec.Template)
//	errs := pod.ValidatePodTemplateSpec(&deploy.Spec.Template, field.NewPath("spec", "template"))
package pod
