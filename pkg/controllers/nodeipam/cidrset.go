package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
)

// errCIDRRangeNoCIDRsRemaining is returned when every podCIDR of the cluster CIDR
// is taken (upstream's cidrset error, word for word).
var errCIDRRangeNoCIDRsRemaining = errors.New("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")

// maxSubnetBits bounds the bitmap: upstream refuses a node mask more than 16 bits
// longer than the cluster mask.
const maxSubnetBits = 16

// cidrSet divides a cluster CIDR into subnets of one prefix length and hands them
// out, as upstream's cidrset: a bitmap of used subnets and a rotating cursor, so
// that a released subnet is not handed out again at once.
type cidrSet struct {
	mu         sync.Mutex
	base       *big.Int // first address of the cluster CIDR
	bits       int      // address length: 32 or 128
	clusterLen int
	nodeLen    int
	used       []bool
	next       int
	count      int
}

func newCIDRSet(cluster *net.IPNet, nodeMaskSize int) (*cidrSet, error) {
	clusterLen, bits := cluster.Mask.Size()
	if nodeMaskSize < clusterLen || nodeMaskSize > bits {
		return nil, fmt.Errorf("node CIDR mask size /%d does not fit the cluster CIDR %s", nodeMaskSize, cluster)
	}
	if nodeMaskSize-clusterLen > maxSubnetBits {
		return nil, fmt.Errorf("subnet mask size is too big: node mask /%d is more than %d bits longer than the cluster CIDR %s", nodeMaskSize, maxSubnetBits, cluster)
	}
	return &cidrSet{
		base: ipToInt(cluster.IP, bits), bits: bits,
		clusterLen: clusterLen, nodeLen: nodeMaskSize,
		used: make([]bool, 1<<(nodeMaskSize-clusterLen)),
	}, nil
}

// allocate takes the next free subnet.
func (s *cidrSet) allocate() (*net.IPNet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.used)
	for i := 0; i < n; i++ {
		idx := (s.next + i) % n
		if !s.used[idx] {
			s.used[idx] = true
			s.count++
			s.next = (idx + 1) % n
			return s.subnet(idx), nil
		}
	}
	return nil, errCIDRRangeNoCIDRsRemaining
}

// occupy marks the subnets cidr covers as used (a node restarted with its podCIDR).
func (s *cidrSet) occupy(cidr *net.IPNet) error { return s.mark(cidr, true) }

// release frees the subnets cidr covers.
func (s *cidrSet) release(cidr *net.IPNet) error { return s.mark(cidr, false) }

func (s *cidrSet) mark(cidr *net.IPNet, used bool) error {
	first, last, err := s.indexRange(cidr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := first; i <= last; i++ {
		if s.used[i] != used {
			s.used[i] = used
			if used {
				s.count++
			} else {
				s.count--
			}
		}
	}
	return nil
}

// indexRange is the span of subnet indices that cidr covers inside the cluster CIDR.
func (s *cidrSet) indexRange(cidr *net.IPNet) (int, int, error) {
	ones, bits := cidr.Mask.Size()
	if bits != s.bits {
		return 0, 0, fmt.Errorf("%s is not in the cluster CIDR's address family", cidr)
	}
	start := new(big.Int).Sub(ipToInt(cidr.IP.Mask(cidr.Mask), bits), s.base)
	size := new(big.Int).Lsh(big.NewInt(1), uint(bits-s.clusterLen))
	if start.Sign() < 0 || start.Cmp(size) >= 0 || ones < s.clusterLen {
		return 0, 0, fmt.Errorf("%s is out of the range of the cluster CIDR", cidr)
	}
	first := int(new(big.Int).Rsh(start, uint(bits-s.nodeLen)).Int64())
	last := first
	if ones < s.nodeLen {
		last = first + 1<<(s.nodeLen-ones) - 1
	}
	return first, last, nil
}

func (s *cidrSet) subnet(idx int) *net.IPNet {
	off := new(big.Int).Lsh(big.NewInt(int64(idx)), uint(s.bits-s.nodeLen))
	ip := intToIP(new(big.Int).Add(s.base, off), s.bits)
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(s.nodeLen, s.bits)}
}

func ipToInt(ip net.IP, bits int) *big.Int {
	if bits == 32 {
		ip = ip.To4()
	} else {
		ip = ip.To16()
	}
	return new(big.Int).SetBytes(ip)
}

func intToIP(v *big.Int, bits int) net.IP {
	b := v.Bytes()
	ip := make(net.IP, bits/8)
	copy(ip[len(ip)-len(b):], b)
	return ip
}
