package job

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

const (
	// completionIndexEnvName is the variable every container of an Indexed job's
	// pod gets, from the pod's completion index label.
	completionIndexEnvName = "JOB_COMPLETION_INDEX"
	unknownCompletionIndex = -1
)

// interval is a closed range of completion indexes.
type interval struct{ First, Last int }

// orderedIntervals are disjoint, non-adjacent intervals in increasing order: the
// form of status.completedIndexes and status.failedIndexes ("0-2,5").
type orderedIntervals []interval

// withOrderedIndexes returns oi with the increasing indexes added.
func (oi orderedIntervals) withOrderedIndexes(indexes []int) orderedIntervals {
	add := make(orderedIntervals, len(indexes))
	for i, ix := range indexes {
		add[i] = interval{ix, ix}
	}
	return oi.merge(add)
}

// merge returns the union of two ordered lists.
func (oi orderedIntervals) merge(other orderedIntervals) orderedIntervals {
	var out orderedIntervals
	push := func(iv interval) {
		if n := len(out); n == 0 || iv.First > out[n-1].Last+1 {
			out = append(out, iv)
		} else if out[n-1].Last < iv.Last {
			out[n-1].Last = iv.Last
		}
	}
	i, j := 0, 0
	for i < len(oi) && j < len(other) {
		if oi[i].First < other[j].First {
			push(oi[i])
			i++
		} else {
			push(other[j])
			j++
		}
	}
	for ; i < len(oi); i++ {
		push(oi[i])
	}
	for ; j < len(other); j++ {
		push(other[j])
	}
	return out
}

func (oi orderedIntervals) total() int {
	n := 0
	for _, iv := range oi {
		n += iv.Last - iv.First + 1
	}
	return n
}

// String writes "0-2,4,6,7": a pair of neighbours is listed, not ranged, as upstream.
func (oi orderedIntervals) String() string {
	var b strings.Builder
	for _, iv := range oi {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(iv.First))
		switch {
		case iv.Last == iv.First+1:
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(iv.Last))
		case iv.Last > iv.First:
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(iv.Last))
		}
	}
	return b.String()
}

func (oi orderedIntervals) has(ix int) bool {
	i := sort.Search(len(oi), func(i int) bool { return oi[i].Last >= ix })
	return i < len(oi) && oi[i].First <= ix
}

// parseIndexes reads an index list, dropping indexes at or past completions and
// skipping corrupted parts.
func parseIndexes(s string, completions int) orderedIntervals {
	if s == "" {
		return nil
	}
	var out orderedIntervals
	for _, part := range strings.Split(s, ",") {
		limits := strings.Split(part, "-")
		first, err := strconv.Atoi(limits[0])
		if err != nil {
			continue
		}
		if first >= completions {
			break
		}
		last := first
		if len(limits) > 1 {
			if last, err = strconv.Atoi(limits[1]); err != nil {
				continue
			}
			if last >= completions {
				last = completions - 1
			}
		}
		if n := len(out); n > 0 && out[n-1].Last == first-1 {
			out[n-1].Last = last
		} else {
			out = append(out, interval{first, last})
		}
	}
	return out
}

// completionIndex reads a pod's completion index annotation.
func completionIndex(annotations map[string]string) int {
	v, ok := annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return unknownCompletionIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return unknownCompletionIndex
	}
	return i
}

// validIndex reports whether a pod has a completion index within completions.
func validIndex(p *corev1.Pod, completions int32) (int, bool) {
	ix := completionIndex(p.Annotations)
	return ix, ix != unknownCompletionIndex && ix < int(completions)
}

// succeededIndexes returns the indexes in status.completedIndexes, and those plus
// the indexes of succeeded pods not yet counted.
func succeededIndexes(job *batchv1.Job, pods []*corev1.Pod) (prev, cur orderedIntervals) {
	prev = parseIndexes(job.Status.CompletedIndexes, int(*job.Spec.Completions))
	fresh := sets.New[int]()
	for _, p := range pods {
		if ix, ok := validIndex(p, *job.Spec.Completions); ok && p.Status.Phase == corev1.PodSucceeded && hasTrackingFinalizer(p) {
			fresh.Insert(ix)
		}
	}
	return prev, prev.withOrderedIndexes(sets.List(fresh))
}

