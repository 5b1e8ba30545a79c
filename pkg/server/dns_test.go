package server

import (
	"net"
	"testing"
)

func TestClusterDNSService(t *testing.T) {
	_, svcNet, _ := net.ParseCIDR("10.96.0.0/12")
	if ip := indexedIP(svcNet, 10); ip.String() != "10.96.0.10" {
		t.Errorf("default --cluster-dns in 10.96.0.0/12: %s", ip)
	}
	for _, c := range []struct {
		dns     string
		disable []string
		want    string
		err     bool
	}{
		{dns: "10.96.0.10", want: "10.96.0.10"},
		{dns: "10.96.0.10", disable: []string{"coredns"}, want: "<nil>"},
		{dns: "10.43.0.10", err: true},
		{dns: "dns", err: true},
	} {
		ip, err := clusterDNSService(Options{ClusterDNS: c.dns, Disable: c.disable}, svcNet)
		if (err != nil) != c.err || (err == nil && ip.String() != c.want) {
			t.Errorf("clusterDNSService(%q, %v) = %v, %v", c.dns, c.disable, ip, err)
		}
	}
}
