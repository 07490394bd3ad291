/* connect(): ask the router for a host socket already connecting to the destination's host
 * listener, put it in place of the app's fd, and then behave exactly like connect() would. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "fd_table.h"
#include "real_calls.h"
#include "router_channel.h"
#include "shim.h"

/* After connect() on the overlay the socket is no longer the shim's business, unless the attempt
 * failed at once and left it reusable for another connect() (ECONNREFUSED, ENETUNREACH…). */
static int overlay_connect(int fd, struct slim_sock *s, const struct sockaddr *addr,
			   socklen_t len)
{
	int r = REAL(connect)(fd, addr, len);
	int e = errno;
	if (r == 0 || e == EINPROGRESS || e == EINTR || e == EALREADY || e == EISCONN ||
	    e == EAGAIN)
		slim_fd_replace(fd, s, slim_sock_plain());
	slim_sock_put(s);
	errno = e;
	return r;
}

/* Puts the router's host socket newfd in place of the app's fd (see SHIM-NOTES "epoll registered
 * before connect": the old registrations are moved by hand, or they die silently or keep firing).
 * Returns 0, or -1 if the app's fd was left untouched. */
static int swap_in(int fd, int newfd, struct slim_sock *s, int app_fl, int app_fdfl)
{
	unsigned n;
	struct slim_epoll_reg *regs = slim_copy_regs(s, &n);

	for (unsigned i = 0; i < n; i++)
		REAL(epoll_ctl)(regs[i].epfd, EPOLL_CTL_DEL, fd, NULL);
	/* dup3, not dup2: dup2 would drop the app's FD_CLOEXEC. */
	int r = REAL(dup3)(newfd, fd, (app_fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
	int e = errno;
	REAL(close)(newfd);
	if (r >= 0 && !(app_fl & O_NONBLOCK))
		REAL(fcntl)(fd, F_SETFL, app_fl); /* the router's socket is non-blocking */
	for (unsigned i = 0; i < n; i++)
		REAL(epoll_ctl)(regs[i].epfd, EPOLL_CTL_ADD, fd, &regs[i].ev);
	free(regs);
	errno = e;
	return r >= 0 ? 0 : -1;
}

/* A blocking connect(): wait for the handshake like the kernel would, bounded by SO_SNDTIMEO. */
static int wait_connected(int fd, const struct slim_sockopts *opts)
{
	int timeout = slim_timeout_ms(opts->set & SLIM_OPT_SNDTIMEO ? opts->sndtimeo_us : 0);
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int r = REAL(poll)(&p, 1, timeout);
	if (r < 0)
		return -1; /* EINTR: as from an interrupted connect(); the handshake goes on */
	if (r == 0) {
		errno = EINPROGRESS; /* what connect() says when SO_SNDTIMEO runs out */
		return -1;
	}
	int err = 0;
	socklen_t len = sizeof(err);
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return -1;
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/* The IPv4 destination of a connect() Slim could serve: an AF_INET address on an AF_INET socket,
 * or ::ffff:a.b.c.d on an AF_INET6 one (the kernel takes a sockaddr_in6 without its scope id).
 * Whether the dual-stack socket may reach it (IPV6_V6ONLY off) is the caller's to check. */
static bool ipv4_destination(bool v6, const struct sockaddr *addr, socklen_t len,
			     struct sockaddr_in *dst)
{
	if (!addr)
		return false;
	if (!v6) {
		if (len < sizeof(*dst) || addr->sa_family != AF_INET)
			return false;
		memcpy(dst, addr, sizeof(*dst));
		return true;
	}
	struct sockaddr_in6 sin6;
	/* SIN6_LEN_RFC2133: the shortest sockaddr_in6 the kernel accepts. */
	if (len < offsetof(struct sockaddr_in6, sin6_scope_id) || addr->sa_family != AF_INET6)
		return false;
	memset(&sin6, 0, sizeof(sin6));
	memcpy(&sin6, addr, len < sizeof(sin6) ? len : sizeof(sin6));
	if (!IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr))
		return false; /* a real IPv6 destination: Slim networks are IPv4 only */
	memset(dst, 0, sizeof(*dst));
	dst->sin_family = AF_INET;
	dst->sin_port = sin6.sin6_port;
	memcpy(&dst->sin_addr.s_addr, &sin6.sin6_addr.s6_addr[12], sizeof(dst->sin_addr.s_addr));
	return true;
}

SLIM_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (!slim_fd_known(fd))
		return REAL(connect)(fd, addr, len);
	struct slim_sock *s = slim_fd_get(fd);
	if (!s)
		return REAL(connect)(fd, addr, len);
	struct sockaddr_in dst;
	if (s->kind != SLIM_UNCONNECTED || !ipv4_destination(s->v6, addr, len, &dst)) {
		slim_sock_put(s); /* AF_UNSPEC (disconnect) and everything else: as is */
		return REAL(connect)(fd, addr, len);
	}
	int saved_errno = errno;
	struct slim_connect req;
	memset(&req, 0, sizeof(req));
	slim_lock();
	bool bound = s->bound, v6 = s->v6;
	req.opts = s->opts;
	slim_unlock();

	/* An app that bound its own address, loopback and 0.0.0.0: not Slim's to replace. Nor an
	 * IPV6_V6ONLY socket (the kernel refuses it a v4-mapped destination). */
	if (bound || slim_is_loopback_or_any(dst.sin_addr.s_addr) || dst.sin_port == 0 ||
	    (v6 && !slim_dual_stack(fd)))
		return overlay_connect(fd, s, addr, len);
	int fl = REAL(fcntl)(fd, F_GETFL);
	int fdfl = REAL(fcntl)(fd, F_GETFD);
	if (fl < 0 || fdfl < 0)
		return overlay_connect(fd, s, addr, len);

	struct slim_sockopts app_opts = req.opts; /* the shim's own wait uses the app's values */
	slim_opts_for_wire(&req.opts);
	slim_addr_from_sin(&req.dst, &dst);
	req.flags = (fl & O_NONBLOCK) ? SLIM_CONNECT_NONBLOCK : 0;
	struct slim_connect_reply rep;
	int newfd = -1;
	if (slim_router_call(&req, sizeof(req), SLIM_MSG_CONNECT, &rep, sizeof(rep),
			     SLIM_MSG_CONNECT_REPLY, true, &newfd) != 0 ||
	    rep.status == SLIM_STATUS_FALLBACK) {
		errno = saved_errno;
		return overlay_connect(fd, s, addr, len);
	}
	if (rep.status < 0) {
		slim_sock_put(s);
		errno = -rep.status;
		return -1;
	}

	struct slim_sock *rec = slim_sock_new(SLIM_REPLACED);
	if (!rec) {
		/* Without a record the app would see host addresses: stay on the overlay. */
		REAL(close)(newfd);
		errno = saved_errno;
		return overlay_connect(fd, s, addr, len);
	}
	rec->local = rep.local;
	rec->peer = rep.peer;
	rec->v6 = v6; /* then shown as ::ffff:a.b.c.d */
	if (swap_in(fd, newfd, s, fl, fdfl) != 0) {
		SLIM_DEBUG("connect fd %d: dup3 failed: %s", fd, strerror(errno));
		slim_sock_put(rec);
		errno = saved_errno;
		return overlay_connect(fd, s, addr, len);
	}
	SLIM_DEBUG("connect fd %d: replaced by a host socket", fd);
	slim_fd_replace(fd, s, rec);
	slim_sock_put(s);

	if (fl & O_NONBLOCK) {
		errno = EINPROGRESS; /* then writable; SO_ERROR tells the result */
		return -1;
	}
	if (wait_connected(fd, &app_opts) != 0)
		return -1;
	errno = saved_errno;
	return 0;
}
