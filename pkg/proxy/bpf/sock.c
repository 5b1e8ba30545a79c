//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Socket-level service load balancing for skiff (pkg/proxy).
//
// The programs run in the cgroup hooks of connect(), sendmsg(), recvmsg()
// and getpeername() of every TCP/UDP socket below the cgroup they are
// attached to (IPv4, and IPv6 sockets using IPv4-mapped addresses) (skiff attaches them to the cgroup v2 root). A destination
// that is a service frontend (ClusterIP, NodePort on a node address,
// externalIP, LoadBalancer ingress) is rewritten to one of its ready
// backends before the socket ever sends a packet, so no per-packet NAT is
// needed. The reverse map makes UDP replies and getpeername() show the
// service address the application asked for.
//
// Layout of skiff_svc (as Cilium's lb4 maps): slot 0 of a frontend holds
// its backend count, flags and reverse-NAT id; slots 1..count hold backend
// ids, which index skiff_backends.

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ECONNREFUSED 111

#define SYS_REJECT 0
#define SYS_PROCEED 1

#define SVC_FLAG_AFFINITY 1
// External frontends (NodePort, externalIP, LoadBalancer) are balanced here
// only for sockets of the host's network namespace; a pod's connection to
// them leaves the pod and takes the packet path (nftables), as traffic from
// outside the node does.
#define SVC_FLAG_HOSTNS_ONLY 2

// Set by the loader: the cookie of the host's network namespace.
volatile const __u64 host_netns_cookie = 0;

struct svc_key {
	__u32 addr;  // network byte order
	__u16 port;  // network byte order
	__u8 proto;  // IPPROTO_TCP, IPPROTO_UDP
	__u8 pad;
	__u16 slot;  // 0: the frontend itself; 1..count: its backends
	__u16 pad2;
};

struct svc_val {
	__u32 backend_id;   // slots 1..count
	__u16 count;        // slot 0: number of backends; 0 refuses connections
	__u16 flags;        // slot 0: SVC_FLAG_*
	__u32 rev_nat_id;   // slot 0: the frontend's id, key of affinity entries
	__u32 affinity_sec; // slot 0: ClientIP session affinity timeout
};

struct backend {
	__u32 addr; // network byte order
	__u16 port; // network byte order
	__u8 proto;
	__u8 pad;
};

struct rev_nat_key {
	__u64 cookie; // socket cookie
	__u32 addr;   // backend address
	__u16 port;   // backend port
	__u16 pad;
};

struct rev_nat_val {
	__u32 addr; // service address
	__u16 port; // service port
	__u16 pad;
};

struct affinity_key {
	__u64 client; // network namespace cookie: the client's address for sockets
	__u32 rev_nat_id;
	__u32 pad;
};

struct affinity_val {
	__u64 last_used; // bpf_ktime_get_boot_ns() / 1e9
	__u32 backend_id;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct svc_key);
	__type(value, struct svc_val);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} skiff_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct backend);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} skiff_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct rev_nat_key);
	__type(value, struct rev_nat_val);
	__uint(max_entries, 262144);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} skiff_revnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct affinity_key);
	__type(value, struct affinity_val);
	__uint(max_entries, 65536);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} skiff_affinity SEC(".maps");

static __always_inline __u64 now_sec(void)
{
	return bpf_ktime_get_boot_ns() / 1000000000ULL;
}

// pick chooses the backend of a connection to daddr:dport. It returns 0
// with *out NULL when that is no frontend (or one this socket's namespace
// does not balance), 0 with the backend, or -ECONNREFUSED when the
// frontend has no backend. It records the reverse translation.
static __always_inline int pick(struct bpf_sock_addr *ctx, __u32 daddr, __u16 dport, __u8 proto, struct backend **out)
{
	struct svc_key key = {};
	struct svc_val *svc, *slot;
	struct backend *be = 0;
	__u32 backend_id = 0;

	*out = 0;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	key.addr = daddr;
	key.port = dport;
	key.proto = proto;
	svc = bpf_map_lookup_elem(&skiff_svc, &key);
	if (!svc)
		return 0;
	if ((svc->flags & SVC_FLAG_HOSTNS_ONLY) && bpf_get_netns_cookie(ctx) != host_netns_cookie)
		return 0;
	if (svc->count == 0)
		return -ECONNREFUSED;

	struct affinity_key akey = {};
	if (svc->flags & SVC_FLAG_AFFINITY) {
		akey.client = bpf_get_netns_cookie(ctx);
		akey.rev_nat_id = svc->rev_nat_id;
		struct affinity_val *aval = bpf_map_lookup_elem(&skiff_affinity, &akey);
		if (aval && aval->last_used + svc->affinity_sec >= now_sec()) {
			be = bpf_map_lookup_elem(&skiff_backends, &aval->backend_id);
			if (be)
				backend_id = aval->backend_id;
		}
	}
	if (!be) {
		key.slot = (bpf_get_prandom_u32() % svc->count) + 1;
		slot = bpf_map_lookup_elem(&skiff_svc, &key);
		if (!slot)
			return -ECONNREFUSED;
		backend_id = slot->backend_id;
		be = bpf_map_lookup_elem(&skiff_backends, &backend_id);
		if (!be)
			return -ECONNREFUSED;
	}
	if (svc->flags & SVC_FLAG_AFFINITY) {
		struct affinity_val aval = {.last_used = now_sec(), .backend_id = backend_id};
		bpf_map_update_elem(&skiff_affinity, &akey, &aval, BPF_ANY);
	}

	struct rev_nat_key rkey = {
		.cookie = bpf_get_socket_cookie(ctx),
		.addr = be->addr,
		.port = be->port,
	};
	struct rev_nat_val rval = {.addr = daddr, .port = dport};
	bpf_map_update_elem(&skiff_revnat, &rkey, &rval, BPF_ANY);
	*out = be;
	return 0;
}

