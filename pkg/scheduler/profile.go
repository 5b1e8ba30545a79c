package scheduler

import (
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
)

// defaultProfile is upstream's default plugin set, in upstream's filter order and
// with its score weights.
func defaultProfile(client kubernetes.Interface, f informers.SharedInformerFactory) *Profile {
	na := nodeAffinity{}
	tt := taintToleration{}
	fit := nodeResourcesFit{}
	vb := volumeBinding{
		client:  client,
		pvcs:    f.Core().V1().PersistentVolumeClaims().Lister(),
		pvs:     f.Core().V1().PersistentVolumes().Lister(),
		classes: f.Storage().V1().StorageClasses().Lister(),
	}
	spread := &podTopologySpread{
		services:    f.Core().V1().Services().Lister(),
		controllers: f.Core().V1().ReplicationControllers().Lister(),
		replicaSets: f.Apps().V1().ReplicaSets().Lister(),
		statefulSet: f.Apps().V1().StatefulSets().Lister(),
	}
	ipa := interPodAffinity{namespaces: f.Core().V1().Namespaces().Lister()}
	return &Profile{
		PreFilters: []PreFilterPlugin{na, vb, spread, ipa},
		Filters:    []FilterPlugin{nodeUnschedulable{}, nodeName{}, tt, na, nodePorts{}, fit, vb, spread, ipa},
		PreScores:  []PreScorePlugin{spread, ipa},
		Scores: []weightedScorer{
			{tt, 3},
			{na, 2},
			{spread, 2},
			{ipa, 2},
			{fit, 1},
			{balancedAllocation{}, 1},
		},
		PreBinds:   []PreBindPlugin{vb},
		Extensions: []preFilterExtension{spread, ipa},
	}
}
