// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Secure mode, cgroup half. Attached to the Slim daemon's own cgroup (v2), so they run for the
 * sockets the router creates: the host sockets it hands to containers. One rule throughout: a
 * call made from another network namespace than the socket's own is a container using a host
 * socket, and may only do what an ordinary connected socket does. The router's own calls (same
 * namespace) pass untouched. Only inet stream sockets are concerned.
 *
 *   connect4/6   deny (re-pointing after connect(AF_UNSPEC); sendto(MSG_FASTOPEN) comes here too)
 *   bind4/6      deny
 *   setsockopt   deny anything outside a short allow list (SO_MARK, SO_BINDTODEVICE, IP_TRANSPARENT…)
 *   getsockname4/getpeername4
 *                answer with the overlay addresses from overlay_addr_by_cookie, or 0.0.0.0:0
 *   getsockname6/getpeername6   answer [::]:0 (the router makes no IPv6 host sockets)
 *   sockops      listen() from another netns: mark the socket (foreign_listeners); record the host
 *                addresses of accepted connections (accepted_by_cookie, for the router); delete a
 *                socket's entries when it reaches TCP_CLOSE
 *   ingress      drop every packet for a marked listener (it never completes a handshake)
 */
#include "slim_common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PAGE_SIZE 4096

static __always_inline bool foreign(void *ctx)
{
	return bpf_get_netns_cookie(ctx) != slim_caller_netns_cookie();
}

/* connect and bind on a host socket from another netns: refused (the verdict 0 is EPERM). */
static __always_inline int refuse_foreign(struct bpf_sock_addr *ctx, enum slim_stat what)
{
	if (ctx->type != SOCK_STREAM || !foreign(ctx))
		return 1;
	slim_count(what);
	return 0;
}

SEC("cgroup/connect4")
int slim_connect4(struct bpf_sock_addr *ctx) { return refuse_foreign(ctx, SLIM_STAT_CONNECT_DENIED); }

SEC("cgroup/connect6")
int slim_connect6(struct bpf_sock_addr *ctx) { return refuse_foreign(ctx, SLIM_STAT_CONNECT_DENIED); }

SEC("cgroup/bind4")
int slim_bind4(struct bpf_sock_addr *ctx) { return refuse_foreign(ctx, SLIM_STAT_BIND_DENIED); }

SEC("cgroup/bind6")
int slim_bind6(struct bpf_sock_addr *ctx) { return refuse_foreign(ctx, SLIM_STAT_BIND_DENIED); }

SEC("cgroup/setsockopt")
int slim_setsockopt(struct bpf_sockopt *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	/* Past a page the program sees only a copy's first page: 0 tells the kernel to use the
	 * caller's own buffer (we never change it). Needed on kernels before 6.5, which fail the
	 * call with EFAULT otherwise. */
	if (ctx->optlen > PAGE_SIZE)
		ctx->optlen = 0;
	if (!sk || sk->type != SOCK_STREAM || (sk->family != AF_INET && sk->family != AF_INET6))
		return 1;
	if (!foreign(ctx) || slim_option_allowed(ctx->level, ctx->optname))
		return 1;
	slim_count(SLIM_STAT_SETSOCKOPT_DENIED);
	return 0;
}

/* The entry for this socket, if it still has the host addresses the router recorded. */
static __always_inline struct slim_overlay_addrs *overlay_of(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return NULL;
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct slim_overlay_addrs *a = bpf_map_lookup_elem(&overlay_addr_by_cookie, &cookie);
	if (!a)
		return NULL;
	/* host_local_port 0: any (an accepted connection: the router knows its peer, not which
	 * hidden listener it came through). */
	if (sk->src_ip4 != a->host_local_ip || (a->host_local_port && bpf_htons((__u16)sk->src_port) != a->host_local_port) ||
	    sk->dst_ip4 != a->host_peer_ip || (__u16)sk->dst_port != a->host_peer_port)
		return NULL;
	return a;
}

