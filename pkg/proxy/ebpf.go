package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/skiff-k8s/skiff/pkg/proxy/bpf"
)

// DefaultPinDir is where the proxy pins its maps and cgroup links, so that
// services keep working while skiff restarts.
const DefaultPinDir = "/sys/fs/bpf/skiff"

// Flags of a frontend in skiff_svc (SVC_FLAG_* in sock.c).
const (
	svcFlagAffinity   = 1
	svcFlagHostNSOnly = 2
)

// programmed is a frontend as it sits in skiff_svc.
type programmed struct {
	revNatID uint32
	flags    uint16
	affinity uint32
	backends []uint32 // ids, slot i+1 holds backends[i]
}

// ebpfDatapath balances sockets with the programs of pkg/proxy/bpf attached
// to a cgroup v2. Its maps and links are pinned under pinDir.
type ebpfDatapath struct {
	pinDir string
	objs   bpf.SockObjects
	links  []link.Link

	cur        map[FrontendKey]*programmed
	backendIDs map[Backend]uint32
	backendOf  map[uint32]Backend
	refs       map[uint32]int
	nextID     uint32
	usedRevNat map[uint32]bool
	nextRevNat uint32
}

var sockHooks = []struct {
	name   string
	attach ebpf.AttachType
	prog   func(*bpf.SockPrograms) *ebpf.Program
}{
	{"connect4", ebpf.AttachCGroupInet4Connect, func(p *bpf.SockPrograms) *ebpf.Program { return p.Sock4Connect }},
	{"sendmsg4", ebpf.AttachCGroupUDP4Sendmsg, func(p *bpf.SockPrograms) *ebpf.Program { return p.Sock4Sendmsg }},
	{"recvmsg4", ebpf.AttachCGroupUDP4Recvmsg, func(p *bpf.SockPrograms) *ebpf.Program { return p.Sock4Recvmsg }},
	{"getpeername4", ebpf.AttachCgroupInet4GetPeername, func(p *bpf.SockPrograms) *ebpf.Program { return p.Sock4Getpeername }},
	{"connect6", ebpf.AttachCGroupInet6Connect, func(p *bpf.SockPrograms) *ebpf.Program { return p.Sock6Connect }},
	{"sendmsg6", ebpf.AttachCGroupUDP6Sendmsg, func(p *bpf.SockPrograms) *ebpf.Program { return p.Sock6Sendmsg }},
	{"recvmsg6", ebpf.AttachCGroupUDP6Recvmsg, func(p *bpf.SockPrograms) *ebpf.Program { return p.Sock6Recvmsg }},
	{"getpeername6", ebpf.AttachCgroupInet6GetPeername, func(p *bpf.SockPrograms) *ebpf.Program { return p.Sock6Getpeername }},
}

