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

#endif
