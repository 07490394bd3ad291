/* What the app sees as addresses: getpeername()/getsockname() on host sockets show the overlay
 * addresses the router gave for them, never the host's. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "fd_table.h"
#include "real_calls.h"
#include "router_channel.h"
#include "shim.h"

bool slim_is_loopback_or_any(uint32_t ip_be)
{
	uint32_t ip = ntohl(ip_be);
	return ip == 0 || (ip >> 24) == 127;
}

void slim_addr_from_sin(struct slim_addr *out, const struct sockaddr_in *sin)
{
	out->ip = sin->sin_addr.s_addr;
	out->port = sin->sin_port;
	out->pad = 0;
}

bool slim_v4_of_v6(const struct in6_addr *a, uint32_t *ip_be)
{
	if (IN6_IS_ADDR_UNSPECIFIED(a)) {
		*ip_be = 0;
		return true;
	}
	if (!IN6_IS_ADDR_V4MAPPED(a))
		return false;
	memcpy(ip_be, &a->s6_addr[12], sizeof(*ip_be));
	return true;
}

void slim_fill_sockaddr(const struct slim_addr *a, bool v6, struct sockaddr *addr,
			socklen_t *addrlen)
{
	if (!addr || !addrlen)
		return; /* accept(fd, NULL, ...) asks for no address */
	union {
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	} u;
	size_t size;
	memset(&u, 0, sizeof(u));
	if (v6) {
		/* ::ffff:a.b.c.d, flow label and scope 0: what the kernel reports for an IPv4 peer
		 * of a dual-stack socket. */
		u.sin6.sin6_family = AF_INET6;
		u.sin6.sin6_port = a->port;
		u.sin6.sin6_addr.s6_addr[10] = 0xff;
		u.sin6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&u.sin6.sin6_addr.s6_addr[12], &a->ip, sizeof(a->ip));
		size = sizeof(u.sin6);
	} else {
		u.sin.sin_family = AF_INET;
		u.sin.sin_addr.s_addr = a->ip;
		u.sin.sin_port = a->port;
		size = sizeof(u.sin);
	}
	/* Like the kernel: copy what fits, report the full size. */
	size_t n = *addrlen < size ? *addrlen : size;
	memcpy(addr, &u, n);
	*addrlen = (socklen_t)size;
}

static atomic_uint_fast64_t own_netns_cookie;

uint64_t slim_own_netns_cookie(void)
{
	uint64_t c = atomic_load(&own_netns_cookie);
	if (c)
		return c;
	int s = REAL(socket)(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 0;
	socklen_t len = sizeof(c);
	if (REAL(getsockopt)(s, SOL_SOCKET, SO_NETNS_COOKIE, &c, &len) != 0 || len != sizeof(c))
		c = 0; /* kernel < 6.1: no inherited host socket can be recognised */
	REAL(close)(s);
	atomic_store(&own_netns_cookie, c);
	return c;
}

/* An AF_INET socket the shim has no record of (inherited across exec, received by SCM_RIGHTS):
 * if it lives in another network namespace than ours it is a host socket, and the router knows
 * it by SO_COOKIE. Records the answer; returns the record with a reference, or NULL if the
 * router could not be asked (then the next call asks again). */
static struct slim_sock *identify(int fd)
{
	int saved = errno;
	struct slim_sock *s = NULL;
	uint64_t own = slim_own_netns_cookie(), ns = 0, cookie = 0;
	socklen_t len = sizeof(ns);
	if (!own || REAL(getsockopt)(fd, SOL_SOCKET, SO_NETNS_COOKIE, &ns, &len) != 0 ||
	    ns == own) {
		s = slim_sock_plain();
		goto record;
	}
	len = sizeof(cookie);
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0)
		goto out;
	struct slim_identify req;
	struct slim_identify_reply rep;
	memset(&req, 0, sizeof(req));
	req.cookie = cookie;
	if (slim_router_call(&req, sizeof(req), SLIM_MSG_IDENTIFY, &rep, sizeof(rep),
			     SLIM_MSG_IDENTIFY_REPLY, false, NULL) != 0)
		goto out;
	if (rep.status == SLIM_STATUS_OK && rep.kind == SLIM_KIND_CONNECTION) {
		s = slim_sock_new(SLIM_ACCEPTED);
		if (!s)
			goto out;
		s->local = rep.local;
		s->peer = rep.peer;
		SLIM_DEBUG("fd %d identified as a host connection", fd);
	} else {
		s = slim_sock_plain();
	}
record:
	slim_sock_ref(s);
	slim_fd_set(fd, s);
out:
	errno = saved;
	return s;
}

enum which { PEER, SOCK };

static int get_name(enum which w, int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	int (*real)(int, struct sockaddr *, socklen_t *) =
		w == PEER ? REAL(getpeername) : REAL(getsockname);
	/* The real call first: its errors (EBADF, ENOTCONN before the handshake completes,
	 * EFAULT) are the app's. */
	socklen_t inlen = addrlen ? *addrlen : 0;
	int r = real(fd, addr, addrlen);
	if (r != 0 || !addr || !addrlen)
		return r;
	struct slim_sock *s = slim_fd_get(fd);
	if (!s) {
		if (inlen < sizeof(sa_family_t) || addr->sa_family != AF_INET)
			return r;
		s = identify(fd);
		if (!s)
			return r;
	}
	if (s->kind == SLIM_REPLACED || s->kind == SLIM_ACCEPTED) {
		/* The real call reported the host socket's size; truncation is against what the
		 * app passed in. */
		*addrlen = inlen;
		slim_fill_sockaddr(w == PEER ? &s->peer : &s->local, s->v6, addr, addrlen);
	}
	slim_sock_put(s);
	return r;
}

SLIM_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return get_name(PEER, fd, addr, addrlen);
}

SLIM_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return get_name(SOCK, fd, addr, addrlen);
}