// failedIndexes returns status.failedIndexes plus the indexes that failed for good
// since (backoffLimitPerIndex).
func failedIndexes(job *batchv1.Job, pods []*corev1.Pod) *orderedIntervals {
	var prev orderedIntervals
	if job.Status.FailedIndexes != nil {
		prev = parseIndexes(*job.Status.FailedIndexes, int(*job.Spec.Completions))
	}
	fresh := sets.New[int]()
	for _, p := range pods {
		if ix, ok := validIndex(p, *job.Spec.Completions); ok && hasTrackingFinalizer(p) && isIndexFailed(job, p) {
			fresh.Insert(ix)
		}
	}
	out := prev.withOrderedIndexes(sets.List(fresh))
	return &out
}

// isIndexFailed: the pod's index fails when a FailIndex rule matches it, or when
// its counted failure exhausts backoffLimitPerIndex.
func isIndexFailed(job *batchv1.Job, pod *corev1.Pod) bool {
	if !isPodFailed(pod, job) {
		return false
	}
	counted := true
	if job.Spec.PodFailurePolicy != nil {
		m := matchPodFailurePolicy(job.Spec.PodFailurePolicy, pod)
		if m.action != nil && *m.action == batchv1.PodFailurePolicyActionFailIndex {
			return true
		}
		counted = m.countFailed
	}
	return counted && indexFailureCount(pod) >= *job.Spec.BackoffLimitPerIndex
}

// firstPendingIndexes returns up to count indexes below completions that no active
// pod holds and that have neither succeeded nor failed (nor, when only failed pods
// are replaced, have a terminating pod).
func firstPendingIndexes(jc *syncContext, count, completions int) []int {
	if count == 0 {
		return nil
	}
	nonPending := jc.succeededIndexes.withOrderedIndexes(sets.List(podIndexes(jc.activePods)))
	if onlyReplaceFailedPods(jc.job) {
		var terminating []*corev1.Pod
		for _, p := range jc.pods {
			if isTerminating(p) {
				terminating = append(terminating, p)
			}
		}
		nonPending = nonPending.withOrderedIndexes(sets.List(podIndexes(terminating)))
	}
	if jc.failedIndexes != nil {
		nonPending = nonPending.merge(*jc.failedIndexes)
	}
	out := make([]int, 0, count)
	candidate := 0
	for _, iv := range nonPending {
		for ; candidate < completions && len(out) < count && candidate < iv.First; candidate++ {
			out = append(out, candidate)
		}
		if candidate < iv.Last+1 {
			candidate = iv.Last + 1
		}
	}
	for ; candidate < completions && len(out) < count; candidate++ {
		out = append(out, candidate)
	}
	return out
}

func podIndexes(pods []*corev1.Pod) sets.Set[int] {
	out := sets.New[int]()
	for _, p := range pods {
		if ix := completionIndex(p.Annotations); ix != unknownCompletionIndex {
			out.Insert(ix)
		}
	}
	return out
}

// duplicatedIndexPodsForRemoval splits active pods into those to remove (no index,
// an index out of range, or all but one of each repeated index) and the rest.
func duplicatedIndexPodsForRemoval(pods []*corev1.Pod, completions int) (rm, left []*corev1.Pod) {
	sorted := append([]*corev1.Pod(nil), pods...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return completionIndex(sorted[i].Annotations) < completionIndex(sorted[j].Annotations)
	})
	for start := 0; start < len(sorted); {
		ix := completionIndex(sorted[start].Annotations)
		end := start + 1
		for end < len(sorted) && completionIndex(sorted[end].Annotations) == ix {
			end++
		}
		group := sorted[start:end]
		switch {
		case ix == unknownCompletionIndex || ix >= completions:
			rm = append(rm, group...)
		case len(group) == 1:
			left = append(left, group[0])
		default:
			g := append([]*corev1.Pod(nil), group...)
			controllers.SortPodsForDeletion(g)
			rm = append(rm, g[:len(g)-1]...)
			left = append(left, g[len(g)-1])
		}
		start = end
	}
	return rm, left
}

