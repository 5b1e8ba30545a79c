package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

var eventScheme = scheme.Scheme

func eventSource(component string) corev1.EventSource {
	return corev1.EventSource{Component: component}
}