static __always_inline void rewrite4(struct bpf_sock_addr *ctx, bool peer)
{
	if (ctx->type != SOCK_STREAM || !foreign(ctx))
		return;
	struct slim_overlay_addrs *a = overlay_of(ctx);
	if (a) {
		ctx->user_ip4 = peer ? a->overlay_peer_ip : a->overlay_local_ip;
		ctx->user_port = peer ? a->overlay_peer_port : a->overlay_local_port;
		slim_count(SLIM_STAT_ADDR_REWRITTEN);
	} else {
		ctx->user_ip4 = 0;
		ctx->user_port = 0;
		slim_count(SLIM_STAT_ADDR_HIDDEN);
	}
}

SEC("cgroup/getsockname4")
int slim_getsockname4(struct bpf_sock_addr *ctx)
{
	rewrite4(ctx, false);
	return 1; /* these hooks cannot fail the call */
}

SEC("cgroup/getpeername4")
int slim_getpeername4(struct bpf_sock_addr *ctx)
{
	rewrite4(ctx, true);
	return 1;
}

static __always_inline void hide6(struct bpf_sock_addr *ctx)
{
	if (ctx->type != SOCK_STREAM || !foreign(ctx))
		return;
	ctx->user_ip6[0] = 0;
	ctx->user_ip6[1] = 0;
	ctx->user_ip6[2] = 0;
	ctx->user_ip6[3] = 0;
	ctx->user_port = 0;
	slim_count(SLIM_STAT_ADDR_HIDDEN);
}

SEC("cgroup/getsockname6")
int slim_getsockname6(struct bpf_sock_addr *ctx)
{
	hide6(ctx);
	return 1;
}

SEC("cgroup/getpeername6")
int slim_getpeername6(struct bpf_sock_addr *ctx)
{
	hide6(ctx);
	return 1;
}

SEC("sockops")
int slim_sockops(struct bpf_sock_ops *ctx)
{
	__u64 cookie;
	switch (ctx->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		/* A connection one of the router's listeners accepted (softirq: no caller here).
		 * Its host addresses, for the router: the shim in the container no longer sees them. */
		if (ctx->family == AF_INET) {
			struct slim_host_tuple t = {
				.local_ip = ctx->local_ip4,
				.peer_ip = ctx->remote_ip4,
				.local_port = bpf_htons((__u16)ctx->local_port),
				.peer_port = bpf_htons((__u16)bpf_ntohl(ctx->remote_port)),
			};
			cookie = bpf_get_socket_cookie(ctx);
			bpf_map_update_elem(&accepted_by_cookie, &cookie, &t, BPF_ANY);
		}
		/* fall through */
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		/* Connections the router starts and those its listeners accept: be told when they
		 * close, to drop their entries. */
		bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		/* Runs in the listen() caller's context. No hook can refuse a listen() (after a
		 * disconnect it autobinds 0.0.0.0:ephemeral in the host's namespace): mark it. */
		if (ctx->family == AF_INET || ctx->family == AF_INET6) {
			if (bpf_get_netns_cookie(ctx) != slim_caller_netns_cookie()) {
				struct slim_foreign_listener who = {
					.caller_netns_cookie = slim_caller_netns_cookie(),
					/* not bpf_get_current_pid_tgid(): sock_ops may not call it
					 * before 6.3 (Debian 12's 6.1 rejects the whole object) */
					.pid = bpf_get_current_task_btf()->tgid,
				};
				cookie = bpf_get_socket_cookie(ctx);
				bpf_map_update_elem(&foreign_listeners, &cookie, &who, BPF_ANY);
				slim_count(SLIM_STAT_LISTEN_MARKED);
			}
			bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
		}
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (ctx->args[1] == BPF_TCP_CLOSE) {
			cookie = bpf_get_socket_cookie(ctx);
			bpf_map_delete_elem(&overlay_addr_by_cookie, &cookie);
			bpf_map_delete_elem(&accepted_by_cookie, &cookie);
			bpf_map_delete_elem(&foreign_listeners, &cookie);
		}
		break;
	}
	return 1;
}

SEC("cgroup_skb/ingress")
int slim_ingress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	/* Only listeners can be marked: one field read for every other packet. */
	if (!sk || sk->state != BPF_TCP_LISTEN)
		return 1;
	__u64 cookie = bpf_get_socket_cookie(skb);
	if (!bpf_map_lookup_elem(&foreign_listeners, &cookie))
		return 1;
	slim_count(SLIM_STAT_INGRESS_DROPPED);
	return 0;
}
