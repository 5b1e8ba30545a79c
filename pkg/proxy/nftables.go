package proxy

import (
	"bytes"
	"cmp"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// masqMark marks connections from outside the node that the proxy DNATs to
// a backend, so postrouting masquerades them (replies must come back
// through this node to be un-NATed).
const masqMark = 0x00010000

// nftDatapath programs DNAT rules in an nftables table the proxy owns. With
// the eBPF datapath it carries only traffic arriving from outside the node
// (prerouting) to external frontends; as the fallback it carries every
// frontend, in prerouting (pods, outside clients) and output (host sockets).
//
// Each Apply replaces the whole table in one nft transaction, so the
// kernel never sees a half-written ruleset.
type nftDatapath struct {
	table    string
	fallback bool
	cur      map[FrontendKey]*Frontend
	written  bool // the table was written by this run
}

func newNFTDatapath(table string, fallback bool) (*nftDatapath, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return &nftDatapath{table: table, fallback: fallback, cur: map[FrontendKey]*Frontend{}}, nil
}

func (d *nftDatapath) Name() string { return "nftables" }

func (d *nftDatapath) Keys() []FrontendKey { return nil } // the table is rewritten whole

func (d *nftDatapath) Close() error { return nil }

// Apply merges the changes and rewrites the table when one touches a
// frontend it carries (with the socket hooks: only external ones), or on
// the first call, which replaces what an earlier run left.
func (d *nftDatapath) Apply(changes map[FrontendKey]*Frontend) error {
	touched := !d.written
	for k, f := range changes {
		_, had := d.cur[k]
		if f == nil || (!d.fallback && !f.External) {
			delete(d.cur, k)
			touched = touched || had
			continue
		}
		d.cur[k] = f
		touched = true
	}
	if !touched {
		return nil
	}
	if err := d.run(d.render()); err != nil {
		return err
	}
	d.written = true
	return nil
}

// Delete removes the proxy's table.
func (d *nftDatapath) Delete() error {
	return d.run(fmt.Sprintf("table ip %s\ndelete table ip %s\n", d.table, d.table))
}

func (d *nftDatapath) run(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft -f: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// render writes the table. Frontends sort so that the output is stable.
func (d *nftDatapath) render() string {
	keys := make([]FrontendKey, 0, len(d.cur))
	for k := range d.cur {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b FrontendKey) int {
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Port, b.Port); c != 0 {
			return c
		}
		return cmp.Compare(a.Proto, b.Proto)
	})

	var chains strings.Builder
	var in, out, refuseIn, refuseOut []string
	for i, k := range keys {
		f := d.cur[k]
		elem := fmt.Sprintf("%s . %s . %d", k.IP, k.Proto, k.Port)
		// Outside clients (prerouting): external frontends use the
		// externalTrafficPolicy's backends; in fallback mode ClusterIPs
		// are DNATed here for pods too.
		if (f.External && !k.IP.IsLoopback()) || d.fallback {
			backends, masq := f.Backends, false
			if f.External {
				backends, masq = f.ExternalBackends, !f.LocalOnly
			}
			if len(backends) == 0 {
				refuseIn = append(refuseIn, elem)
			} else {
				name := fmt.Sprintf("fe-%d-in", i)
				in = append(in, elem+" : goto "+name)
				writeDNATChain(&chains, name, k.Proto, backends, masq)
			}
		}
		// Host sockets (output), only without the socket hooks. Loopback
		// NodePorts would need route_localnet; they are served by eBPF only.
		if d.fallback && !k.IP.IsLoopback() {
			if len(f.Backends) == 0 {
				refuseOut = append(refuseOut, elem)
			} else {
				name := fmt.Sprintf("fe-%d-out", i)
				out = append(out, elem+" : goto "+name)
				writeDNATChain(&chains, name, k.Proto, f.Backends, false)
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s\ndelete table ip %s\ntable ip %s {\n", d.table, d.table, d.table)
	writeSet(&b, "map", "frontends_in", " : verdict", in)
	writeSet(&b, "map", "frontends_out", " : verdict", out)
	writeSet(&b, "set", "refuse_in", "", refuseIn)
	writeSet(&b, "set", "refuse_out", "", refuseOut)
	b.WriteString(`	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr . meta l4proto . th dport vmap @frontends_in
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr . meta l4proto . th dport vmap @frontends_out
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
`)
	fmt.Fprintf(&b, "\t\tmeta mark & 0x%08x == 0x%08x masquerade\n\t}\n", masqMark, masqMark)
	// Frontends without backends refuse at once (ICMP port unreachable),
	// as kube-proxy's REJECT does.
	for _, c := range []struct{ name, hook, set string }{
		{"filter-input", "input", "refuse_in"},
		{"filter-forward", "forward", "refuse_in"},
		{"filter-output", "output", "refuse_out"},
	} {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority filter - 1; policy accept;\n\t\tip daddr . meta l4proto . th dport @%s reject\n\t}\n", c.name, c.hook, c.set)
	}
	b.WriteString(chains.String())
	b.WriteString("}\n")
	return b.String()
}

func writeSet(b *strings.Builder, kind, name, valueType string, elems []string) {
	fmt.Fprintf(b, "\t%s %s {\n\t\ttype ipv4_addr . inet_proto . inet_service%s\n", kind, name, valueType)
	if len(elems) > 0 {
		fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(elems, ",\n\t\t\t"))
	}
	b.WriteString("\t}\n")
}

func writeDNATChain(b *strings.Builder, name string, proto Protocol, backends []Backend, masq bool) {
	fmt.Fprintf(b, "\tchain %s {\n", name)
	if masq {
		fmt.Fprintf(b, "\t\tmeta mark set meta mark | 0x%08x\n", masqMark)
	}
	if len(backends) == 1 {
		fmt.Fprintf(b, "\t\tmeta l4proto %s dnat ip to %s\n", proto, backends[0])
	} else {
		targets := make([]string, len(backends))
		for i, be := range backends {
			targets[i] = fmt.Sprintf("%d : %s . %d", i, be.IP, be.Port)
		}
		fmt.Fprintf(b, "\t\tmeta l4proto %s dnat ip to numgen random mod %d map { %s }\n", proto, len(backends), strings.Join(targets, ", "))
	}
	b.WriteString("\t}\n")
}
