/* Secure mode's shared definitions: the layout of the pinned maps and where they are pinned. Used
 * by the BPF programs (kernel-module/bpf, kernel-module/lsm), the loader (kernel-module/loader) and
 * the router's addon (native/router-addon, which writes overlay_addr_by_cookie). Plain C types
 * only: the BPF side includes it after vmlinux.h, user space after <linux/types.h>. */
#ifndef SLIM_SECURE_H
#define SLIM_SECURE_H

/* Pins, under one directory on a bpffs (default SLIM_PIN_ROOT):
 *   maps/<map name>         every map of the objects (reused by a later load when compatible)
 *   links/<program name>    cgroup links (bpf_link_update() on a reload: no gap in enforcement)
 *   lsm/<program name>      LSM links, when the kernel runs the BPF LSM */
#define SLIM_PIN_ROOT "/sys/fs/bpf/slim"
#define SLIM_CGROUP_OBJ "slim_cgroup.bpf.o"
#define SLIM_LSM_OBJ "slim_lsm.bpf.o"

/* overlay_addr_by_cookie: SO_COOKIE of a host socket handed to a container -> the overlay
 * addresses it must show. The router writes an entry before it passes the fd; the sock_ops
 * program deletes it when the socket reaches TCP_CLOSE; LRU eviction bounds the rest. */
#define SLIM_ADDR_MAP_ENTRIES 262144

struct slim_overlay_addrs {
	/* What getsockname/getpeername return to a caller in another network namespace. IPs and
	 * ports in network order, as in struct sockaddr_in. */
	__u32 overlay_local_ip;
	__u32 overlay_peer_ip;
	__u16 overlay_local_port;
	__u16 overlay_peer_port;
	/* The host socket's own addresses (network order; peer 0 for a listener). The rewrite
	 * happens only while the socket still has exactly these, so an entry written for a wrong
	 * cookie, or a socket re-pointed after a disconnect, never shows overlay addresses. */
	__u32 host_local_ip;
	__u32 host_peer_ip;
	__u16 host_local_port;    /* 0: any */
	__u16 host_peer_port;
};

/* accepted_by_cookie: cookie of a connection accepted by a listener the router made (a hidden
 * listener) -> its host addresses, recorded by sock_ops as the handshake completes. In secure
 * mode the container's shim cannot read them (the kernel hides host addresses), so the router
 * asks the kernel which connection a PEER request is about. Deleted at TCP_CLOSE; an LRU. */
struct slim_host_tuple {
	__u32 local_ip; /* network order */
	__u32 peer_ip;
	__u16 local_port; /* network order */
	__u16 peer_port;
};

/* foreign_listeners: cookie of a host socket that a process of another network namespace put
 * into LISTEN (listen() after a disconnect) -> who did it. Its packets are dropped on ingress. */
#define SLIM_FOREIGN_LISTENERS_ENTRIES 4096

struct slim_foreign_listener {
	__u64 caller_netns_cookie;
	__u32 pid; /* thread group id of the caller */
	__u32 pad;
};

/* secure_stats: one __u64 counter per event, an ARRAY indexed by these. */
enum slim_stat {
	SLIM_STAT_CONNECT_DENIED = 0,  /* connect/sendto(MSG_FASTOPEN) from another netns */
	SLIM_STAT_BIND_DENIED,         /* bind from another netns */
	SLIM_STAT_SETSOCKOPT_DENIED,   /* setsockopt outside the allow list from another netns */
	SLIM_STAT_LISTEN_MARKED,       /* listen() from another netns: socket marked, traffic dropped */
	SLIM_STAT_INGRESS_DROPPED,     /* packets dropped for a marked listener */
	SLIM_STAT_ADDR_REWRITTEN,      /* getsockname/getpeername answered with overlay addresses */
	SLIM_STAT_ADDR_HIDDEN,         /* ... answered 0.0.0.0:0 (no entry, or the socket moved) */
	SLIM_STAT_LSM_DENIED,          /* any denial by the LSM programs (kernel-module/lsm) */
	SLIM_STAT_COUNT
};

/* slim_config: one entry (key 0), written by the loader. LSM programs, which run for every
 * socket of the machine, use daemon_cgroup_id to act only on sockets created in the daemon's
 * cgroup (the host sockets the router hands out). */
struct slim_config {
	__u64 daemon_cgroup_id;
	__u64 flags; /* none defined yet */
};

#endif
