package dns

import (
	"container/list"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Bounds of the upstream answers' cache, as k3s' `cache 30`: nothing is
// kept longer than maxCacheTTL, and the cache never holds more than
// maxEntries answers or maxBytes of them.
const (
	maxCacheTTL       = 30 * time.Second
	defaultMaxEntries = 10000
	defaultMaxBytes   = 8 << 20
)

// answerCache holds upstream answers by question, least recently used first out.
type answerCache struct {
	mu         sync.Mutex
	lru        *list.List // of *cacheEntry, most recent at the front
	entries    map[cacheKey]*list.Element
	bytes      int
	maxEntries int
	maxBytes   int
	now        func() time.Time
}

type cacheKey struct {
	name         string // lower case
	qtype        uint16
	qclass       uint16
	do, cd       bool
	recursionOff bool
}

type cacheEntry struct {
	key     cacheKey
	msg     *dns.Msg
	size    int
	stored  time.Time
	expires time.Time
}

func newCache(maxEntries, maxBytes int) *answerCache {
	if maxEntries <= 0 {
		maxEntries = defaultMaxEntries
	}
	if maxBytes <= 0 {
		maxBytes = defaultMaxBytes
	}
	return &answerCache{lru: list.New(), entries: map[cacheKey]*list.Element{}, maxEntries: maxEntries, maxBytes: maxBytes, now: time.Now}
}

func keyOf(req *dns.Msg) cacheKey {
	q := req.Question[0]
	k := cacheKey{name: strings.ToLower(q.Name), qtype: q.Qtype, qclass: q.Qclass, cd: req.CheckingDisabled, recursionOff: !req.RecursionDesired}
	if o := req.IsEdns0(); o != nil {
		k.do = o.Do()
	}
	return k
}

// get returns a copy of the cached answer to req with its TTLs aged and
// req's ID and question, or nil.
func (c *answerCache) get(req *dns.Msg) *dns.Msg {
	k := keyOf(req)
	c.mu.Lock()
	el, ok := c.entries[k]
	if !ok {
		c.mu.Unlock()
		return nil
	}
	e := el.Value.(*cacheEntry)
	now := c.now()
	if !now.Before(e.expires) {
		c.remove(el)
		c.mu.Unlock()
		return nil
	}
	c.lru.MoveToFront(el)
	m := e.msg.Copy()
	c.mu.Unlock()
	// Every record lives as long as the entry does, no longer.
	capTTLs(m, uint32(e.expires.Sub(now)/time.Second))
	m.Id = req.Id
	m.Question = req.Question
	matchCase(m, req.Question[0].Name)
	return m
}

// capTTLs lowers m's TTLs to at most ttl.
func capTTLs(m *dns.Msg, ttl uint32) {
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if h := rr.Header(); h.Rrtype != dns.TypeOPT {
				h.Ttl = min(h.Ttl, ttl)
			}
		}
	}
}

// matchCase spells the records owned by the question's name as the
// question does: clients that randomise the case of their queries (DNS
// 0x20) check that the answer matches.
func matchCase(m *dns.Msg, qname string) {
	for _, rr := range m.Answer {
		if h := rr.Header(); h.Name != qname && strings.EqualFold(h.Name, qname) {
			h.Name = qname
		}
	}
}

// put stores an answer to req for its TTL (the SOA's minimum for a
// negative one), at most maxCacheTTL, and lowers resp's TTLs to that, as
// CoreDNS' cache does. Failures and truncated answers are not kept.
func (c *answerCache) put(req, resp *dns.Msg) {
	if resp.Truncated || (resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError) {
		return
	}
	ttl, ok := cacheTTL(resp)
	if !ok || ttl == 0 {
		return
	}
	ttl = min(ttl, uint32(maxCacheTTL/time.Second))
	capTTLs(resp, ttl)
	m := resp.Copy()
	size := m.Len()
	if size > c.maxBytes/16 {
		return
	}
	now := c.now()
	e := &cacheEntry{key: keyOf(req), msg: m, size: size, stored: now, expires: now.Add(time.Duration(ttl) * time.Second)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[e.key]; ok {
		c.remove(old)
	}
	c.entries[e.key] = c.lru.PushFront(e)
	c.bytes += size
	for len(c.entries) > c.maxEntries || c.bytes > c.maxBytes {
		c.remove(c.lru.Back())
	}
}

func (c *answerCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.entries, e.key)
	c.bytes -= e.size
}

func (c *answerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// cacheTTL is the lowest TTL of resp's records; for an answer without
// records (NXDOMAIN, NODATA), the SOA's minimum as RFC 2308 says.
func cacheTTL(resp *dns.Msg) (uint32, bool) {
	if len(resp.Answer) == 0 {
		for _, rr := range resp.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				return min(soa.Hdr.Ttl, soa.Minttl), true
			}
		}
		return 0, false
	}
	ttl := ^uint32(0)
	for _, sec := range [][]dns.RR{resp.Answer, resp.Ns} {
		for _, rr := range sec {
			ttl = min(ttl, rr.Header().Ttl)
		}
	}
	return ttl, true
}
