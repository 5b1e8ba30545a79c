package pod

import (
	"net/netip"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type intstrLike = intstr.IntOrString

func reflectValue(s *corev1.VolumeSource) reflect.Value { return reflect.ValueOf(s).Elem() }

func validIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
