/* Maps and helpers shared by the cgroup programs (slim_cgroup.bpf.c) and the LSM programs
 * (kernel-module/lsm/). Both objects declare the same maps; the loader pins them under
 * <pin root>/maps/<name> and a second object reuses the pinned ones, so there is one of each. */
#ifndef SLIM_COMMON_BPF_H
#define SLIM_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "slim_secure.h"

/* Not in vmlinux.h (macros). */
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
/* Option levels (uapi values). */
#define SOL_SOCKET 1
#define IPPROTO_IP 0
#define IPPROTO_TCP 6
#define IPPROTO_IPV6 41

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLIM_ADDR_MAP_ENTRIES);
	__type(key, __u64);
	__type(value, struct slim_overlay_addrs);
} overlay_addr_by_cookie SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLIM_ADDR_MAP_ENTRIES);
	__type(key, __u64);
	__type(value, struct slim_host_tuple);
} accepted_by_cookie SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLIM_FOREIGN_LISTENERS_ENTRIES);
	__type(key, __u64);
	__type(value, struct slim_foreign_listener);
} foreign_listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLIM_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} secure_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slim_config);
} slim_config SEC(".maps");

static __always_inline void slim_count(enum slim_stat what)
{
	__u32 key = what;
	__u64 *n = bpf_map_lookup_elem(&secure_stats, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* The network namespace of the process making the call (process context only). A task without
 * namespaces (exiting) reads as 0, which matches no socket: treated as foreign. */
static __always_inline __u64 slim_caller_netns_cookie(void)
{
	/* A trusted BTF pointer: plain loads, relocated by CO-RE (vmlinux.h types carry
	 * preserve_access_index), faults read as 0. */
	struct task_struct *task = bpf_get_current_task_btf();
	return task->nsproxy->net_ns->net_cookie;
}

/* Options a container may set on a host socket: they shape its own connection only. The one
 * allow list of both halves: the cgroup setsockopt program and the LSM's socket_setsockopt. */
static __always_inline bool slim_option_allowed(int level, int name)
{
	switch (level) {
	case SOL_SOCKET:
		switch (name) {
		case 7:  /* SO_SNDBUF */
		case 8:  /* SO_RCVBUF */
		case 9:  /* SO_KEEPALIVE */
		case 10: /* SO_OOBINLINE */
		case 13: /* SO_LINGER */
		case 18: /* SO_RCVLOWAT */
		case 19: /* SO_SNDLOWAT */
		case 20: /* SO_RCVTIMEO_OLD */
		case 21: /* SO_SNDTIMEO_OLD */
		case 29: /* SO_TIMESTAMP_OLD */
		case 35: /* SO_TIMESTAMPNS_OLD */
		case 47: /* SO_MAX_PACING_RATE */
		case 60: /* SO_ZEROCOPY */
		case 63: /* SO_TIMESTAMP_NEW */
		case 64: /* SO_TIMESTAMPNS_NEW */
		case 66: /* SO_RCVTIMEO_NEW */
		case 67: /* SO_SNDTIMEO_NEW */
			return true;
		}
		return false; /* SO_MARK, SO_BINDTODEVICE/IFINDEX, SO_REUSEADDR/PORT, SO_PRIORITY,
			       * SO_DONTROUTE, SO_ATTACH_FILTER/BPF, SO_*BUFFORCE, … */
	case IPPROTO_TCP:
		switch (name) {
		case 1:  /* TCP_NODELAY */
		case 2:  /* TCP_MAXSEG */
		case 3:  /* TCP_CORK */
		case 4:  /* TCP_KEEPIDLE */
		case 5:  /* TCP_KEEPINTVL */
		case 6:  /* TCP_KEEPCNT */
		case 7:  /* TCP_SYNCNT */
		case 8:  /* TCP_LINGER2 */
		case 9:  /* TCP_DEFER_ACCEPT */
		case 10: /* TCP_WINDOW_CLAMP */
		case 12: /* TCP_QUICKACK */
		case 13: /* TCP_CONGESTION (unprivileged callers get only the allowed set) */
		case 16: /* TCP_THIN_LINEAR_TIMEOUTS */
		case 17: /* TCP_THIN_DUPACK */
		case 18: /* TCP_USER_TIMEOUT */
		case 23: /* TCP_FASTOPEN (a listener's queue length) */
		case 25: /* TCP_NOTSENT_LOWAT */
		case 36: /* TCP_INQ */
			return true;
		}
		return false; /* TCP_REPAIR*, TCP_MD5SIG*, TCP_ULP, TCP_FASTOPEN_CONNECT/KEY, … */
	case IPPROTO_IP:
		/* IP_TOS, IP_TTL, IP_MTU_DISCOVER, IP_RECVERR; not IP_TRANSPARENT, IP_FREEBIND,
		 * IP_OPTIONS, IP_BIND_ADDRESS_NO_PORT, … */
		return name == 1 || name == 2 || name == 10 || name == 11;
	case IPPROTO_IPV6:
		/* IPV6_UNICAST_HOPS, IPV6_MTU_DISCOVER, IPV6_RECVERR, IPV6_TCLASS */
		return name == 16 || name == 23 || name == 25 || name == 67;
	}
	return false;
}

#endif
