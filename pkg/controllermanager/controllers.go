package controllermanager

import (
	"context"

	"github.com/skiff-k8s/skiff/pkg/controllers"
	"github.com/skiff-k8s/skiff/pkg/controllers/certificates/approver"
	"github.com/skiff-k8s/skiff/pkg/controllers/certificates/cleaner"
	"github.com/skiff-k8s/skiff/pkg/controllers/certificates/signer"
	"github.com/skiff-k8s/skiff/pkg/controllers/clusterroleaggregation"
	"github.com/skiff-k8s/skiff/pkg/controllers/cronjob"
	"github.com/skiff-k8s/skiff/pkg/controllers/daemonset"
	"github.com/skiff-k8s/skiff/pkg/controllers/deployment"
	"github.com/skiff-k8s/skiff/pkg/controllers/disruption"
	"github.com/skiff-k8s/skiff/pkg/controllers/endpoint"
	"github.com/skiff-k8s/skiff/pkg/controllers/endpointslice"
	"github.com/skiff-k8s/skiff/pkg/controllers/endpointslicemirroring"
	"github.com/skiff-k8s/skiff/pkg/controllers/garbagecollector"
	"github.com/skiff-k8s/skiff/pkg/controllers/job"
	"github.com/skiff-k8s/skiff/pkg/controllers/namespace"
	"github.com/skiff-k8s/skiff/pkg/controllers/nodeipam"
	"github.com/skiff-k8s/skiff/pkg/controllers/nodelifecycle"
	"github.com/skiff-k8s/skiff/pkg/controllers/nodelifecycle/tainteviction"
	"github.com/skiff-k8s/skiff/pkg/controllers/podgc"
	"github.com/skiff-k8s/skiff/pkg/controllers/replicaset"
	"github.com/skiff-k8s/skiff/pkg/controllers/resourcequota"
	"github.com/skiff-k8s/skiff/pkg/controllers/rootcacertpublisher"
	"github.com/skiff-k8s/skiff/pkg/controllers/serviceaccount"
	"github.com/skiff-k8s/skiff/pkg/controllers/servicelb"
	"github.com/skiff-k8s/skiff/pkg/controllers/statefulset"
	"github.com/skiff-k8s/skiff/pkg/controllers/ttlafterfinished"
	"github.com/skiff-k8s/skiff/pkg/controllers/volume/localpath"
	"github.com/skiff-k8s/skiff/pkg/controllers/volume/persistentvolume"
)

// controller is one entry of the manager: its upstream name and its Start.
type controller struct {
	name  string
	start func(ctx context.Context, c *controllers.Context) error
}

// all are the controllers the manager runs, by upstream's names. Each package's
// Start registers its informers and launches its workers (see pkg/controllers).
var all = []controller{
	{"endpoint", endpoint.Start},
	{"endpointslice", endpointslice.Start},
	{"endpointslicemirroring", endpointslicemirroring.Start},
	{"serviceaccount", serviceaccount.Start},
	{"root-ca-cert-publisher", rootcacertpublisher.Start},
	{"csrapproving", approver.Start},
	{"csrsigning", signer.Start},
	{"csrcleaner", cleaner.Start},
	{"garbagecollector", garbagecollector.Start},
	{"namespace", namespace.Start},
	{"job", job.Start},
	{"cronjob", cronjob.Start},
	{"ttl-after-finished", ttlafterfinished.Start},
	{"podgc", podgc.Start},
	{"nodeipam", nodeipam.Start},
	{"nodelifecycle", nodelifecycle.Start},
	{"taint-eviction-controller", tainteviction.Start},
	{"persistentvolume-binder", persistentvolume.Start},
	// k3s's name for its built-in local-path provisioner (--disable local-storage).
	{"local-storage", localpath.Start},
	{"deployment", deployment.Start},
	{"replicaset", replicaset.Start},
	{"replicationcontroller", replicaset.StartReplicationController},
	{"statefulset", statefulset.Start},
	{"daemonset", daemonset.Start},
	{"resourcequota", resourcequota.Start},
	{"disruption", disruption.Start},
	{"clusterrole-aggregation", clusterroleaggregation.Start},
	// k3s' name for its service load balancer (--disable servicelb).
	{"servicelb", servicelb.Start},
}
