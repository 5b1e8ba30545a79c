// Package eviction is the kubelet's eviction manager, as upstream's: every
// MonitoringPeriod it observes the node's memory and filesystems against
// hard eviction thresholds (DefaultHard: upstream's memory.available<100Mi
// and inodesFree<5%, k3s' nodefs.available<5% and imagefs.available<5%),
// reports MemoryPressure and DiskPressure (held for
// PressureTransitionPeriod after the signal clears), reclaims unused images
// under disk pressure, and otherwise evicts one pod at a time: first those
// whose usage exceeds their requests, then by priority, then by usage above
// requests (so BestEffort pods go first, Guaranteed ones last). Under
// pressure it also rejects new pods as upstream's admission does.
//
//	m := eviction.NewManager(eviction.Config{Thresholds: eviction.DefaultThresholds(), …})
//	go m.Run(ctx)
package eviction

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Signal is an eviction signal, as upstream spells it.
type Signal string

// The signals observed.
const (
	SignalMemoryAvailable   Signal = "memory.available"
	SignalNodeFsAvailable   Signal = "nodefs.available"
	SignalNodeFsInodesFree  Signal = "nodefs.inodesFree"
	SignalImageFsAvailable  Signal = "imagefs.available"
	SignalImageFsInodesFree Signal = "imagefs.inodesFree"
)

// Threshold is a hard eviction threshold: the signal below Quantity, or
// below Percentage of the resource's capacity.
type Threshold struct {
	Signal     Signal
	Quantity   *resource.Quantity
	Percentage float64 // 0 < p <= 1 when Quantity is nil
}

func (t Threshold) String() string {
	if t.Quantity != nil {
		return string(t.Signal) + "<" + t.Quantity.String()
	}
	return string(t.Signal) + "<" + strconv.FormatFloat(t.Percentage*100, 'g', -1, 64) + "%"
}

// value is the threshold in the signal's unit for a resource of capacity.
func (t Threshold) value(capacity int64) int64 {
	if t.Quantity != nil {
		return t.Quantity.Value()
	}
	return int64(t.Percentage * float64(capacity))
}

// UpstreamHard is upstream kubelet's default --eviction-hard on Linux.
const UpstreamHard = "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%"

// DefaultHard is skiff's default: k3s' (which passes the kubelet
// nodefs.available<5% and imagefs.available<5%, since on a single-disk
// edge machine the image filesystem is the root filesystem and upstream's
// 15% would hold most machines under DiskPressure) with upstream's memory
// and inode thresholds.
const DefaultHard = "memory.available<100Mi,nodefs.available<5%,nodefs.inodesFree<5%,imagefs.available<5%,imagefs.inodesFree<5%"

// DefaultThresholds are DefaultHard's.
func DefaultThresholds() []Threshold {
	t, err := ParseThresholds(DefaultHard)
	if err != nil {
		panic(err)
	}
	return t
}

// ParseThresholds parses --eviction-hard ("memory.available<100Mi,nodefs.available<10%"),
// with upstream's errors.
func ParseThresholds(s string) ([]Threshold, error) {
	var out []Threshold
	seen := map[Signal]bool{}
	for _, expr := range strings.Split(s, ",") {
		expr = strings.TrimSpace(expr)
		if expr == "" {
			continue
		}
		name, value, ok := strings.Cut(expr, "<")
		if !ok {
			return nil, fmt.Errorf("invalid eviction threshold syntax %v, expected <signal><operator><value>", expr)
		}
		sig := Signal(name)
		switch sig {
		case SignalMemoryAvailable, SignalNodeFsAvailable, SignalNodeFsInodesFree, SignalImageFsAvailable, SignalImageFsInodesFree:
		default:
			return nil, fmt.Errorf("unsupported eviction signal %v", name)
		}
		if seen[sig] {
			return nil, fmt.Errorf("found duplicate eviction threshold for signal %v", name)
		}
		seen[sig] = true
		t := Threshold{Signal: sig}
		if p, isPct := strings.CutSuffix(value, "%"); isPct {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return nil, fmt.Errorf("invalid percentage %q for eviction signal %v: %w", value, name, err)
			}
			if f <= 0 || f > 100 {
				return nil, fmt.Errorf("eviction percentage threshold %v must be positive and not more than 100%%: %s", name, value)
			}
			t.Percentage = f / 100
		} else {
			q, err := resource.ParseQuantity(value)
			if err != nil {
				return nil, fmt.Errorf("invalid quantity %q for eviction signal %v: %w", value, name, err)
			}
			if q.Sign() < 0 {
				return nil, fmt.Errorf("eviction threshold %v cannot be negative: %s", name, q.String())
			}
			t.Quantity = &q
		}
		out = append(out, t)
	}
	return out, nil
}
