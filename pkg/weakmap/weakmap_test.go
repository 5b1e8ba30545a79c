package weakmap

import (
	"runtime"
	"testing"
	"time"
)

type value struct{ n int }

func TestUpdateKeepsLiveValueAndForgetsCollected(t *testing.T) {
	m := New[string, value]()
	a := &value{1}
	if held := m.Update("k", func(held *value) *value {
		if held != nil {
			t.Errorf("fresh key holds %v", held)
		}
		return a
	}); held != nil {
		t.Fatalf("Update returned %v for a fresh key", held)
	}
	// The live value is handed to fn and returned; returning it again stores nothing new.
	if held := m.Update("k", func(held *value) *value { return held }); held != a {
		t.Fatalf("held %p, want %p", held, a)
	}
	b := &value{2}
	if held := m.Update("k", func(*value) *value { return b }); held != a {
		t.Fatalf("held %p before replacing, want %p", held, a)
	}
	// a is collected; its cleanup must not drop b, which took its place.
	a = nil
	for range 5 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if held := m.Update("k", func(held *value) *value { return held }); held != b || m.Len() != 1 {
		t.Fatalf("after the old value was collected: held %v, len %d; want b, 1", held, m.Len())
	}
	runtime.KeepAlive(b)

	// Values nobody keeps leave the map.
	for i := range 100 {
		m.Update(string(rune('A'+i)), func(*value) *value { return &value{i} })
	}
	b = nil
	deadline := time.Now().Add(10 * time.Second)
	for m.Len() > 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := m.Len(); n != 0 {
		t.Errorf("map still holds %d entries after their values were collected", n)
	}
}
