package dns

import (
	"net"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// DefaultTTL is the TTL of the cluster's records: CoreDNS' kubernetes
// plugin default, which k3s keeps.
const DefaultTTL = 5

// schemaVersion is the answer to dns-version.<domain> TXT: the version of the
// Kubernetes DNS specification served.
const schemaVersion = "1.1.0"

// zoneRecords answers names in the cluster domain from the store.
type zoneRecords struct {
	zone  string // the cluster domain, lower case, with the final dot
	ttl   uint32
	nsIPs []net.IP // the cluster DNS Service's IPs: ns.dns.<domain>
	st    *store
}

// result is an answer before it becomes a message. chase is the target of
// an ExternalName CNAME that an A/AAAA query should be answered for too.
type result struct {
	rcode             int
	answer, ns, extra []dns.RR
	chase             string
}

// record is one thing a name of the zone stands for (CoreDNS' msg.Service):
// an address with the port it serves, named target, or a CNAME to host.
type record struct {
	host   string
	cname  bool
	port   int32 // -1: no port
	target string
}

// request is a name of the zone taken apart as CoreDNS' parseRequest does:
//
//	_port._protocol.service.namespace.(svc|pod)
//	endpoint.service.namespace.(svc|pod)
//	service.namespace.(svc|pod)
type request struct {
	podOrSvc, namespace, service, endpoint, port, protocol string
}

// parseRequest splits base (the name without the zone); ok is false for a
// name that cannot exist in the zone.
func parseRequest(base string) (r request, ok bool) {
	if base == "" || base == "svc" || base == "pod" {
		return r, true
	}
	segs := dns.SplitDomainName(base)
	last := len(segs) - 1
	r.podOrSvc = segs[last]
	if r.podOrSvc != "svc" && r.podOrSvc != "pod" {
		return r, false
	}
	if last--; last < 0 {
		return r, true
	}
	r.namespace = segs[last]
	if last--; last < 0 {
		return r, true
	}
	r.service = segs[last]
	if last--; last < 0 {
		return r, true
	}
	switch last {
	case 0:
		r.endpoint = segs[0]
	case 1:
		r.port, r.protocol = strings.TrimPrefix(segs[0], "_"), strings.TrimPrefix(segs[1], "_")
	default:
		return r, false
	}
	return r, true
}

// lookup answers qname (in the zone) for qtype.
func (z *zoneRecords) lookup(qname string, qtype uint16) result {
	name := strings.ToLower(qname)
	nodata := result{rcode: dns.RcodeSuccess, ns: []dns.RR{z.soa()}}
	nxdomain := result{rcode: dns.RcodeNameError, ns: nodata.ns}
	switch name {
	case z.zone:
		switch qtype {
		case dns.TypeSOA:
			return result{answer: []dns.RR{z.soa()}}
		case dns.TypeNS:
			ns := "ns.dns." + z.zone
			return result{answer: []dns.RR{&dns.NS{Hdr: z.hdr(z.zone, dns.TypeNS), Ns: ns}}, extra: z.nsAddresses(ns, dns.TypeA, dns.TypeAAAA)}
		}
		return nodata
	case "ns.dns." + z.zone:
		if rrs := z.nsAddresses(qname, qtype); len(rrs) > 0 {
			return result{answer: rrs}
		}
		return nodata
	case "dns-version." + z.zone:
		if qtype == dns.TypeTXT {
			return result{answer: []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 28800}, Txt: []string{schemaVersion}}}}
		}
		return nodata
	}
	r, ok := parseRequest(strings.TrimSuffix(name, "."+z.zone))
	switch {
	case !ok:
		return nxdomain
	case r.podOrSvc == "":
		return nodata
	case !z.st.namespaceExists(r.namespace):
		return nxdomain
	case r.service == "":
		return nodata
	}
	var recs []record
	if r.podOrSvc == "pod" {
		recs = podRecords(r)
	} else {
		recs = z.serviceRecords(r)
	}
	if len(recs) == 0 {
		return nxdomain
	}
	var res result
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		res = z.addresses(qname, qtype, recs)
	case dns.TypeSRV:
		res = z.srv(qname, recs)
	case dns.TypeCNAME:
		for _, rec := range recs {
			if rec.cname {
				res.answer = append(res.answer, &dns.CNAME{Hdr: z.hdr(qname, dns.TypeCNAME), Target: rec.host})
			}
		}
	}
	if len(res.answer) == 0 {
		return nodata
	}
	return res
}

