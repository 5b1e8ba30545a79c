package kubelet

import (
	"testing"
	"time"
)

func TestPullBackoff(t *testing.T) {
	w := newWorker()
	now := time.Now()
	if left := w.pullBackoffLeft("img", now); left != 0 {
		t.Fatalf("no failure yet: %s", left)
	}
	// 10 s, doubling to the 300 s cap, each from the failure's time.
	want := []time.Duration{10, 20, 40, 80, 160, 300, 300}
	for i, d := range want {
		w.pullFailed("img", "ErrImagePull: nope", now)
		if left := w.pullBackoffLeft("img", now); left != d*time.Second {
			t.Errorf("failure %d: back-off %s, want %ds", i+1, left, d)
		}
		if left := w.pullBackoffLeft("img", now.Add(d*time.Second)); left != 0 {
			t.Errorf("failure %d: still in back-off after it", i+1)
		}
		now = now.Add(d * time.Second)
	}
	if w.pullBackoffLeft("other", now) != 0 {
		t.Error("back-off is per image")
	}
	// Quiet for more than twice the cap: back to 10 s.
	now = now.Add(11 * time.Minute)
	w.pullFailed("img", "ErrImagePull: nope", now)
	if left := w.pullBackoffLeft("img", now); left != 10*time.Second {
		t.Errorf("after a quiet spell: %s", left)
	}
}
