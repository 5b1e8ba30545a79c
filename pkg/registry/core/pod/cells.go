package pod

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ContainerCells returns the CONTAINERS and IMAGES cells workload tables print for a
// pod template: the names and images, comma separated.
func ContainerCells(cs []corev1.Container) (names, images string) {
	n := make([]string, 0, len(cs))
	im := make([]string, 0, len(cs))
	for _, c := range cs {
		n = append(n, c.Name)
		im = append(im, c.Image)
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}
