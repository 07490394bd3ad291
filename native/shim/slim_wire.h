/* The shim <-> router wire format, version 1.
 *
 * One message = one datagram on a Unix SOCK_SEQPACKET socket (the router's router.sock). Every
 * message starts with struct slim_hdr; its size field equals the datagram's length and the fixed
 * size of its type. The shim sends a request and waits for the reply with the same seq; replies
 * may carry one fd (SCM_RIGHTS). Both ends are on one host, so integers are in host byte order,
 * except addresses and ports, which are in network byte order exactly as in struct sockaddr_in.
 *
 * The router trusts nothing in a request about who the caller is: that comes from SO_PEERCRED.
 * A message of unknown version, type or size closes the connection; the shim then falls back to
 * the overlay. Layouts are fixed (no implicit padding: every field is naturally aligned and the
 * explicit pad fields are zero), checked by the _Static_asserts below and by the router's tests.
 * native/WIRE.md describes each message in prose.
 */
#ifndef SLIM_WIRE_H
#define SLIM_WIRE_H

#include <stdint.h>

#define SLIM_WIRE_MAGIC 0x4d494c53u /* "SLIM" in memory on little-endian hosts */
#define SLIM_WIRE_VERSION 1
/* No message is larger; the router refuses anything bigger. */
#define SLIM_WIRE_MAX_SIZE 256

enum slim_msg_type {
	SLIM_MSG_CONNECT = 1,
	SLIM_MSG_CONNECT_REPLY = 2,
	SLIM_MSG_LISTEN = 3,
	SLIM_MSG_LISTEN_REPLY = 4,
	SLIM_MSG_PEER = 5,
	SLIM_MSG_PEER_REPLY = 6,
	SLIM_MSG_IDENTIFY = 7,
	SLIM_MSG_IDENTIFY_REPLY = 8,
};

/* Reply status: 0 = done (an fd is attached where the type says so); SLIM_STATUS_FALLBACK = not
 * for Slim, do the plain call on the overlay; negative = -errno the app must see. */
#define SLIM_STATUS_OK 0
#define SLIM_STATUS_FALLBACK 1

struct slim_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t seq;  /* chosen by the shim, echoed in the reply */
	uint32_t size; /* whole message, header included */
};

struct slim_addr {
	uint32_t ip;   /* network byte order, as sin_addr.s_addr */
	uint16_t port; /* network byte order, as sin_port */
	uint16_t pad;
};

/* Socket options the app set before connect()/listen(), so the host socket gets the same (buffer
 * sizes must be set before the SYN). Only fields whose bit is in `set` carry a value. The router
 * refuses (as hostile) unknown bits and timeouts outside 0..SLIM_TIMEO_MAX_US; a shim leaves a
 * longer timeout out rather than send it. */
#define SLIM_TIMEO_MAX_US (365LL * 24 * 3600 * 1000000)
enum slim_opt_bit {
	SLIM_OPT_NODELAY = 1u << 0,
	SLIM_OPT_KEEPALIVE = 1u << 1,
	SLIM_OPT_KEEPIDLE = 1u << 2,
	SLIM_OPT_KEEPINTVL = 1u << 3,
	SLIM_OPT_KEEPCNT = 1u << 4,
	SLIM_OPT_SNDBUF = 1u << 5,
	SLIM_OPT_RCVBUF = 1u << 6,
	SLIM_OPT_TOS = 1u << 7,
	SLIM_OPT_USER_TIMEOUT = 1u << 8,
	SLIM_OPT_LINGER = 1u << 9,
	SLIM_OPT_SNDTIMEO = 1u << 10,
	SLIM_OPT_RCVTIMEO = 1u << 11,
	SLIM_OPT_REUSEADDR = 1u << 12,
	SLIM_OPT_REUSEPORT = 1u << 13,
};
#define SLIM_OPT_ALL ((1u << 14) - 1)

struct slim_sockopts {
	uint32_t set;
	int32_t nodelay;
	int32_t keepalive;
	int32_t keepidle;
	int32_t keepintvl;
	int32_t keepcnt;
	int32_t sndbuf; /* the value the app passed, not the kernel's doubled one */
	int32_t rcvbuf;
	int32_t tos;
	uint32_t user_timeout;
	int32_t linger_onoff;
	int32_t linger_secs;
	int32_t reuseaddr;
	int32_t reuseport;
	int64_t sndtimeo_us;
	int64_t rcvtimeo_us;
};

