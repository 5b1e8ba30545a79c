package eviction

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestParseThresholds(t *testing.T) {
	th := DefaultThresholds()
	var got []string
	for _, x := range th {
		got = append(got, x.String())
	}
	if strings.Join(got, ",") != DefaultHard {
		t.Errorf("defaults: %s", strings.Join(got, ","))
	}
	if v := th[0].value(1 << 40); v != 100<<20 {
		t.Errorf("memory threshold %d", v)
	}
	if v := th[1].value(1000); v != 50 {
		t.Errorf("nodefs threshold %d", v)
	}
	for in, want := range map[string]string{
		"memory.available":                         "invalid eviction threshold syntax memory.available, expected <signal><operator><value>",
		"cpu.available<1":                          "unsupported eviction signal cpu.available",
		"nodefs.available<10%,nodefs.available<5%": "found duplicate eviction threshold for signal nodefs.available",
		"nodefs.available<0%":                      "eviction percentage threshold nodefs.available must be positive and not more than 100%: 0%",
		"memory.available<lots":                    `invalid quantity "lots" for eviction signal memory.available`,
		"memory.available<-1Mi":                    "eviction threshold memory.available cannot be negative: -1Mi",
	} {
		if _, err := ParseThresholds(in); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %v, want %s", in, err, want)
		}
	}
}

func pod(name string, prio int32, memRequest string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Priority: ptr.To(prio), Containers: []corev1.Container{{Name: "c"}}}}
	if memRequest != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memRequest)}
	}
	return p
}

func TestSynchronize(t *testing.T) {
	ctx := context.Background()
	const mi = 1 << 20
	obs := Observations{
		SignalMemoryAvailable:  {Available: 500 * mi, Capacity: 4096 * mi},
		SignalNodeFsAvailable:  {Available: 500, Capacity: 1000},
		SignalImageFsAvailable: {Available: 500, Capacity: 1000},
	}
	now := time.Unix(1000, 0)
	besteffort := pod("besteffort", 0, "")
	withinRequest := pod("within-request", 0, "200Mi")
	overRequest := pod("over-request", 0, "10Mi")
	important := pod("important", 1000, "")
	pods := []*corev1.Pod{withinRequest, important, overRequest, besteffort}
	usage := map[string]int64{"besteffort": 20 * mi, "within-request": 100 * mi, "over-request": 50 * mi, "important": 300 * mi}
	var evicted []string
	var messages []string
	changes := 0
	freeable := int64(0)
	m := NewManager(Config{
		Thresholds: DefaultThresholds(),
		Observe:    func(context.Context) (Observations, error) { return obs, nil },
		ActivePods: func() []*corev1.Pod {
			var out []*corev1.Pod
			for _, p := range pods {
				gone := false
				for _, e := range evicted {
					gone = gone || e == p.Name
				}
				if !gone {
					out = append(out, p)
				}
			}
			return out
		},
		PodStats: func(_ context.Context, p *corev1.Pod) (PodStats, bool) {
			u := usage[p.Name]
			return PodStats{Memory: u, Disk: u, ContainerMemory: map[string]int64{"c": u}, ContainerDisk: map[string]int64{"c": u}}, true
		},
		Evict: func(p *corev1.Pod, msg string) {
			evicted = append(evicted, p.Name)
			messages = append(messages, msg)
		},
		ReclaimImages: func(context.Context) (int64, error) {
			f := freeable
			obs[SignalImageFsAvailable] = Observation{Available: obs[SignalImageFsAvailable].Available + f, Capacity: 1000}
			freeable = 0
			return f, nil
		},
		OnPressureChange: func() { changes++ },
		Now:              func() time.Time { return now },
	})
	up, err := ParseThresholds(UpstreamHard)
	if err != nil || len(up) != 5 {
		t.Fatalf("upstream's defaults: %v", err)
	}
	if p, err := m.Synchronize(ctx); p != nil || err != nil || changes != 0 {
		t.Fatalf("no pressure: %v %v %d", p, err, changes)
	}
	// Memory low: one pod per round, pods over their requests first (lower
	// priority first among them, then the most above its request).
	obs[SignalMemoryAvailable] = Observation{Available: 60 * mi, Capacity: 4096 * mi}
	for i := 0; i < 4; i++ {
		if _, err := m.Synchronize(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(evicted, ",") != "over-request,besteffort,important,within-request" {
		t.Errorf("eviction order %v", evicted)
	}
	if want := "The node was low on resource: memory. Threshold quantity: 100Mi, available: 60Mi. Container c was using 50Mi, request is 10Mi, has larger consumption of memory. "; messages[0] != want {
		t.Errorf("message %q\nwant %q", messages[0], want)
	}
	if memory, disk := m.Pressure(); !memory || disk || changes != 1 {
		t.Errorf("pressure %v %v, %d changes", memory, disk, changes)
	}
	if ok, msg := m.Admit(pod("new", 0, ""), true); ok || msg != "The node had condition: [MemoryPressure]. " {
		t.Errorf("BestEffort admitted under memory pressure: %v %q", ok, msg)
	}
	if ok, _ := m.Admit(pod("new", 0, "1Mi"), false); !ok {
		t.Error("Burstable rejected under memory pressure")
	}
	// The condition holds for the transition period after the signal clears.
	obs[SignalMemoryAvailable] = Observation{Available: 500 * mi, Capacity: 4096 * mi}
	now = now.Add(4 * time.Minute)
	m.Synchronize(ctx)
	if memory, _ := m.Pressure(); !memory {
		t.Error("memory pressure cleared before the transition period")
	}
	now = now.Add(2 * time.Minute)
	m.Synchronize(ctx)
	if memory, _ := m.Pressure(); memory || changes != 2 {
		t.Errorf("memory pressure after the transition period: %v, %d changes", memory, changes)
	}

	// Disk: images are reclaimed first; enough freed means no eviction.
	evicted, pods = nil, []*corev1.Pod{besteffort}
	obs[SignalImageFsAvailable] = Observation{Available: 30, Capacity: 1000}
	freeable = 100
	if p, err := m.Synchronize(ctx); p != nil || err != nil {
		t.Fatalf("reclaimed images: evicted %v %v", p, err)
	}
	if _, disk := m.Pressure(); !disk {
		t.Error("no disk pressure")
	}
	if ok, msg := m.Admit(pod("new", 0, "1Mi"), false); ok || msg != "The node had condition: [DiskPressure]. " {
		t.Errorf("admitted under disk pressure: %v %q", ok, msg)
	}
	if ok, _ := m.Admit(pod("critical", 2000001000, ""), true); !ok {
		t.Error("critical pod rejected")
	}
	obs[SignalImageFsAvailable] = Observation{Available: 30, Capacity: 1000}
	p, _ := m.Synchronize(ctx)
	if p == nil || p.Name != "besteffort" || !strings.HasPrefix(messages[len(messages)-1], "The node was low on resource: ephemeral-storage. Threshold quantity: 50, available: 30. ") {
		t.Errorf("disk eviction: %v %q", p, messages[len(messages)-1])
	}
}
