package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// podState is what the manager records per pod: the request (so teardown
// passes the plugins the port mappings and bandwidth they set up, which
// portmap needs to find its rules) and the result (so a restarted agent
// reports the pod's IP without running CNI ADD again).
type podState struct {
	UID          string        `json:"uid"`
	Namespace    string        `json:"namespace"`
	Name         string        `json:"name"`
	NetnsPath    string        `json:"netnsPath"`
	PortMappings []PortMapping `json:"portMappings,omitempty"`
	Bandwidth    *Bandwidth    `json:"bandwidth,omitempty"`
	// Chain is the plugins the pod was set up with, so it is torn down
	// with the same ones; nil for pods set up before it was recorded
	// (legacyChain).
	Chain *chain `json:"chain,omitempty"`
	// IPs and Gateway are empty until CNI ADD has succeeded.
	IPs     []string `json:"ips,omitempty"`
	Gateway string   `json:"gateway,omitempty"`
}

const stateSuffix = ".json"

func (m *Manager) statePath(uid string) string {
	return filepath.Join(m.cfg.StateDir, uid+stateSuffix)
}

// readState returns the recorded state of uid, or nil when there is none.
func (m *Manager) readState(uid string) (*podState, error) {
	b, err := os.ReadFile(m.statePath(uid))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pod network state: %w", err)
	}
	var s podState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode pod network state %s: %w", m.statePath(uid), err)
	}
	return &s, nil
}

// writeState records s atomically, so a crash leaves the old or the new
// state and never half of one.
func (m *Manager) writeState(s *podState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(m.cfg.StateDir, "."+s.UID+"-*")
	if err != nil {
		return fmt.Errorf("write pod network state: %w", err)
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write pod network state: %w", err)
	}
	if err := os.Rename(tmp.Name(), m.statePath(s.UID)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write pod network state: %w", err)
	}
	return nil
}

func (m *Manager) removeState(uid string) error {
	if err := os.Remove(m.statePath(uid)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove pod network state: %w", err)
	}
	return nil
}

// stateUIDs lists the pods with recorded state.
func (m *Manager) stateUIDs() ([]string, error) {
	entries, err := os.ReadDir(m.cfg.StateDir)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("list pod network state: %w", err)
	}
	var uids []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, stateSuffix) {
			continue
		}
		uids = append(uids, strings.TrimSuffix(n, stateSuffix))
	}
	return uids, nil
}
