package rbac

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The verb sets upstream's bootstrap roles are written with.
var (
	read      = []string{"get", "list", "watch"}
	write     = []string{"create", "delete", "deletecollection", "patch", "update"}
	readWrite = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
)

const (
	aggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	aggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	aggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

func urls(verbs []string, paths ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: paths}
}

// bootstrapMeta marks an object as upstream marks its defaults, with extra labels.
func bootstrapMeta(name string, labels ...string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: name,
		Labels:      map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"},
		Annotations: map[string]string{"rbac.authorization.kubernetes.io/autoupdate": "true"}}
	for _, l := range labels {
		m.Labels[l] = "true"
	}
	return m
}

var (
	viewRules = []rbacv1.PolicyRule{
		rule(read, "", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps"),
		rule(read, "", "limitranges", "resourcequotas", "bindings", "events",
			"pods/status", "resourcequotas/status", "namespaces/status", "replicationcontrollers/status", "pods/log"),
		rule(read, "", "namespaces"),
		rule(read, "discovery.k8s.io", "endpointslices"),
		rule(read, "apps", "controllerrevisions", "statefulsets", "statefulsets/scale", "statefulsets/status",
			"daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
			"replicasets", "replicasets/scale", "replicasets/status"),
		rule(read, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
		rule(read, "batch", "jobs", "cronjobs", "cronjobs/status", "jobs/status"),
		rule(read, "extensions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
			"ingresses", "ingresses/status", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale", "networkpolicies"),
		rule(read, "policy", "poddisruptionbudgets", "poddisruptionbudgets/status"),
		rule(read, "networking.k8s.io", "networkpolicies", "ingresses", "ingresses/status"),
	}
	editRules = []rbacv1.PolicyRule{
		rule(read, "", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"),
		rule([]string{"impersonate"}, "", "serviceaccounts"),
		rule(write, "", "pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"),
		rule([]string{"create"}, "", "pods/eviction"),
		rule(write, "", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets", "events"),
		rule([]string{"create"}, "", "serviceaccounts/token"),
		rule(write, "apps", "statefulsets", "statefulsets/scale", "daemonsets", "deployments", "deployments/scale",
			"deployments/rollback", "replicasets", "replicasets/scale"),
		rule(write, "autoscaling", "horizontalpodautoscalers"),
		rule(write, "batch", "jobs", "cronjobs"),
		rule(write, "extensions", "daemonsets", "deployments", "deployments/scale", "deployments/rollback", "ingresses",
			"replicasets", "replicasets/scale", "replicationcontrollers/scale", "networkpolicies"),
		rule(write, "policy", "poddisruptionbudgets"),
		rule(write, "networking.k8s.io", "networkpolicies", "ingresses"),
		rule(readWrite, "coordination.k8s.io", "leases"),
	}
	adminRules = []rbacv1.PolicyRule{
		rule([]string{"create"}, "authorization.k8s.io", "localsubjectaccessreviews"),
		rule(readWrite, "rbac.authorization.k8s.io", "roles", "rolebindings"),
	}
)

func concat(sets ...[]rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}

func aggregated(label string) *rbacv1.AggregationRule {
	return &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{label: "true"}}}}
}

// BootstrapClusterRoles are the cluster roles of a new cluster, as upstream's
// bootstrap policy names them. The aggregated roles (admin, edit, view) carry the
// rules aggregation gives them, so they work before an aggregation controller runs.
func BootstrapClusterRoles() []*rbacv1.ClusterRole {
	return []*rbacv1.ClusterRole{
		{ObjectMeta: bootstrapMeta("cluster-admin"), Rules: []rbacv1.PolicyRule{
			rule([]string{"*"}, "*", "*"), urls([]string{"*"}, "*")}},
		{ObjectMeta: bootstrapMeta("system:discovery"), Rules: []rbacv1.PolicyRule{
			urls([]string{"get"}, "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/")}},
		{ObjectMeta: bootstrapMeta("system:basic-user"), Rules: []rbacv1.PolicyRule{
			rule([]string{"create"}, "authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule([]string{"create"}, "authentication.k8s.io", "selfsubjectreviews")}},
		{ObjectMeta: bootstrapMeta("system:auth-delegator"), Rules: []rbacv1.PolicyRule{
			rule([]string{"create"}, "authentication.k8s.io", "tokenreviews"),
			rule([]string{"create"}, "authorization.k8s.io", "subjectaccessreviews")}},
		{ObjectMeta: bootstrapMeta("system:public-info-viewer"), Rules: []rbacv1.PolicyRule{
			urls([]string{"get"}, "/healthz", "/livez", "/readyz", "/version", "/version/")}},
		{ObjectMeta: bootstrapMeta("system:monitoring"), Rules: []rbacv1.PolicyRule{
			urls([]string{"get"}, "/metrics", "/metrics/slis", "/livez", "/readyz", "/healthz", "/livez/*", "/readyz/*", "/healthz/*")}},
		{ObjectMeta: bootstrapMeta("admin"), AggregationRule: aggregated(aggregateToAdmin),
			Rules: concat(adminRules, editRules, viewRules, metricsReaderRules)},
		{ObjectMeta: bootstrapMeta("edit", aggregateToAdmin), AggregationRule: aggregated(aggregateToEdit),
			Rules: concat(editRules, viewRules, metricsReaderRules)},
		{ObjectMeta: bootstrapMeta("view", aggregateToAdmin, aggregateToEdit), AggregationRule: aggregated(aggregateToView),
			Rules: concat(viewRules, metricsReaderRules)},
		{ObjectMeta: bootstrapMeta("system:aggregate-to-admin", aggregateToAdmin), Rules: adminRules},
		{ObjectMeta: bootstrapMeta("system:aggregate-to-edit", aggregateToAdmin, aggregateToEdit), Rules: editRules},
		{ObjectMeta: bootstrapMeta("system:aggregate-to-view", aggregateToAdmin, aggregateToEdit, aggregateToView), Rules: viewRules},
		// metrics.k8s.io is served by the apiserver itself; this is the role
		// metrics-server installs for it, aggregated into view, edit and admin.
		{ObjectMeta: bootstrapMeta("system:aggregated-metrics-reader", aggregateToAdmin, aggregateToEdit, aggregateToView), Rules: metricsReaderRules},
		// Full access to the kubelet API (nodes/proxy, stats, metrics, logs), as upstream.
		{ObjectMeta: bootstrapMeta("system:kubelet-api-admin"), Rules: []rbacv1.PolicyRule{
			rule(read, "", "nodes"),
			rule([]string{"proxy"}, "", "nodes"),
			rule([]string{"*"}, "", "nodes/proxy", "nodes/metrics", "nodes/stats", "nodes/log")}},
		{ObjectMeta: bootstrapMeta("system:kube-scheduler"), Rules: schedulerRules},
		{ObjectMeta: bootstrapMeta("system:kube-controller-manager"), Rules: controllerManagerRules},
		{ObjectMeta: bootstrapMeta("system:node"), Rules: nodeRules},
		// Node TLS bootstrapping: the csrapproving controller auto-approves a kubelet
		// client request when its requester may create these subresources.
		{ObjectMeta: bootstrapMeta("system:node-bootstrapper"), Rules: []rbacv1.PolicyRule{
			rule([]string{"create", "get", "list", "watch"}, "certificates.k8s.io", "certificatesigningrequests")}},
		{ObjectMeta: bootstrapMeta("system:certificates.k8s.io:certificatesigningrequests:nodeclient"), Rules: []rbacv1.PolicyRule{
			rule([]string{"create"}, "certificates.k8s.io", "certificatesigningrequests/nodeclient")}},
		{ObjectMeta: bootstrapMeta("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"), Rules: []rbacv1.PolicyRule{
			rule([]string{"create"}, "certificates.k8s.io", "certificatesigningrequests/selfnodeclient")}},
	}
}

// Rules of the control-plane components. Upstream's controller manager runs each
// controller under a service account of its own (system:controller:<name> roles);
// skiff's runs them all under system:kube-controller-manager, so that one role holds
// the union: the garbage collector and namespace controller already need every
// resource of every group, custom ones included.
var (
	schedulerRules = []rbacv1.PolicyRule{
		rule([]string{"create", "patch", "update"}, "", "events"),
		rule([]string{"create", "patch", "update"}, "events.k8s.io", "events"),
		rule([]string{"create"}, "coordination.k8s.io", "leases"),
		{Verbs: []string{"get", "update"}, APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{"kube-scheduler"}},
		rule(read, "coordination.k8s.io", "leasecandidates"),
		rule([]string{"create", "update", "patch", "delete"}, "coordination.k8s.io", "leasecandidates"),
		rule(read, "", "nodes", "namespaces", "replicationcontrollers", "services", "persistentvolumeclaims", "persistentvolumes", "configmaps"),
		rule([]string{"get", "list", "watch", "delete"}, "", "pods"),
		rule([]string{"create"}, "", "bindings", "pods/binding"),
		rule([]string{"patch", "update"}, "", "pods/status", "persistentvolumeclaims"),
		rule(read, "apps", "replicasets", "statefulsets"),
		rule(read, "policy", "poddisruptionbudgets"),
		rule(read, "storage.k8s.io", "storageclasses", "csinodes", "csidrivers", "csistoragecapacities", "volumeattachments"),
		rule(read, "resource.k8s.io", "resourceclaims", "resourceslices", "deviceclasses", "resourceclaimtemplates"),
		rule([]string{"patch", "update"}, "resource.k8s.io", "resourceclaims", "resourceclaims/status"),
		rule(read, "scheduling.k8s.io", "priorityclasses", "workloads"),
		rule([]string{"create"}, "authentication.k8s.io", "tokenreviews"),
		rule([]string{"create"}, "authorization.k8s.io", "subjectaccessreviews"),
	}
	controllerManagerRules = []rbacv1.PolicyRule{
		rule(readWrite, "*", "*"),
		rule([]string{"approve", "sign"}, "certificates.k8s.io", "signers"),
		rule([]string{"create"}, "authentication.k8s.io", "tokenreviews"),
		rule([]string{"create"}, "authorization.k8s.io", "subjectaccessreviews"),
	}
	metricsReaderRules = []rbacv1.PolicyRule{
		rule(read, "metrics.k8s.io", "pods", "nodes"),
	}
	nodeRules = []rbacv1.PolicyRule{
		rule(readWrite, "", "nodes"),
		rule([]string{"patch", "update"}, "", "nodes/status"),
		rule([]string{"get", "list", "watch", "create", "delete"}, "", "pods"),
		rule([]string{"patch", "update"}, "", "pods/status"),
		rule([]string{"create"}, "", "pods/eviction", "serviceaccounts/token"),
		rule([]string{"create", "patch", "update"}, "", "events"),
		rule([]string{"create", "patch", "update"}, "events.k8s.io", "events"),
		rule(read, "", "services", "endpoints", "configmaps", "secrets", "persistentvolumeclaims", "persistentvolumes", "namespaces"),
		rule([]string{"patch", "update"}, "", "persistentvolumeclaims/status"),
		rule(readWrite, "coordination.k8s.io", "leases"),
		rule(read, "discovery.k8s.io", "endpointslices"),
		rule([]string{"create", "get", "list", "watch"}, "certificates.k8s.io", "certificatesigningrequests"),
		rule(read, "storage.k8s.io", "csidrivers", "csinodes", "volumeattachments", "storageclasses"),
		rule(readWrite, "storage.k8s.io", "csinodes"),
		rule(read, "node.k8s.io", "runtimeclasses"),
		rule(readWrite, "resource.k8s.io", "resourceslices"),
		rule(read, "resource.k8s.io", "resourceclaims"),
		rule([]string{"create"}, "authentication.k8s.io", "tokenreviews"),
		rule([]string{"create"}, "authorization.k8s.io", "subjectaccessreviews"),
	}
)

func groupBinding(role string, groups ...string) *rbacv1.ClusterRoleBinding {
	return binding(role, rbacv1.GroupKind, groups)
}

func userBinding(role string, users ...string) *rbacv1.ClusterRoleBinding {
	return binding(role, rbacv1.UserKind, users)
}

func binding(role, kind string, names []string) *rbacv1.ClusterRoleBinding {
	b := &rbacv1.ClusterRoleBinding{ObjectMeta: bootstrapMeta(role),
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}}
	for _, n := range names {
		b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: kind, APIGroup: rbacv1.GroupName, Name: n})
	}
	return b
}

// BootstrapClusterRoleBindings bind the bootstrap roles as upstream does.
func BootstrapClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	return []*rbacv1.ClusterRoleBinding{
		groupBinding("cluster-admin", "system:masters"),
		groupBinding("system:discovery", "system:authenticated"),
		groupBinding("system:basic-user", "system:authenticated"),
		groupBinding("system:public-info-viewer", "system:authenticated", "system:unauthenticated"),
		groupBinding("system:monitoring", "system:monitoring"),
		userBinding("system:kube-scheduler", "system:kube-scheduler"),
		userBinding("system:kube-controller-manager", "system:kube-controller-manager"),
		// Upstream leaves this binding empty and lets the Node authorizer admit kubelets;
		// skiff authorizes by RBAC alone, so the group system:nodes holds the role.
		groupBinding("system:node", "system:nodes"),
		// Upstream leaves these unbound; kubeadm and k3s bind them so that bootstrap
		// tokens get a node its first client certificate and nodes renew their own.
		groupBinding("system:node-bootstrapper", "system:bootstrappers"),
		groupBinding("system:certificates.k8s.io:certificatesigningrequests:nodeclient", "system:bootstrappers"),
		groupBinding("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes"),
	}
}

// BootstrapRoles are the namespaced roles upstream creates: aggregated API servers
// bind their service accounts to the reader of the authentication ConfigMap.
func BootstrapRoles() []*rbacv1.Role {
	reader := bootstrapMeta("extension-apiserver-authentication-reader")
	reader.Namespace = metav1.NamespaceSystem
	return []*rbacv1.Role{{ObjectMeta: reader, Rules: []rbacv1.PolicyRule{{
		Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"configmaps"},
		ResourceNames: []string{"extension-apiserver-authentication"}}}}, nodeDNSRoleObject()}
}