// podsWithDelayedDeletionPerIndex returns, per index that has no active pod and has
// neither succeeded nor failed, its latest failed pod: that pod keeps its finalizer
// until its replacement exists, for the replacement to inherit its failure count.
func podsWithDelayedDeletionPerIndex(jc *syncContext) map[int]*corev1.Pod {
	active := podIndexes(jc.activePods)
	out := map[int]*corev1.Pod{}
	for _, p := range jc.validPods(nil) {
		if !isPodFailed(p, jc.job) {
			continue
		}
		ix := completionIndex(p.Annotations)
		if jc.succeededIndexes.has(ix) || (jc.failedIndexes != nil && jc.failedIndexes.has(ix)) || active.Has(ix) {
			continue
		}
		if last, ok := out[ix]; ok {
			if indexAbsoluteFailureCount(last) <= indexAbsoluteFailureCount(p) && !finishedTime(p).Before(finishedTime(last)) {
				out[ix] = p
			}
		} else {
			out[ix] = p
		}
	}
	return out
}

// addIndexFailureCountAnnotation carries the failure counts of the pod being
// replaced, plus its own failure, to its replacement.
func addIndexFailureCountAnnotation(t *corev1.PodTemplateSpec, job *batchv1.Job, replaced *corev1.Pod) {
	var failures, ignored int32
	if replaced != nil {
		failures, ignored = annotationInt32(replaced, batchv1.JobIndexFailureCountAnnotation), annotationInt32(replaced, batchv1.JobIndexIgnoredFailureCountAnnotation)
		if matchPodFailurePolicy(job.Spec.PodFailurePolicy, replaced).countFailed {
			failures++
		} else {
			ignored++
		}
	}
	t.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(failures))
	if ignored > 0 {
		t.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(ignored))
	}
}

func indexFailureCount(p *corev1.Pod) int32 {
	return annotationInt32(p, batchv1.JobIndexFailureCountAnnotation)
}

func indexAbsoluteFailureCount(p *corev1.Pod) int32 {
	return indexFailureCount(p) + annotationInt32(p, batchv1.JobIndexIgnoredFailureCountAnnotation)
}

// annotationInt32 reads a count annotation; a missing, garbled or out-of-range value
// (a user may have edited it) reads as 0.
func annotationInt32(p *corev1.Pod, key string) int32 {
	v, ok := p.Annotations[key]
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return 0
	}
	return int32(n)
}

// addCompletionIndexEnv gives every container JOB_COMPLETION_INDEX from the pod's
// completion index label.
func addCompletionIndexEnv(t *corev1.PodTemplateSpec) {
	add := func(c *corev1.Container) {
		for _, e := range c.Env {
			if e.Name == completionIndexEnvName {
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: completionIndexEnvName, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation)},
		}})
	}
	for i := range t.Spec.InitContainers {
		add(&t.Spec.InitContainers[i])
	}
	for i := range t.Spec.Containers {
		add(&t.Spec.Containers[i])
	}
}

// setCompletionIndex marks a pod template with its index, as annotation and label.
func setCompletionIndex(t *corev1.PodTemplateSpec, index int) {
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Annotations[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(index)
	t.Labels[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(index)
}

// generateNameWithIndex is "<job>-<index>-", the job name cut so the whole stays
// within the generated-name limit.
func generateNameWithIndex(jobName string, index int) string {
	suffix := "-" + strconv.Itoa(index) + "-"
	prefix := jobName + suffix
	if len(prefix) > names.MaxGeneratedNameLength {
		prefix = prefix[:names.MaxGeneratedNameLength-len(suffix)] + suffix
	}
	return prefix
}