// openEBPF loads the programs, reusing the maps pinned in pinDir, attaches
// them to cgroupPath (replacing the programs of links pinned by an earlier
// run, so the hooks never go away) and reads back what the maps hold.
func openEBPF(pinDir, cgroupPath string) (*ebpfDatapath, error) {
	if err := ensureBPFFS(pinDir); err != nil {
		return nil, err
	}
	spec, err := bpf.LoadSock()
	if err != nil {
		return nil, fmt.Errorf("load programs: %w", err)
	}
	cookie, err := hostNetnsCookie()
	if err != nil {
		return nil, err
	}
	if err := spec.Variables["host_netns_cookie"].Set(cookie); err != nil {
		return nil, fmt.Errorf("set host_netns_cookie: %w", err)
	}
	d := &ebpfDatapath{pinDir: pinDir}
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pinDir}}
	err = spec.LoadAndAssign(&d.objs, opts)
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		// An older skiff pinned maps of another layout: start them afresh.
		for name := range spec.Maps {
			os.Remove(filepath.Join(pinDir, name))
		}
		err = spec.LoadAndAssign(&d.objs, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("load programs: %w", err)
	}
	for _, h := range sockHooks {
		path := filepath.Join(pinDir, "link_"+h.name)
		prog := h.prog(&d.objs.SockPrograms)
		if l, err := link.LoadPinnedLink(path, nil); err == nil {
			if err := l.Update(prog); err == nil {
				d.links = append(d.links, l)
				continue
			}
			l.Unpin()
			l.Close()
		}
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroupPath, Attach: h.attach, Program: prog})
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("attach %s to %s: %w", h.name, cgroupPath, err)
		}
		d.links = append(d.links, l)
		if err := l.Pin(path); err != nil {
			d.Close()
			return nil, fmt.Errorf("pin %s link: %w", h.name, err)
		}
	}
	if err := d.readBack(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// ensureBPFFS makes pinDir, on a bpf filesystem: /sys/fs/bpf gets one
// mounted when it has none (as systemd and Cilium do), and any other dir
// outside a bpffs gets its own instance mounted on it.
func ensureBPFFS(pinDir string) error {
	onBPFFS := func(dir string) bool {
		var st unix.Statfs_t
		return unix.Statfs(dir, &st) == nil && st.Type == unix.BPF_FS_MAGIC
	}
	parent := filepath.Dir(pinDir)
	if parent == "/sys/fs/bpf" && !onBPFFS(parent) {
		if err := unix.Mount("bpf", parent, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("mount bpffs on %s: %w", parent, err)
		}
	}
	if err := os.MkdirAll(pinDir, 0o700); err != nil {
		return fmt.Errorf("bpffs pin dir: %w", err)
	}
	if !onBPFFS(pinDir) {
		if err := unix.Mount("bpf", pinDir, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("mount bpffs on %s: %w", pinDir, err)
		}
	}
	return nil
}

// readBack rebuilds the datapath's view of the pinned maps.
func (d *ebpfDatapath) readBack() error {
	d.cur = map[FrontendKey]*programmed{}
	d.backendIDs = map[Backend]uint32{}
	d.backendOf = map[uint32]Backend{}
	d.refs = map[uint32]int{}
	d.usedRevNat = map[uint32]bool{}
	d.nextID, d.nextRevNat = 1, 1
	var id uint32
	var be bpf.SockBackend
	it := d.objs.SkiffBackends.Iterate()
	for it.Next(&id, &be) {
		b := Backend{IP: addrFromBE(be.Addr), Port: portFromBE(be.Port)}
		d.backendIDs[b] = id
		d.backendOf[id] = b
		d.refs[id] = 0
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read pinned backends: %w", err)
	}
	var k bpf.SockSvcKey
	var v bpf.SockSvcVal
	slots := map[FrontendKey]map[uint16]uint32{}
	it = d.objs.SkiffSvc.Iterate()
	for it.Next(&k, &v) {
		fk := FrontendKey{IP: addrFromBE(k.Addr), Port: portFromBE(k.Port), Proto: Protocol(k.Proto)}
		if k.Slot == 0 {
			d.cur[fk] = &programmed{revNatID: v.RevNatId, flags: v.Flags, affinity: v.AffinitySec, backends: make([]uint32, v.Count)}
			d.usedRevNat[v.RevNatId] = true
			continue
		}
		if slots[fk] == nil {
			slots[fk] = map[uint16]uint32{}
		}
		slots[fk][k.Slot] = v.BackendId
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read pinned services: %w", err)
	}
	for fk, p := range d.cur {
		for i := range p.backends {
			p.backends[i] = slots[fk][uint16(i+1)]
			if p.backends[i] != 0 {
				d.refs[p.backends[i]]++
			}
		}
	}
	// Slots of a frontend whose slot 0 is gone are left over from an
	// interrupted write; they are removed by the next Apply of that key.
	for fk, s := range slots {
		if d.cur[fk] == nil {
			p := &programmed{backends: make([]uint32, len(s))}
			d.cur[fk] = p
			for i := range p.backends {
				p.backends[i] = s[uint16(i+1)]
				if p.backends[i] != 0 {
					d.refs[p.backends[i]]++
				}
			}
		}
	}
	// Backends no slot names were left by an interrupted write.
	var orphans []uint32
	for id, n := range d.refs {
		if n == 0 {
			orphans = append(orphans, id)
			delete(d.refs, id)
			delete(d.backendIDs, d.backendOf[id])
			delete(d.backendOf, id)
		}
	}
	if err := batchDelete(d.objs.SkiffBackends, orphans); err != nil {
		return fmt.Errorf("remove orphaned backends: %w", err)
	}
	return nil
}

// Keys returns the frontends the maps hold.
func (d *ebpfDatapath) Keys() []FrontendKey {
	out := make([]FrontendKey, 0, len(d.cur))
	for k := range d.cur {
		out = append(out, k)
	}
	return out
}

func (d *ebpfDatapath) Name() string { return "ebpf" }

// writes collects one phase of map writes, so each phase goes to the
// kernel as a batch.
type writes struct {
	svcKeys   []bpf.SockSvcKey
	svcVals   []bpf.SockSvcVal
	svcDels   []bpf.SockSvcKey
	beKeys    []uint32
	beVals    []bpf.SockBackend
	beDels    []uint32
	purgeAff  map[uint32]map[uint32]bool // revNatID -> backend ids (nil: all)
	masterK   []bpf.SockSvcKey
	masterV   []bpf.SockSvcVal
	masterDel []bpf.SockSvcKey
}

// Apply programs the changes; a nil Frontend removes its key. The order of
// the writes keeps every connect() consistent: backends before the slots
// that name them, slots before the count that reaches them, and on removal
// the count first.
func (d *ebpfDatapath) Apply(changes map[FrontendKey]*Frontend) error {
	w := &writes{purgeAff: map[uint32]map[uint32]bool{}}
	var released []uint32
	for k, f := range changes {
		if !k.IP.Is4() {
			continue
		}
		old := d.cur[k]
		if f == nil {
			if old == nil {
				continue
			}
			w.masterDel = append(w.masterDel, svcKey(k, 0))
			for i := range old.backends {
				w.svcDels = append(w.svcDels, svcKey(k, uint16(i+1)))
			}
			released = append(released, old.backends...)
			if old.flags&svcFlagAffinity != 0 {
				w.purgeAff[old.revNatID] = nil
			}
			delete(d.usedRevNat, old.revNatID)
			delete(d.cur, k)
			continue
		}
		p := &programmed{affinity: uint32(f.Affinity / time.Second)}
		if f.Affinity > 0 {
			p.flags |= svcFlagAffinity
		}
		if f.External {
			p.flags |= svcFlagHostNSOnly
		}
		if old != nil && old.revNatID != 0 {
			p.revNatID = old.revNatID
		} else {
			p.revNatID = d.allocRevNat()
		}
		for _, b := range f.Backends {
			p.backends = append(p.backends, d.acquire(b, w))
		}
		if old != nil && old.flags == p.flags && old.affinity == p.affinity && equalIDs(old.backends, p.backends) {
			released = append(released, p.backends...) // undo the acquire
			continue
		}
		for i, id := range p.backends {
			if old == nil || i >= len(old.backends) || old.backends[i] != id {
				w.svcKeys = append(w.svcKeys, svcKey(k, uint16(i+1)))
				w.svcVals = append(w.svcVals, bpf.SockSvcVal{BackendId: id})
			}
		}
		w.masterK = append(w.masterK, svcKey(k, 0))
		w.masterV = append(w.masterV, bpf.SockSvcVal{Count: uint16(len(p.backends)), Flags: p.flags, RevNatId: p.revNatID, AffinitySec: p.affinity})
		if old != nil {
			for i := len(p.backends); i < len(old.backends); i++ {
				w.svcDels = append(w.svcDels, svcKey(k, uint16(i+1)))
			}
			released = append(released, old.backends...)
			if old.flags&svcFlagAffinity != 0 {
				gone := map[uint32]bool{}
				for _, id := range old.backends {
					if !containsID(p.backends, id) {
						gone[id] = true
					}
				}
				if len(gone) > 0 {
					w.purgeAff[old.revNatID] = gone
				}
			}
		}
		d.cur[k] = p
	}
	for _, id := range released {
		d.refs[id]--
		if d.refs[id] <= 0 {
			delete(d.refs, id)
			delete(d.backendIDs, d.backendOf[id])
			delete(d.backendOf, id)
			w.beDels = append(w.beDels, id)
		}
	}
	// A backend released and acquired again in this Apply stays.
	beDels := w.beDels[:0]
	for _, id := range w.beDels {
		if _, ok := d.backendOf[id]; !ok {
			beDels = append(beDels, id)
		}
	}
	w.beDels = beDels

	if err := batchUpdate(d.objs.SkiffBackends, w.beKeys, w.beVals); err != nil {
		return fmt.Errorf("update backends: %w", err)
	}
	if err := batchUpdate(d.objs.SkiffSvc, w.svcKeys, w.svcVals); err != nil {
		return fmt.Errorf("update service slots: %w", err)
	}
	if err := batchUpdate(d.objs.SkiffSvc, w.masterK, w.masterV); err != nil {
		return fmt.Errorf("update services: %w", err)
	}
	if err := batchDelete(d.objs.SkiffSvc, w.masterDel); err != nil {
		return fmt.Errorf("delete services: %w", err)
	}
	if err := batchDelete(d.objs.SkiffSvc, w.svcDels); err != nil {
		return fmt.Errorf("delete service slots: %w", err)
	}
	if err := batchDelete(d.objs.SkiffBackends, w.beDels); err != nil {
		return fmt.Errorf("delete backends: %w", err)
	}
	if len(w.purgeAff) > 0 {
		if err := d.purgeAffinity(w.purgeAff); err != nil {
			return fmt.Errorf("purge session affinity: %w", err)
		}
	}
	return nil
}

// acquire returns the id of b, adding it to the backends map if new.
func (d *ebpfDatapath) acquire(b Backend, w *writes) uint32 {
	id, ok := d.backendIDs[b]
	if !ok {
		for d.backendOf[d.nextID].IP.IsValid() || d.nextID == 0 {
			d.nextID++
		}
		id = d.nextID
		d.nextID++
		d.backendIDs[b] = id
		d.backendOf[id] = b
		w.beKeys = append(w.beKeys, id)
		w.beVals = append(w.beVals, bpf.SockBackend{Addr: addrToBE(b.IP), Port: portToBE(b.Port)})
	}
	d.refs[id]++
	return id
}

func (d *ebpfDatapath) allocRevNat() uint32 {
	for d.usedRevNat[d.nextRevNat] || d.nextRevNat == 0 {
		d.nextRevNat++
	}
	id := d.nextRevNat
	d.usedRevNat[id] = true
	d.nextRevNat++
	return id
}

// purgeAffinity drops the ClientIP affinity entries of removed backends,
// so a client is never sent back to an endpoint that left.
func (d *ebpfDatapath) purgeAffinity(purge map[uint32]map[uint32]bool) error {
	var k bpf.SockAffinityKey
	var v bpf.SockAffinityVal
	var dels []bpf.SockAffinityKey
	it := d.objs.SkiffAffinity.Iterate()
	for it.Next(&k, &v) {
		gone, ok := purge[k.RevNatId]
		if ok && (gone == nil || gone[v.BackendId]) {
			dels = append(dels, k)
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	for _, k := range dels {
		if err := d.objs.SkiffAffinity.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	return nil
}

// Close releases the datapath's file descriptors; the pinned maps and
// links stay, and keep balancing, until Uninstall.
func (d *ebpfDatapath) Close() error {
	for _, l := range d.links {
		l.Close()
	}
	d.links = nil
	return d.objs.Close()
}

// Uninstall detaches the programs pinned under pinDir, removes their maps
// and deletes the nftables table; services are no longer balanced
// afterwards. An empty nftTable leaves nftables alone.
func Uninstall(pinDir, nftTable string) error {
	var errs []error
	if nftTable != "" {
		if d, err := newNFTDatapath(nftTable, false); err == nil {
			if err := d.Delete(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, h := range sockHooks {
		path := filepath.Join(pinDir, "link_"+h.name)
		l, err := link.LoadPinnedLink(path, nil)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("load pinned %s link: %w", h.name, err))
			}
			continue
		}
		if err := l.Unpin(); err != nil {
			errs = append(errs, err)
		}
		l.Close()
	}
	for _, m := range []string{"skiff_svc", "skiff_backends", "skiff_revnat", "skiff_affinity"} {
		if err := os.Remove(filepath.Join(pinDir, m)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	err := os.Remove(pinDir)
	if errors.Is(err, unix.EBUSY) {
		// A bpffs of its own was mounted on the dir (ensureBPFFS).
		if err = unix.Unmount(pinDir, 0); err == nil {
			err = os.Remove(pinDir)
		}
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func batchUpdate[K, V any](m *ebpf.Map, keys []K, vals []V) error {
	const chunk = 4096
	for len(keys) > 0 {
		n := min(len(keys), chunk)
		_, err := m.BatchUpdate(keys[:n], vals[:n], nil)
		if errors.Is(err, ebpf.ErrNotSupported) {
			for i := range n {
				if err := m.Update(keys[i], vals[i], ebpf.UpdateAny); err != nil {
					return err
				}
			}
		} else if err != nil {
			return err
		}
		keys, vals = keys[n:], vals[n:]
	}
	return nil
}

func batchDelete[K any](m *ebpf.Map, keys []K) error {
	for _, k := range keys {
		// One by one: a batch stops at the first missing key.
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	return nil
}

func svcKey(k FrontendKey, slot uint16) bpf.SockSvcKey {
	return bpf.SockSvcKey{Addr: addrToBE(k.IP), Port: portToBE(k.Port), Proto: uint8(k.Proto), Slot: slot}
}

// The maps hold addresses and ports in network byte order, as the
// bpf_sock_addr context does; the generated structs read them natively.
func addrToBE(ip netip.Addr) uint32 {
	b := ip.As4()
	return binary.NativeEndian.Uint32(b[:])
}

func addrFromBE(a uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], a)
	return netip.AddrFrom4(b)
}

func portToBE(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}

func portFromBE(p uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], p)
	return binary.BigEndian.Uint16(b[:])
}

func equalIDs(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func containsID(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// hostNetnsCookie is the cookie of the network namespace skiff runs in
// (the host's), read from a socket's SO_NETNS_COOKIE.
func hostNetnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("netns cookie: %w", err)
	}
	defer unix.Close(fd)
	var cookie uint64
	size := uint32(unsafe.Sizeof(cookie))
	if _, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_NETNS_COOKIE,
		uintptr(unsafe.Pointer(&cookie)), uintptr(unsafe.Pointer(&size)), 0); errno != 0 {
		return 0, fmt.Errorf("netns cookie (SO_NETNS_COOKIE needs Linux 5.14): %w", errno)
	}
	return cookie, nil
}

// CgroupV2Root finds the mount point of the cgroup v2 hierarchy in
// /proc/self/mountinfo (/sys/fs/cgroup, or /sys/fs/cgroup/unified on
// hybrid hosts).
func CgroupV2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4], nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup2 filesystem is mounted")
}

// PinnedBackends returns the number of backends the pinned maps under
// pinDir hold for k, or -1 when k is not a frontend (tests, benchmarks).
func PinnedBackends(pinDir string, k FrontendKey) (int, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, "skiff_svc"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer m.Close()
	var v bpf.SockSvcVal
	if err := m.Lookup(svcKey(k, 0), &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return -1, nil
		}
		return 0, err
	}
	return int(v.Count), nil
}