func nodeDNSRoleObject() *rbacv1.Role {
	m := bootstrapMeta(nodeDNSRole)
	m.Namespace = metav1.NamespaceSystem
	return &rbacv1.Role{ObjectMeta: m, Rules: []rbacv1.PolicyRule{
		rule([]string{"get", "list", "watch", "create", "update", "patch", "delete"}, "discovery.k8s.io", "endpointslices")}}
}

// nodeDNSRole lets nodes publish their cluster DNS as endpoints of the
// kube-system/kube-dns Service (pkg/dns): upstream has no such role, since
// its DNS runs as pods whose endpoints a controller writes.
const nodeDNSRole = "system:skiff:node-dns"

// BootstrapRoleBindings bind the namespaced bootstrap roles.
func BootstrapRoleBindings() []*rbacv1.RoleBinding {
	m := bootstrapMeta(nodeDNSRole)
	m.Namespace = metav1.NamespaceSystem
	return []*rbacv1.RoleBinding{{ObjectMeta: m,
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: nodeDNSRole},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:nodes"}}}}
}

// EnsureBootstrapPolicy creates each bootstrap cluster role and binding that does not
// exist yet; existing objects are left as the cluster admin made them. It is safe to
// call at every start.
func EnsureBootstrapPolicy(ctx context.Context, client kubernetes.Interface) error {
	roles := client.RbacV1().ClusterRoles()
	for _, r := range BootstrapClusterRoles() {
		if _, err := roles.Create(ctx, r, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create clusterrole %s: %w", r.Name, err)
		}
	}
	for _, r := range BootstrapRoles() {
		if _, err := client.RbacV1().Roles(r.Namespace).Create(ctx, r, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create role %s/%s: %w", r.Namespace, r.Name, err)
		}
	}
	for _, b := range BootstrapRoleBindings() {
		if _, err := client.RbacV1().RoleBindings(b.Namespace).Create(ctx, b, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create rolebinding %s/%s: %w", b.Namespace, b.Name, err)
		}
	}
	bindings := client.RbacV1().ClusterRoleBindings()
	for _, b := range BootstrapClusterRoleBindings() {
		if _, err := bindings.Create(ctx, b, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create clusterrolebinding %s: %w", b.Name, err)
		}
	}
	return nil
}