/* CONNECT: the app called connect() on an unbound AF_INET stream socket to dst. The router makes
 * a host socket with the same options, starts its connect and replies at once:
 * OK + fd (non-blocking; the handshake may still be in progress: wait for POLLOUT, read SO_ERROR),
 * FALLBACK (no Slim listener there, caller not on a Slim network, live-migration…), or -errno. */
#define SLIM_CONNECT_NONBLOCK 1u
struct slim_connect {
	struct slim_hdr hdr;
	struct slim_addr dst;
	uint32_t flags;
	uint32_t pad;
	struct slim_sockopts opts;
};
struct slim_connect_reply {
	struct slim_hdr hdr;
	int32_t status;
	uint32_t pad;
	struct slim_addr local; /* what getsockname() must show: the caller's overlay address */
	struct slim_addr peer;  /* what getpeername() must show: dst */
};

/* LISTEN: the app's listen() succeeded on `bound` (its getsockname(); ip may be 0.0.0.0). The
 * router opens a hidden host listener for it and replies OK + that listener's fd (non-blocking),
 * FALLBACK (not on a Slim network) or -errno. Options REUSEADDR/REUSEPORT matter here: listeners
 * of one (container, port) with REUSEPORT share one host port. */
struct slim_listen {
	struct slim_hdr hdr;
	struct slim_addr bound;
	int32_t backlog;
	uint32_t pad;
	struct slim_sockopts opts;
};
struct slim_listen_reply {
	struct slim_hdr hdr;
	int32_t status;
	uint32_t pad;
	struct slim_addr host; /* the hidden listener's host address (for logs and tests) */
};

/* PEER: accept() on a hidden listener returned a host connection from host_peer. Which overlay
 * client is it? The client's router told ours when it connected. OK: local/peer are the overlay
 * addresses accept()/getsockname()/getpeername() must show. Negative: not a Slim connection for
 * this listener (unknown, or meant for another listener): close it and accept the next one. */
struct slim_peer {
	struct slim_hdr hdr;
	struct slim_addr host_peer; /* getpeername() of the accepted host socket */
	struct slim_addr listen;    /* the app listener's overlay address (getsockname) */
	uint64_t cookie;            /* SO_COOKIE of the accepted host socket */
};
struct slim_peer_reply {
	struct slim_hdr hdr;
	int32_t status;
	uint32_t pad;
	struct slim_addr local;
	struct slim_addr peer;
};

/* IDENTIFY: what is this host socket (found after exec, or by SO_COOKIE for any host socket the
 * shim has no record of)? OK: kind and addresses; -ENOENT: the router does not know it. */
#define SLIM_KIND_CONNECTION 1u
#define SLIM_KIND_LISTENER 2u
struct slim_identify {
	struct slim_hdr hdr;
	uint64_t cookie;
};
struct slim_identify_reply {
	struct slim_hdr hdr;
	int32_t status;
	uint32_t kind;
	struct slim_addr local; /* connection: overlay local; listener: the overlay address it serves */
	struct slim_addr peer;  /* connection: overlay peer; listener: zero */
};

_Static_assert(sizeof(struct slim_hdr) == 16, "slim_hdr layout");
_Static_assert(sizeof(struct slim_addr) == 8, "slim_addr layout");
_Static_assert(sizeof(struct slim_sockopts) == 72, "slim_sockopts layout");
_Static_assert(sizeof(struct slim_connect) == 104, "slim_connect layout");
_Static_assert(sizeof(struct slim_connect_reply) == 40, "slim_connect_reply layout");
_Static_assert(sizeof(struct slim_listen) == 104, "slim_listen layout");
_Static_assert(sizeof(struct slim_listen_reply) == 32, "slim_listen_reply layout");
_Static_assert(sizeof(struct slim_peer) == 40, "slim_peer layout");
_Static_assert(sizeof(struct slim_peer_reply) == 40, "slim_peer_reply layout");
_Static_assert(sizeof(struct slim_identify) == 24, "slim_identify layout");
_Static_assert(sizeof(struct slim_identify_reply) == 40, "slim_identify_reply layout");

#endif