// serviceRecords are the records of the Service r names, filtered by r's
// endpoint, port and protocol.
func (z *zoneRecords) serviceRecords(r request) []record {
	svc := z.st.service(r.namespace, r.service)
	if svc == nil {
		return nil
	}
	domain := svc.Name + "." + svc.Namespace + ".svc." + z.zone
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// An address is no CNAME target; CoreDNS serves nothing for it.
		if r.endpoint != "" || svc.Spec.ExternalName == "" || net.ParseIP(svc.Spec.ExternalName) != nil {
			return nil
		}
		return []record{{host: dns.Fqdn(strings.ToLower(svc.Spec.ExternalName)), cname: true, port: -1, target: domain}}
	}
	var recs []record
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || r.endpoint != "" {
		for _, ep := range z.st.endpoints(svc.Namespace, svc.Name) {
			host := endpointHostname(ep)
			if r.endpoint != "" && !strings.EqualFold(r.endpoint, host) {
				continue
			}
			target := host + "." + domain
			if len(ep.ports) == 0 {
				// No ports: the addresses still answer A/AAAA, but no SRV.
				if r.port == "" && r.protocol == "" {
					recs = append(recs, record{host: ep.ip, port: -1, target: target})
				}
				continue
			}
			for _, p := range ep.ports {
				name, proto, port := deref(p.Name), corev1.ProtocolTCP, int32(-1)
				if p.Protocol != nil {
					proto = *p.Protocol
				}
				if p.Port != nil {
					port = *p.Port
				}
				if matchPort(r, name, proto) {
					recs = append(recs, record{host: ep.ip, port: port, target: target})
				}
			}
		}
		return recs
	}
	for _, p := range svc.Spec.Ports {
		if !matchPort(r, p.Name, p.Protocol) {
			continue
		}
		for _, ip := range clusterIPs(svc) {
			recs = append(recs, record{host: ip, port: p.Port, target: domain})
		}
	}
	return recs
}

// matchPort: an empty port or protocol in the query matches any.
func matchPort(r request, name string, proto corev1.Protocol) bool {
	return (r.port == "" || strings.EqualFold(r.port, name)) && (r.protocol == "" || strings.EqualFold(r.protocol, string(proto)))
}

// podRecords answer <a-b-c-d>.<ns>.pod.<domain> with the address the name
// spells, without checking that a pod has it (`pods insecure`, as k3s
// configures CoreDNS). IPv6 pods are spelled with '-' for ':'.
func podRecords(r request) []record {
	if r.endpoint != "" || r.port != "" {
		return nil
	}
	name := r.service
	var s string
	if strings.Count(name, "-") == 3 && !strings.Contains(name, "--") {
		s = strings.ReplaceAll(name, "-", ".")
	} else {
		s = strings.ReplaceAll(name, "-", ":")
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil
	}
	return []record{{host: ip.String(), port: -1}}
}

// endpointHostname is an endpoint's name below its Service: its hostname
// (a StatefulSet pod's, through spec.subdomain), else its address dashed.
func endpointHostname(ep endpoint) string {
	if ep.hostname != "" {
		return ep.hostname
	}
	if strings.Contains(ep.ip, ".") {
		return strings.ReplaceAll(ep.ip, ".", "-")
	}
	return strings.ReplaceAll(ep.ip, ":", "-")
}

func (z *zoneRecords) addresses(qname string, qtype uint16, recs []record) result {
	var res result
	seen := map[string]bool{}
	for _, rec := range recs {
		if rec.cname {
			if !seen[rec.host] {
				seen[rec.host] = true
				res.answer = append(res.answer, &dns.CNAME{Hdr: z.hdr(qname, dns.TypeCNAME), Target: rec.host})
				res.chase = rec.host
			}
			continue
		}
		if rr := z.address(qname, qtype, rec.host); rr != nil && !seen[rec.host] {
			seen[rec.host] = true
			res.answer = append(res.answer, rr)
		}
	}
	return res
}

// address is the A or AAAA record (as qtype asks) of ip, nil when ip is of
// the other family.
func (z *zoneRecords) address(name string, qtype uint16, ip string) dns.RR {
	p := net.ParseIP(ip)
	if p == nil {
		return nil
	}
	if v4 := p.To4(); v4 != nil {
		if qtype != dns.TypeA {
			return nil
		}
		return &dns.A{Hdr: z.hdr(name, dns.TypeA), A: v4}
	}
	if qtype != dns.TypeAAAA {
		return nil
	}
	return &dns.AAAA{Hdr: z.hdr(name, dns.TypeAAAA), AAAA: p}
}

