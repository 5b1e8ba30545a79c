// Package dns is skiff's cluster DNS: a server on github.com/miekg/dns that
// each node agent runs, answering for the cluster domain as CoreDNS'
// kubernetes plugin does in k3s' configuration (`pods insecure`, TTL 5 s,
// reverse zones falling through) and forwarding every other name to the
// node's upstream resolvers with a small cache (as `forward . /etc/resolv.conf`
// and `cache 30`).
//
// Records come from informers on Services, EndpointSlices and Namespaces,
// trimmed to the fields DNS needs:
//
//	<svc>.<ns>.svc.<domain>                 A/AAAA: the ClusterIPs; headless: the ready endpoints
//	<hostname>.<svc>.<ns>.svc.<domain>      an endpoint (its hostname, or its IP dashed)
//	_<port>._<proto>.<svc>.<ns>.svc.<domain> SRV of a named port
//	<a-b-c-d>.<ns>.pod.<domain>             A of that pod IP (not verified, "insecure")
//	<svc>.<ns>.svc.<domain> (ExternalName)  CNAME to spec.externalName
//	d.c.b.a.in-addr.arpa                    PTR of a ClusterIP or a ready endpoint IP
//
// Pods reach the server through the kube-system/kube-dns Service at
// --cluster-dns: the server creates it without a selector (EnsureService),
// and each agent publishes an EndpointSlice of its own listener
// (PublishEndpoint), which the service proxy, with internalTrafficPolicy
// Local, sends each node's DNS traffic to.
//
//	srv, err := dns.NewServer(dns.Config{Client: c, Addr: "10.0.0.5:53", ClusterDomain: "cluster.local"})
//	go srv.Run(ctx)
//	<-srv.Ready()
package dns
