package network

import (
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

func TestStateAndList(t *testing.T) {
	dir := t.TempDir()
	m := &Manager{cfg: Config{StateDir: filepath.Join(dir, "pods"), NetnsDir: filepath.Join(dir, "netns")}}
	for _, d := range []string{m.cfg.StateDir, m.cfg.NetnsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := m.readState("a"); s != nil || err != nil {
		t.Fatalf("readState of nothing: %v %v", s, err)
	}
	want := &podState{UID: "a", Namespace: "ns", Name: "web", NetnsPath: "/x/skiff-a",
		PortMappings: []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "TCP"}},
		Chain:        &chain{Portmap: true},
		IPs:          []string{"10.42.0.2"}, Gateway: "10.42.0.1"}
	if err := m.writeState(want); err != nil {
		t.Fatal(err)
	}
	got, err := m.readState("a")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("readState: %+v %v", got, err)
	}
	if pn := got.podNetwork(); pn.IPs[0].String() != "10.42.0.2" || pn.Gateway.String() != "10.42.0.1" {
		t.Errorf("podNetwork: %+v", pn)
	}
	// a namespace without a record (another agent's), other runtimes'
	// namespaces and a temporary file are not listed.
	for _, f := range []string{filepath.Join(m.cfg.NetnsDir, "skiff-b"), filepath.Join(m.cfg.NetnsDir, "cni-1234"),
		filepath.Join(m.cfg.StateDir, ".a-123")} {
		os.WriteFile(f, nil, 0o600)
	}
	uids, err := m.List()
	if err != nil || !reflect.DeepEqual(uids, []string{"a"}) {
		t.Errorf("List: %v %v", uids, err)
	}
	if err := m.removeState("a"); err != nil {
		t.Fatal(err)
	}
	if err := m.removeState("a"); err != nil {
		t.Errorf("second removeState: %v", err)
	}
}

func TestKeyedMutex(t *testing.T) {
	var k keyedMutex
	var wg sync.WaitGroup
	var a, b int
	counts := map[string]*int{"a": &a, "b": &b} // read-only map
	for i := 0; i < 50; i++ {
		for _, key := range []string{"a", "b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				unlock := k.lock(key)
				*counts[key]++ // guarded by the per-key lock only
				unlock()
			}()
		}
	}
	wg.Wait()
	if a != 50 || b != 50 || len(k.locks) != 0 {
		t.Errorf("counts %d %d, %d locks left", a, b, len(k.locks))
	}
}