// srv answers SRV: one record per target and port, all of priority 0 and
// weights sharing 100, each target's address in the additional section.
func (z *zoneRecords) srv(qname string, recs []record) result {
	var res result
	n := 0
	for _, rec := range recs {
		if !rec.cname {
			n++
		}
	}
	if n == 0 {
		return res
	}
	weight := uint16(100 / n)
	if weight == 0 {
		weight = 1
	}
	seenSRV, seenAddr := map[string]bool{}, map[string]bool{}
	for _, rec := range recs {
		if rec.cname || rec.port < 0 {
			continue
		}
		if k := rec.target + " " + strconv.Itoa(int(rec.port)); !seenSRV[k] {
			seenSRV[k] = true
			res.answer = append(res.answer, &dns.SRV{Hdr: z.hdr(qname, dns.TypeSRV), Weight: weight, Port: uint16(rec.port), Target: rec.target})
		}
		if k := rec.target + " " + rec.host; !seenAddr[k] {
			seenAddr[k] = true
			for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
				if rr := z.address(rec.target, t, rec.host); rr != nil {
					res.extra = append(res.extra, rr)
				}
			}
		}
	}
	return res
}

// reverse answers a PTR query for a cluster IP or a ready endpoint's
// address; nil when the address is neither (the query goes upstream, as
// k3s' `fallthrough in-addr.arpa ip6.arpa`).
func (z *zoneRecords) reverse(qname string) []dns.RR {
	ip := addressFromReverse(strings.ToLower(qname))
	if ip == "" {
		return nil
	}
	if svc := z.st.serviceByIP(ip); svc != nil {
		return []dns.RR{&dns.PTR{Hdr: z.hdr(qname, dns.TypePTR), Ptr: svc.Name + "." + svc.Namespace + ".svc." + z.zone}}
	}
	var rrs []dns.RR
	for _, ref := range z.st.endpointsByIP(ip) {
		rrs = append(rrs, &dns.PTR{Hdr: z.hdr(qname, dns.TypePTR), Ptr: ref.host + "." + ref.service + "." + ref.namespace + ".svc." + z.zone})
	}
	return rrs
}

// addressFromReverse turns a full in-addr.arpa or ip6.arpa name into the
// address it stands for, "" for anything else.
func addressFromReverse(name string) string {
	switch {
	case strings.HasSuffix(name, ".in-addr.arpa."):
		labels := strings.Split(strings.TrimSuffix(name, ".in-addr.arpa."), ".")
		if len(labels) != 4 {
			return ""
		}
		for i, j := 0, 3; i < j; i, j = i+1, j-1 {
			labels[i], labels[j] = labels[j], labels[i]
		}
		ip := net.ParseIP(strings.Join(labels, "."))
		if ip == nil || ip.To4() == nil {
			return ""
		}
		return ip.String()
	case strings.HasSuffix(name, ".ip6.arpa."):
		nibbles := strings.Split(strings.TrimSuffix(name, ".ip6.arpa."), ".")
		if len(nibbles) != 32 {
			return ""
		}
		var b strings.Builder
		for i := 31; i >= 0; i-- {
			if len(nibbles[i]) != 1 {
				return ""
			}
			b.WriteString(nibbles[i])
			if i%4 == 0 && i > 0 {
				b.WriteByte(':')
			}
		}
		ip := net.ParseIP(b.String())
		if ip == nil {
			return ""
		}
		return ip.String()
	}
	return ""
}

func (z *zoneRecords) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: z.ttl}
}

// soa is the zone's SOA as CoreDNS builds it: the serial is the time of the
// last change seen, the negative TTL the records' TTL.
func (z *zoneRecords) soa() dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: z.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: min(z.ttl, 300)},
		Ns: "ns.dns." + z.zone, Mbox: "hostmaster." + z.zone, Serial: uint32(z.st.modified.Load()),
		Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: z.ttl}
}

// nsAddresses are the cluster DNS Service's addresses as records of name.
func (z *zoneRecords) nsAddresses(name string, qtypes ...uint16) []dns.RR {
	var rrs []dns.RR
	for _, t := range qtypes {
		for _, ip := range z.nsIPs {
			if rr := z.address(name, t, ip.String()); rr != nil {
				rrs = append(rrs, rr)
			}
		}
	}
	return rrs
}
