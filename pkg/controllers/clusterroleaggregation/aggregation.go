// Package clusterroleaggregation is upstream's clusterrole-aggregation controller: a
// ClusterRole with an aggregationRule gets, as its rules, the rules of every other
// ClusterRole its selectors match (so a CRD's author can add to admin, edit and view by
// labelling a role rbac.authorization.k8s.io/aggregate-to-view: "true").
package clusterroleaggregation

import (
	"context"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

const name = "clusterrole-aggregation"

// Start registers the controller.
func Start(ctx context.Context, c *controllers.Context) error {
	inf := c.Informers.Rbac().V1().ClusterRoles()
	ctl := &controller{client: c.Client, lister: inf.Lister(), queue: controllers.NewQueue(name)}
	// Any change may change what an aggregated role should hold: look at them all.
	enqueueAll := func(interface{}) { ctl.enqueueAggregated() }
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueueAll, UpdateFunc: func(_, o interface{}) { enqueueAll(o) }, DeleteFunc: enqueueAll,
	}); err != nil {
		return err
	}
	c.Go(func() { controllers.RunWorkers(ctx, name, ctl.queue, 1, ctl.sync, inf.Informer().HasSynced) })
	return nil
}

type controller struct {
	client kubernetes.Interface
	lister rbaclisters.ClusterRoleLister
	queue  controllers.Queue
}

func (c *controller) enqueueAggregated() {
	roles, err := c.lister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, r := range roles {
		if r.AggregationRule != nil {
			c.queue.Add(r.Name)
		}
	}
}

func (c *controller) sync(ctx context.Context, key string) error {
	role, err := c.lister.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if role.AggregationRule == nil {
		return nil
	}
	rules, err := c.aggregate(role)
	if err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(rules, role.Rules) {
		return nil
	}
	updated := role.DeepCopy()
	updated.Rules = rules
	_, err = c.client.RbacV1().ClusterRoles().Update(ctx, updated, metav1.UpdateOptions{})
	return err
}

// aggregate is the union of the rules of the roles role's selectors match, in the
// order of the roles' names, each rule once.
func (c *controller) aggregate(role *rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	seen := map[string]bool{}
	var matched []*rbacv1.ClusterRole
	for _, sel := range role.AggregationRule.ClusterRoleSelectors {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			return nil, nil // an invalid selector matches nothing; validation refuses them
		}
		roles, err := c.lister.List(s)
		if err != nil {
			return nil, err
		}
		for _, r := range roles {
			if r.Name != role.Name && !seen[r.Name] {
				seen[r.Name] = true
				matched = append(matched, r)
			}
		}
	}
	sort.Slice(matched, func(i, j int) bool { return matched[i].Name < matched[j].Name })
	var rules []rbacv1.PolicyRule
	for _, r := range matched {
		for _, rule := range r.Rules {
			if !containsRule(rules, rule) {
				rules = append(rules, rule)
			}
		}
	}
	if rules == nil {
		rules = []rbacv1.PolicyRule{}
	}
	return rules, nil
}

func containsRule(rules []rbacv1.PolicyRule, rule rbacv1.PolicyRule) bool {
	for _, r := range rules {
		if equality.Semantic.DeepEqual(r, rule) {
			return true
		}
	}
	return false
}
