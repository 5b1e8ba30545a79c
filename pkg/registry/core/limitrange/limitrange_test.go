package limitrange

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func rl(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func TestDefaults(t *testing.T) {
	lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: corev1.LimitTypeContainer, Max: rl("cpu", "2", "memory", "1Gi"), Min: rl("cpu", "100m", "ephemeral-storage", "1Gi")},
		{Type: corev1.LimitTypePod, Max: rl("cpu", "4")},
	}}}
	Defaults(lr)
	c := lr.Spec.Limits[0]
	if q := c.Default[corev1.ResourceCPU]; q.String() != "2" {
		t.Errorf("default cpu %s, want max 2", q.String())
	}
	if q := c.DefaultRequest[corev1.ResourceMemory]; q.String() != "1Gi" {
		t.Errorf("defaultRequest memory %s, want 1Gi from default", q.String())
	}
	if q := c.DefaultRequest[corev1.ResourceEphemeralStorage]; q.String() != "1Gi" {
		t.Errorf("defaultRequest ephemeral-storage %s, want min", q.String())
	}
	if lr.Spec.Limits[1].Default != nil {
		t.Error("Pod limit got defaults")
	}
	if errs := Validate(lr); len(errs) > 0 {
		t.Fatal(errs)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		item corev1.LimitRangeItem
		want string
	}{
		{corev1.LimitRangeItem{Type: "Foo"}, `spec.limits[0].type: Unsupported value: "Foo"`},
		{corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("cpu", "1"), Min: rl("cpu", "2")}, "min value 2 is greater than max value 1"},
		{corev1.LimitRangeItem{Type: corev1.LimitTypePod, Default: rl("cpu", "1")}, "spec.limits[0].default: Forbidden"},
		{corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: rl("cpu", "500m")}, "ratio 500m is less than 1"},
	} {
		errs := Validate(&corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{tc.item}}})
		if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("errors %v, want %q", errs, tc.want)
		}
	}
}
