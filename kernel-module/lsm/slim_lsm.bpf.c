// SPDX-License-Identifier: GPL-2.0
/* Slim secure mode, BPF LSM half (the cgroup half is ../bpf/slim_cgroup.bpf.c): a container must
 * not misuse a host socket Slim handed it. Loaded by the loader (../loader) next to the cgroup
 * object when the kernel runs the BPF LSM; both share the maps of ../bpf/slim_common.bpf.h.
 *
 * Which sockets: AF_INET/AF_INET6 stream sockets created in the Slim daemon's cgroup
 * (slim_config.daemon_cgroup_id, written by the loader): the router's host sockets, its hidden
 * listeners and the connections accepted from them (a child inherits its listener's cgroup).
 * Sockets of anything else (runc, host tools) are never looked at.
 *
 * Rule: a caller whose network namespace is not the socket's (a process in a container) may not
 *   - connect() it anywhere: AF_UNSPEC (disconnect) always refused; any other connect() only
 *     while the socket is closed (after a refused or reset connection it could be connected
 *     afresh), since on a connected/connecting socket the kernel answers EISCONN/EALREADY and
 *     changes nothing (non-blocking connect loops do that);
 *   - bind() it;
 *   - listen() on it (on a socket already listening, listen() only changes the backlog);
 *   - sendmsg()/sendto() with MSG_FASTOPEN (TCP Fast Open connects from there);
 *   - set a socket option outside the allow list (SO_MARK, SO_BINDTODEVICE, IP_TRANSPARENT,
 *     TCP_REPAIR…), the same list as the cgroup setsockopt program;
 *   - use an ioctl other than those about its own queues and blocking mode (SIOCGIFCONF,
 *     SIOCGIFADDR… would read the host's interfaces, SIOCGSKNS would open the host's namespace).
 * Refused calls fail with EPERM and are counted. Everything else works as usual: read, write,
 * the allowed options, getsockopt, FIONREAD, shutdown, close. Unlike the cgroup hooks, these run
 * for AF_UNSPEC connects and for listen(), which no cgroup hook can refuse.
 *
 * getsockname()/getpeername() are not refused (the shim calls them too): the cgroup programs
 * rewrite their answers to overlay addresses.
 */
#include "slim_common.bpf.h"
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL"; /* the LSM hooks are GPL-only */

#define EPERM 1
#define AF_UNSPEC 0
#define MSG_FASTOPEN 0x20000000

/* Calls refused, per hook (the total is also in secure_stats[SLIM_STAT_LSM_DENIED]). */
enum slim_lsm_hook { HOOK_CONNECT, HOOK_BIND, HOOK_LISTEN, HOOK_SENDMSG, HOOK_SETSOCKOPT, HOOK_IOCTL, HOOK_COUNT };
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HOOK_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} lsm_denied_by_hook SEC(".maps");

static __always_inline int deny(enum slim_lsm_hook hook)
{
	__u32 key = hook;
	__u64 *n = bpf_map_lookup_elem(&lsm_denied_by_hook, &key);
	if (n)
		*n += 1;
	slim_count(SLIM_STAT_LSM_DENIED);
	return -EPERM;
}

/* A Slim host socket used from another network namespace than its own. */
static __always_inline bool foreign_use(struct socket *sock)
{
	struct sock *sk = sock->sk;
	if (!sk || sock->type != SOCK_STREAM)
		return false;
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return false;
	if (sk->__sk_common.skc_net.net->net_cookie == slim_caller_netns_cookie())
		return false; /* the router, or a container's own socket */
	__u32 key = 0;
	struct slim_config *cfg = bpf_map_lookup_elem(&slim_config, &key);
	if (!cfg || !cfg->daemon_cgroup_id)
		return false;
	return sk->sk_cgrp_data.cgroup->kn->id == cfg->daemon_cgroup_id;
}

SEC("lsm/socket_connect")
int BPF_PROG(slim_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	if (ret || !foreign_use(sock))
		return ret;
	/* Only a closed socket can be connected somewhere; AF_UNSPEC would close it. */
	if (addrlen < (int)sizeof(address->sa_family) || address->sa_family == AF_UNSPEC ||
	    sock->sk->__sk_common.skc_state == TCP_CLOSE)
		return deny(HOOK_CONNECT);
	return 0;
}

SEC("lsm/socket_bind")
int BPF_PROG(slim_bind, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	if (ret || !foreign_use(sock))
		return ret;
	return deny(HOOK_BIND);
}

SEC("lsm/socket_listen")
int BPF_PROG(slim_listen, struct socket *sock, int backlog, int ret)
{
	if (ret || !foreign_use(sock))
		return ret;
	if (sock->sk->__sk_common.skc_state == TCP_LISTEN)
		return 0;
	return deny(HOOK_LISTEN);
}

SEC("lsm/socket_sendmsg")
int BPF_PROG(slim_sendmsg, struct socket *sock, struct msghdr *msg, int size, int ret)
{
	if (ret || !(msg->msg_flags & MSG_FASTOPEN) || !foreign_use(sock))
		return ret;
	return deny(HOOK_SENDMSG);
}

SEC("lsm/socket_setsockopt")
int BPF_PROG(slim_setsockopt, struct socket *sock, int level, int optname, int ret)
{
	if (ret || slim_option_allowed(level, optname) || !foreign_use(sock))
		return ret;
	return deny(HOOK_SETSOCKOPT);
}

/* ioctls about the socket's own state; the rest (SIOCGIFCONF, SIOCGIFADDR, SIOCGSKNS, routes,
 * ARP, device ioctls) act on or read the socket's network namespace: the host's. */
static __always_inline bool ioctl_allowed(unsigned int cmd)
{
	switch (cmd) {
	case 0x541B:     /* FIONREAD, SIOCINQ */
	case 0x5421:     /* FIONBIO */
	case 0x5452:     /* FIOASYNC */
	case 0x5450:     /* FIONCLEX */
	case 0x5451:     /* FIOCLEX */
	case 0x5411:     /* TIOCOUTQ, SIOCOUTQ */
	case 0x894B:     /* SIOCOUTQNSD */
	case 0x8905:     /* SIOCATMARK */
	case 0x8901:     /* FIOSETOWN */
	case 0x8902:     /* SIOCSPGRP */
	case 0x8903:     /* FIOGETOWN */
	case 0x8904:     /* SIOCGPGRP */
	case 0x8906:     /* SIOCGSTAMP_OLD */
	case 0x8907:     /* SIOCGSTAMPNS_OLD */
	case 0x80108906: /* SIOCGSTAMP_NEW */
	case 0x80108907: /* SIOCGSTAMPNS_NEW */
		return true;
	}
	return false;
}

static __always_inline int check_ioctl(struct file *file, unsigned int cmd, int ret)
{
	if (ret || ioctl_allowed(cmd))
		return ret;
	struct socket *sock = bpf_sock_from_file(file);
	if (!sock || !foreign_use(sock))
		return 0;
	return deny(HOOK_IOCTL);
}

SEC("lsm/file_ioctl")
int BPF_PROG(slim_ioctl, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	return check_ioctl(file, cmd, ret);
}

/* 32-bit processes (kernels from 6.8, and stable kernels that took the hook; the loader skips
 * this program where the hook does not exist). */
SEC("lsm/file_ioctl_compat")
int BPF_PROG(slim_ioctl_compat, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	return check_ioctl(file, cmd, ret);
}
