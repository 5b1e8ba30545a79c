package integration

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
)

const podSpec = `{containers: [{name: c, image: busybox:1.36}]}`
const template = `{metadata: {labels: {app: rt}}, spec: ` + podSpec + `}`

// fixtures are minimal valid objects, one per resource; __NS__ stands for the test namespace.
func fixtures(t *testing.T) map[string]string {
	csr, cert := certMaterial(t)
	indent := func(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }
	return map[string]string{
		"configmaps":             `data: {a: b}`,
		"endpoints":              `subsets: [{addresses: [{ip: 10.1.2.3}], ports: [{port: 80}]}]`,
		"events":                 `{involvedObject: {kind: Pod, name: x, namespace: __NS__}, reason: Test, message: hello, type: Normal}`,
		"limitranges":            `spec: {limits: [{type: Container, default: {cpu: 100m}}]}`,
		"namespaces":             `metadata: {name: rt-ns-__NS__}`,
		"nodes":                  `metadata: {name: rt-node-__NS__}`,
		"persistentvolumeclaims": `spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}`,
		"persistentvolumes":      `{metadata: {name: rt-pv-__NS__}, spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /tmp/rt}}}`,
		"pods":                   `spec: ` + podSpec,
		"podtemplates":           `template: ` + template,
		"replicationcontrollers": `spec: {replicas: 0, selector: {app: rt}, template: ` + template + `}`,
		"resourcequotas":         `spec: {hard: {pods: "10"}}`,
		"secrets":                `data: {a: YmFy}`,
		"serviceaccounts":        `{}`,
		"services":               `spec: {ports: [{port: 80}], selector: {app: rt}}`,

		"mutatingadmissionpolicies": `{metadata: {name: rt-map-__NS__}, spec: {matchConstraints: {resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [nothings]}]},
  reinvocationPolicy: Never, mutations: [{patchType: ApplyConfiguration, applyConfiguration: {expression: "Object{}"}}]}}`,
		"mutatingadmissionpolicybindings":   `{metadata: {name: rt-mapb-__NS__}, spec: {policyName: rt-map-__NS__}}`,
		"mutatingwebhookconfigurations":     `{metadata: {name: rt-mwc-__NS__}, webhooks: [{name: a.example.com, clientConfig: {url: "https://example.com/hook"}, sideEffects: None, admissionReviewVersions: [v1]}]}`,
		"validatingadmissionpolicies":       `{metadata: {name: rt-vap-__NS__}, spec: {matchConstraints: {resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [nothings]}]}, validations: [{expression: "true"}]}}`,
		"validatingadmissionpolicybindings": `{metadata: {name: rt-vapb-__NS__}, spec: {policyName: rt-vap-__NS__, validationActions: [Deny]}}`,
		"validatingwebhookconfigurations":   `{metadata: {name: rt-vwc-__NS__}, webhooks: [{name: a.example.com, clientConfig: {url: "https://example.com/hook"}, sideEffects: None, admissionReviewVersions: [v1]}]}`,
		"customresourcedefinitions": `{metadata: {name: gadgets.rt.example.com}, spec: {group: rt.example.com, scope: Namespaced,
  names: {plural: gadgets, singular: gadget, kind: Gadget}, versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]}}`,
		"apiservices": `{metadata: {name: v1.rt.example.org}, spec: {group: rt.example.org, version: v1, groupPriorityMinimum: 1000, versionPriority: 15, service: {namespace: __NS__, name: nothing}}}`,

		"controllerrevisions": `{revision: 1, data: {}}`,
		"daemonsets":          `spec: {selector: {matchLabels: {app: rt}}, template: ` + template + `}`,
		"deployments":         `spec: {replicas: 0, selector: {matchLabels: {app: rt}}, template: ` + template + `}`,
		"replicasets":         `spec: {replicas: 0, selector: {matchLabels: {app: rt}}, template: ` + template + `}`,
		"statefulsets":        `spec: {replicas: 0, serviceName: rt, selector: {matchLabels: {app: rt}}, template: ` + template + `}`,

		"horizontalpodautoscalers": `spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: x}, maxReplicas: 3}`,
		"cronjobs":                 `spec: {schedule: "*/5 * * * *", jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}}}`,
		"jobs":                     `spec: {suspend: true, template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}`,

		"certificatesigningrequests": "metadata: {name: rt-csr-__NS__}\nspec:\n  signerName: kubernetes.io/kube-apiserver-client\n  usages: [client auth]\n  request: " + base64.StdEncoding.EncodeToString(csr),
		"clustertrustbundles":        "metadata: {name: rt-ctb-__NS__}\nspec:\n  trustBundle: |\n    " + indent(strings.TrimSpace(string(cert))),
		"podcertificaterequests":     podCertificateRequest(t),

		"leases":         `spec: {holderIdentity: rt}`,
		"endpointslices": `{addressType: IPv4, endpoints: [{addresses: [10.1.2.3]}], ports: [{port: 80, protocol: TCP}]}`,
		"events.k8s.io": `{eventTime: "2026-01-01T00:00:00.000000Z", reportingController: example.com/rt, reportingInstance: rt-1, action: Test, reason: Test, type: Normal,
  regarding: {kind: Pod, name: x, namespace: __NS__}}`,
		"flowschemas":                 `{metadata: {name: rt-fs-__NS__}, spec: {priorityLevelConfiguration: {name: global-default}, matchingPrecedence: 5000, rules: [{subjects: [{kind: User, user: {name: rt}}], resourceRules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"]}]}]}}`,
		"prioritylevelconfigurations": `{metadata: {name: rt-pl-__NS__}, spec: {type: Limited, limited: {nominalConcurrencyShares: 5, limitResponse: {type: Reject}}}}`,
		"ingressclasses":              `{metadata: {name: rt-ic-__NS__}, spec: {controller: example.com/rt}}`,
		"ingresses":                   `spec: {defaultBackend: {service: {name: x, port: {number: 80}}}}`,
		"ipaddresses":                 `{metadata: {name: 10.99.1.7}, spec: {parentRef: {group: "", resource: services, namespace: __NS__, name: x}}}`,
		"networkpolicies":             `spec: {podSelector: {}}`,
		"servicecidrs":                `{metadata: {name: rt-cidr-__NS__}, spec: {cidrs: [10.99.0.0/24]}}`,
		"runtimeclasses":              `{metadata: {name: rt-rc-__NS__}, handler: runc}`,
		"poddisruptionbudgets":        `spec: {minAvailable: 1, selector: {matchLabels: {app: rt}}}`,
		"clusterrolebindings":         `{metadata: {name: rt-crb-__NS__}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}, subjects: [{kind: User, name: rt, apiGroup: rbac.authorization.k8s.io}]}`,
		"clusterroles":                `{metadata: {name: rt-cr-__NS__}, rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]}`,
		"rolebindings":                `{roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}, subjects: [{kind: ServiceAccount, name: default, namespace: __NS__}]}`,
		"roles":                       `rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]`,
		"deviceclasses":               `{metadata: {name: rt-dc-__NS__}, spec: {}}`,
		"devicetaintrules":            `{metadata: {name: rt-dtr-__NS__}, spec: {taint: {key: example.com/rt, effect: NoSchedule}}}`,
		"resourceclaims":              `spec: {devices: {requests: [{name: r, exactly: {deviceClassName: rt}}]}}`,
		"resourceclaimtemplates":      `spec: {spec: {devices: {requests: [{name: r, exactly: {deviceClassName: rt}}]}}}`,
		"resourceslices":              `{metadata: {name: rt-rs-__NS__}, spec: {driver: rt.example.com, pool: {name: p, generation: 1, resourceSliceCount: 1}, nodeName: n1, devices: [{name: d0}]}}`,
		"priorityclasses":             `{metadata: {name: rt-pc-__NS__}, value: 1000}`,
		"csidrivers":                  `{metadata: {name: rt.csi.example.com}, spec: {}}`,
		"csinodes":                    `{metadata: {name: rt-csinode-__NS__}, spec: {drivers: []}}`,
		"csistoragecapacities":        `{storageClassName: rt}`,
		"storageclasses":              `{metadata: {name: rt-sc-__NS__}, provisioner: example.com/rt}`,
		"volumeattachments":           `{metadata: {name: rt-va-__NS__}, spec: {attacher: rt.example.com, nodeName: n1, source: {persistentVolumeName: pv}}}`,
		"volumeattributesclasses":     `{metadata: {name: rt-vac-__NS__}, driverName: rt.example.com}`,
		"storageversionmigrations":    `{metadata: {name: rt-svm-__NS__}, spec: {resource: {group: "", resource: configmaps}}}`,
	}
}

// podCertificateRequest is a request with a real key and proof of possession.
func podCertificateRequest(t *testing.T) string {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	podUID := "11111111-2222-3333-4444-555555555555"
	proof := ed25519.Sign(priv, []byte(podUID))
	stub, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, priv)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`spec: {signerName: example.com/rt, podName: p, podUID: %q, serviceAccountName: default,
  serviceAccountUID: "22222222-2222-3333-4444-555555555555", nodeName: n1, nodeUID: "33333333-2222-3333-4444-555555555555",
  maxExpirationSeconds: 86400, pkixPublicKey: %s, proofOfPossession: %s, stubPKCS10Request: %s}`, podUID,
		base64.StdEncoding.EncodeToString(pkix), base64.StdEncoding.EncodeToString(proof), base64.StdEncoding.EncodeToString(stub))
}

// certMaterial returns a PEM CSR and a self-signed PEM certificate.
func certMaterial(t *testing.T) (csr, cert []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "rt-user"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rt-ca"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	cder, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cder})
}
