package server

import "testing"

// A small heap keeps Go's default; a large one may gather half its size in garbage,
// and never less than minHeadroom.
func TestGCPercent(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{50 * mb, 100},
		{96 * mb, 100},
		{150 * mb, 64},
		{192 * mb, 50},
		{400 * mb, 50},
		{4000 * mb, 50},
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d MB) = %d, want %d", c.live/mb, got, c.want)
		}
	}
}
