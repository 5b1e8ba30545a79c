package pod

import (
	"net/netip"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

type intstrLike = intstr.IntOrString

func reflectValue(s *corev1.VolumeSource) reflect.Value { return reflect.ValueOf(s).Elem() }

func validIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

type fieldErrors = field.ErrorList

func fieldInvalid(name string, v any, msg string) *field.Error {
	return field.Invalid(field.NewPath(name), v, msg)
}

func fieldForbidden(name string, msg string) *field.Error {
	return field.Forbidden(field.NewPath(name), msg)
}
