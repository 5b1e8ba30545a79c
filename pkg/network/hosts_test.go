package network

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const localhostEntries = "# Kubernetes-managed hosts file.\n" +
	"127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"fe00::0\tip6-mcastprefix\n" +
	"fe00::1\tip6-allnodes\n" +
	"fe00::2\tip6-allrouters\n"

func testPod(name string, mutate func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-1"}}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestHostsFile(t *testing.T) {
	aliases := []v1.HostAlias{
		{IP: "123.45.67.89", Hostnames: []string{"foo", "bar", "baz"}},
		{IP: "456.78.90.123", Hostnames: []string{"park", "doo", "boo"}},
	}
	tests := []struct {
		name   string
		pod    *v1.Pod
		ips    []string
		node   string
		want   string
		errSub string
	}{{
		name: "pod name as hostname",
		pod:  testPod("web", nil),
		ips:  []string{"10.42.0.5"},
		want: localhostEntries + "10.42.0.5\tweb\n",
	}, {
		name: "spec.hostname and subdomain",
		pod: testPod("web-0", func(p *v1.Pod) {
			p.Spec.Hostname = "db"
			p.Spec.Subdomain = "headless"
		}),
		ips:  []string{"10.42.0.5", "fd00::5"},
		want: localhostEntries + "10.42.0.5\tdb.headless.default.svc.cluster.local\tdb\nfd00::5\tdb.headless.default.svc.cluster.local\tdb\n",
	}, {
		name: "hostAliases",
		pod:  testPod("web", func(p *v1.Pod) { p.Spec.HostAliases = aliases }),
		ips:  []string{"10.42.0.5"},
		want: localhostEntries + "10.42.0.5\tweb\n\n# Entries added by HostAliases.\n123.45.67.89\tfoo\tbar\tbaz\n456.78.90.123\tpark\tdoo\tboo\n",
	}, {
		name: "host network copies the node's file",
		pod: testPod("web", func(p *v1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.HostAliases = aliases[:1]
		}),
		ips:  []string{"192.0.2.2"},
		node: "127.0.0.1 localhost\n192.0.2.2 node1\n",
		want: "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.0.2.2 node1\n\n# Entries added by HostAliases.\n123.45.67.89\tfoo\tbar\tbaz\n",
	}, {
		name: "long pod name cut to 63 without a trailing dash",
		pod:  testPod(strings.Repeat("a", 62)+"-b", nil),
		ips:  []string{"10.42.0.5"},
		want: localhostEntries + "10.42.0.5\t" + strings.Repeat("a", 62) + "\n",
	}, {
		name:   "invalid hostname",
		pod:    testPod("web", func(p *v1.Pod) { p.Spec.Hostname = "Not_Valid" }),
		errSub: `pod Hostname "Not_Valid" is not a valid DNS label`,
	}, {
		name:   "invalid subdomain",
		pod:    testPod("web", func(p *v1.Pod) { p.Spec.Subdomain = "a.b" }),
		errSub: `pod Subdomain "a.b" is not a valid DNS label`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HostsFile(tt.pod, tt.ips, "cluster.local", []byte(tt.node))
			if tt.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("error %v, want one containing %q", err, tt.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestPodHostnameAndDomain(t *testing.T) {
	h, d, err := PodHostnameAndDomain(testPod("web", func(p *v1.Pod) { p.Spec.Subdomain = "sub" }), "example.org")
	if err != nil || h != "web" || d != "sub.default.svc.example.org" {
		t.Fatalf("got %q %q %v", h, d, err)
	}
	h, _, err = PodHostnameAndDomain(testPod(strings.Repeat("x", 70), nil), "cluster.local")
	if err != nil || h != strings.Repeat("x", 63) {
		t.Fatalf("got %q %v", h, err)
	}
}
