package scheduler

// defaultProfile is upstream's default plugin set, in upstream's filter order and
// with its score weights.
func defaultProfile() *Profile {
	na := nodeAffinity{}
	tt := taintToleration{}
	fit := nodeResourcesFit{}
	return &Profile{
		PreFilters: []PreFilterPlugin{na},
		Filters:    []FilterPlugin{nodeUnschedulable{}, nodeName{}, tt, na, nodePorts{}, fit},
		Scores: []weightedScorer{
			{tt, 3},
			{na, 2},
			{fit, 1},
			{balancedAllocation{}, 1},
		},
	}
}