static __always_inline int verdict(int err)
{
	if (err) {
		// connect()/sendmsg() fail with ECONNREFUSED at once, as
		// kube-proxy's REJECT of a service without endpoints.
		bpf_set_retval(err);
		return SYS_REJECT;
	}
	return SYS_PROCEED;
}

static __always_inline int xlate4(struct bpf_sock_addr *ctx)
{
	struct backend *be;
	int err = pick(ctx, ctx->user_ip4, (__u16)ctx->user_port, ctx->protocol, &be);
	if (!err && be) {
		ctx->user_ip4 = be->addr;
		ctx->user_port = be->port;
	}
	return verdict(err);
}

SEC("cgroup/connect4")
int sock4_connect(struct bpf_sock_addr *ctx)
{
	return xlate4(ctx);
}

SEC("cgroup/sendmsg4")
int sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return xlate4(ctx);
}

// rev_lookup returns the service address a backend address stands for on
// this socket.
static __always_inline struct rev_nat_val *rev_lookup(struct bpf_sock_addr *ctx, __u32 addr, __u16 port)
{
	struct rev_nat_key rkey = {
		.cookie = bpf_get_socket_cookie(ctx),
		.addr = addr,
		.port = port,
	};
	return bpf_map_lookup_elem(&skiff_revnat, &rkey);
}

static __always_inline int rev_xlate4(struct bpf_sock_addr *ctx)
{
	struct rev_nat_val *rval = rev_lookup(ctx, ctx->user_ip4, (__u16)ctx->user_port);
	if (rval) {
		ctx->user_ip4 = rval->addr;
		ctx->user_port = rval->port;
	}
	return SYS_PROCEED;
}

SEC("cgroup/recvmsg4")
int sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	return rev_xlate4(ctx);
}

SEC("cgroup/getpeername4")
int sock4_getpeername(struct bpf_sock_addr *ctx)
{
	return rev_xlate4(ctx);
}

// Dual-stack sockets (AF_INET6) reach IPv4 services through IPv4-mapped
// addresses (::ffff:a.b.c.d), as Java and others connect by default.
static __always_inline int v4_mapped(struct bpf_sock_addr *ctx)
{
	return ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 && ctx->user_ip6[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int xlate6(struct bpf_sock_addr *ctx)
{
	struct backend *be;
	if (!v4_mapped(ctx))
		return SYS_PROCEED;
	int err = pick(ctx, ctx->user_ip6[3], (__u16)ctx->user_port, ctx->protocol, &be);
	if (!err && be) {
		ctx->user_ip6[3] = be->addr;
		ctx->user_port = be->port;
	}
	return verdict(err);
}

SEC("cgroup/connect6")
int sock6_connect(struct bpf_sock_addr *ctx)
{
	return xlate6(ctx);
}

SEC("cgroup/sendmsg6")
int sock6_sendmsg(struct bpf_sock_addr *ctx)
{
	return xlate6(ctx);
}

static __always_inline int rev_xlate6(struct bpf_sock_addr *ctx)
{
	if (!v4_mapped(ctx))
		return SYS_PROCEED;
	struct rev_nat_val *rval = rev_lookup(ctx, ctx->user_ip6[3], (__u16)ctx->user_port);
	if (rval) {
		ctx->user_ip6[3] = rval->addr;
		ctx->user_port = rval->port;
	}
	return SYS_PROCEED;
}

SEC("cgroup/recvmsg6")
int sock6_recvmsg(struct bpf_sock_addr *ctx)
{
	return rev_xlate6(ctx);
}

SEC("cgroup/getpeername6")
int sock6_getpeername(struct bpf_sock_addr *ctx)
{
	return rev_xlate6(ctx);
}

char _license[] SEC("license") = "Dual BSD/GPL";
