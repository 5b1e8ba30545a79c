package server

import (
	"testing"
	"time"
)

// A small heap collects at 3x its size; a larger one may gather a quarter of
// its size in garbage, and never less than minHeadroom.
func TestGCPercent(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{10 * mb, 200},
		{64 * mb, 200},
		{65 * mb, 73},
		{96 * mb, 50},
		{150 * mb, 32},
		{192 * mb, 25},
		{400 * mb, 25},
		{4000 * mb, 25},
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d MB) = %d, want %d", c.live/mb, got, c.want)
		}
	}
}

// A small heap is trimmed every 10 s, a large one every minute.
func TestTrimInterval(t *testing.T) {
	const mb = 1 << 20
	for live, want := range map[uint64]time.Duration{0: 10 * time.Second, 55 * mb: 10 * time.Second, 128 * mb: 10 * time.Second, 129 * mb: time.Minute, 900 * mb: time.Minute} {
		if got := trimInterval(live); got != want {
			t.Errorf("trimInterval(%d MB) = %v, want %v", live/mb, got, want)
		}
	}
}
