/* listen(), accept(), accept4(), shutdown(): an app listener gets a hidden host twin that serves Slim
 * clients, while the app's own listener keeps serving everyone else (plain overlay clients,
 * static binaries). accept() takes from both, so the app sees one listener. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "fd_table.h"
#include "real_calls.h"
#include "router_channel.h"
#include "shim.h"

/* Builds the listener record around a hidden listener fd from the router: the hidden fd moved
 * high (select() must still reach it) with the app fd's FD_CLOEXEC, non-blocking, plus a private
 * epoll fd holding both, which stands in for the app fd in the app's epoll/poll/select (see
 * SHIM-NOTES: mirroring the two fds breaks EPOLLONESHOT). The private epoll fd is always
 * close-on-exec: after exec it would be useless (the new image rebuilds it), only leaked. */
static struct slim_sock *make_listener(int fd, int hfd, const struct slim_sockopts *opts,
				       const struct slim_addr *overlay, bool v6)
{
	int fdfl = REAL(fcntl)(fd, F_GETFD);
	int hidden = slim_move_high(hfd, fdfl >= 0 && (fdfl & FD_CLOEXEC));
	int hfl = REAL(fcntl)(hidden, F_GETFL);
	if (hfl >= 0 && !(hfl & O_NONBLOCK))
		REAL(fcntl)(hidden, F_SETFL, hfl | O_NONBLOCK);
	int privep = epoll_create1(EPOLL_CLOEXEC);
	if (privep < 0) {
		REAL(close)(hidden);
		return NULL;
	}
	privep = slim_move_high(privep, true);
	struct epoll_event ev = {.events = EPOLLIN};
	ev.data.fd = fd;
	int r1 = REAL(epoll_ctl)(privep, EPOLL_CTL_ADD, fd, &ev);
	ev.data.fd = hidden;
	int r2 = REAL(epoll_ctl)(privep, EPOLL_CTL_ADD, hidden, &ev);
	struct slim_sock *l = r1 == 0 && r2 == 0 ? slim_sock_new(SLIM_LISTENER) : NULL;
	if (!l) {
		REAL(close)(hidden);
		REAL(close)(privep);
		return NULL;
	}
	l->hidden = hidden;
	l->privep = privep;
	l->overlay = *overlay;
	l->v6 = v6;
	l->opts = *opts;
	slim_fd_set_internal(hidden, l);
	slim_fd_set_internal(privep, l);
	return l;
}

/* Epoll registrations the app made before listen() now belong to the private epoll fd (or, for
 * EPOLLEXCLUSIVE ones, which cannot target an epoll fd, get the hidden fd alongside). */
static void move_registrations(int fd, struct slim_sock *s, struct slim_sock *l)
{
	unsigned n;
	struct slim_epoll_reg *regs = slim_copy_regs(s, &n);
	for (unsigned i = 0; i < n; i++) {
		if (regs[i].ev.events & EPOLLEXCLUSIVE) {
			REAL(epoll_ctl)(regs[i].epfd, EPOLL_CTL_ADD, l->hidden, &regs[i].ev);
		} else {
			REAL(epoll_ctl)(regs[i].epfd, EPOLL_CTL_DEL, fd, NULL);
			REAL(epoll_ctl)(regs[i].epfd, EPOLL_CTL_ADD, l->privep, &regs[i].ev);
		}
	}
	free(regs);
}

/* The IPv4 address a Slim listener would serve for the app's listener fd: its own AF_INET
 * address, or for a dual-stack AF_INET6 listener (IPV6_V6ONLY off) bound to :: or ::ffff:a.b.c.d,
 * 0.0.0.0 or a.b.c.d. False for loopback, IPv6-only listeners and real IPv6 addresses. */
static bool ipv4_listen_address(int fd, bool v6, struct slim_addr *out)
{
	if (!v6) {
		struct sockaddr_in sin;
		socklen_t len = sizeof(sin);
		if (REAL(getsockname)(fd, (struct sockaddr *)&sin, &len) != 0 || len != sizeof(sin) ||
		    sin.sin_family != AF_INET)
			return false;
		slim_addr_from_sin(out, &sin);
	} else {
		struct sockaddr_in6 sin6;
		socklen_t len = sizeof(sin6);
		uint32_t ip;
		if (REAL(getsockname)(fd, (struct sockaddr *)&sin6, &len) != 0 ||
		    len != sizeof(sin6) || sin6.sin6_family != AF_INET6 ||
		    !slim_v4_of_v6(&sin6.sin6_addr, &ip) || !slim_dual_stack(fd))
			return false;
		out->ip = ip;
		out->port = sin6.sin6_port;
		out->pad = 0;
	}
	return (ntohl(out->ip) >> 24) != 127;
}

/* First listen() on a tracked socket: ask the router for a hidden listener. */
static void first_listen(int fd, struct slim_sock *s, int backlog)
{
	struct slim_sock *result = slim_sock_plain();
	struct slim_addr bound;
	if (!ipv4_listen_address(fd, s->v6, &bound))
		goto out;
	struct slim_listen req;
	memset(&req, 0, sizeof(req));
	req.bound = bound;
	req.backlog = backlog;
	slim_lock();
	req.opts = s->opts;
	slim_unlock();
	struct slim_sockopts app_opts = req.opts; /* the listener record keeps the app's values */
	slim_opts_for_wire(&req.opts);
	struct slim_listen_reply rep;
	int hfd = -1;
	if (slim_router_call(&req, sizeof(req), SLIM_MSG_LISTEN, &rep, sizeof(rep),
			     SLIM_MSG_LISTEN_REPLY, true, &hfd) != 0 ||
	    rep.status != SLIM_STATUS_OK)
		goto out; /* the app's listen() succeeded: it simply serves the overlay only */
	struct slim_sock *l = make_listener(fd, hfd, &app_opts, &req.bound, s->v6);
	if (!l)
		goto out;
	move_registrations(fd, s, l);
	SLIM_DEBUG("listen fd %d%s: hidden listener fd %d, private epoll fd %d", fd,
		   s->v6 ? " (dual-stack, IPv4 clients)" : "", l->hidden, l->privep);
	result = l;
out:
	slim_fd_replace(fd, s, result);
}

bool slim_listener_adopt(int fd, int hidden, const struct slim_addr *overlay, bool v6)
{
	struct slim_sockopts none;
	memset(&none, 0, sizeof(none));
	struct slim_sock *l = make_listener(fd, hidden, &none, overlay, v6);
	if (!l)
		return false;
	slim_fd_set(fd, l);
	return true;
}

SLIM_EXPORT int listen(int fd, int backlog)
{
	int r = REAL(listen)(fd, backlog);
	if (r != 0 || !slim_fd_known(fd))
		return r;
	struct slim_sock *s = slim_fd_get(fd);
	if (!s)
		return r;
	int saved_errno = errno;
	if (s->kind == SLIM_UNCONNECTED) {
		first_listen(fd, s, backlog);
	} else if (s->kind == SLIM_LISTENER) {
		/* nginx calls listen() again to change the backlog: the twin gets it too. */
		slim_lock();
		int hidden = s->hidden;
		slim_unlock();
		if (hidden >= 0)
			REAL(listen)(hidden, backlog);
	}
	slim_sock_put(s);
	errno = saved_errno;
	return r;
}

/* shutdown() passes through; on a listener it also stops the hidden twin, or Slim clients would
 * complete their handshake with a listener nobody accepts from any more, and hang. (Servers use
 * shutdown() to wake threads blocked in accept(); those wake on the app fd.) */
SLIM_EXPORT int shutdown(int fd, int how)
{
	int r = REAL(shutdown)(fd, how);
	if (r != 0 || !slim_fd_known(fd))
		return r;
	struct slim_sock *s = slim_fd_get(fd);
	if (!s)
		return r;
	if (s->kind == SLIM_LISTENER) {
		slim_lock();
		int hidden = s->hidden;
		slim_unlock();
		int saved = errno;
		if (hidden >= 0)
			REAL(shutdown)(hidden, how);
		errno = saved;
	}
	slim_sock_put(s);
	return r;
}

/* A new fd the app gets from a plain accept: make sure no stale record describes it. */
static int plain_result(int c, bool mark_plain)
{
	if (c < 0)
		return c;
	int saved = errno;
	if (mark_plain)
		slim_fd_set(c, slim_sock_plain());
	else if (slim_fd_known(c))
		slim_fd_forget(c);
	errno = saved;
	return c;
}

/* One connection from the hidden listener, with the overlay peer the router names for it.
 * Connections the router does not vouch for are closed, never handed to the app. Returns the
 * new fd, or -1 with errno (EAGAIN: nothing pending; *broken set if the twin is unusable). */
static int accept_hidden(int hidden, const struct slim_addr *overlay, bool v6,
			 struct sockaddr *addr, socklen_t *addrlen, int flags, bool *broken)
{
	for (;;) {
		struct sockaddr_in hp;
		socklen_t hl = sizeof(hp);
		int c = REAL(accept4)(hidden, (struct sockaddr *)&hp, &hl, flags);
		if (c < 0) {
			/* A twin that is gone or broken (the app closed its number, or shut the
			 * listener down) is just empty: the app's own listener still works. */
			if (errno == EBADF || errno == ENOTSOCK || errno == EINVAL) {
				*broken = true;
				errno = EAGAIN;
			}
			return -1;
		}
		if (slim_fd_known(c))
			slim_fd_forget(c);
		struct slim_peer req;
		memset(&req, 0, sizeof(req));
		if (hl == sizeof(hp) && hp.sin_family == AF_INET)
			slim_addr_from_sin(&req.host_peer, &hp);
		req.listen = *overlay;
		socklen_t cl = sizeof(req.cookie);
		if (REAL(getsockopt)(c, SOL_SOCKET, SO_COOKIE, &req.cookie, &cl) != 0)
			req.cookie = 0;
		struct slim_peer_reply rep;
		struct slim_sock *rec = NULL;
		if (slim_router_call(&req, sizeof(req), SLIM_MSG_PEER, &rep, sizeof(rep),
				     SLIM_MSG_PEER_REPLY, false, NULL) == 0 &&
		    rep.status == SLIM_STATUS_OK)
			rec = slim_sock_new(SLIM_ACCEPTED);
		if (!rec) {
			SLIM_DEBUG("hidden accept: connection refused by the router, closed");
			REAL(close)(c);
			continue;
		}
		rec->local = rep.local;
		rec->peer = rep.peer;
		rec->v6 = v6; /* a dual-stack listener's connections show ::ffff:a.b.c.d */
		slim_fd_set(c, rec);
		slim_fill_sockaddr(&rep.peer, v6, addr, addrlen);
		return c;
	}
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int listener_accept(int fd, struct slim_sock *s, struct sockaddr *addr,
			   socklen_t *addrlen, int flags)
{
	slim_lock();
	int hidden = s->hidden;
	struct slim_addr overlay = s->overlay;
	bool v6 = s->v6;
	int64_t rcvtimeo = s->opts.set & SLIM_OPT_RCVTIMEO ? s->opts.rcvtimeo_us : 0;
	slim_unlock();
	if (hidden < 0)
		return plain_result(REAL(accept4)(fd, addr, addrlen, flags), true);
	/* The kernel's argument checks, before anything is taken off a queue (or waited for). */
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
		errno = EINVAL;
		return -1;
	}
	if (addr && !addrlen) {
		errno = EFAULT;
		return -1;
	}
	if (addrlen && *addrlen > INT_MAX) {
		errno = EINVAL;
		return -1;
	}
	/* Blocking or not is the app's choice, read now: it may have used ioctl(FIONBIO), which
	 * therefore needs no interposition. */
	int fl = REAL(fcntl)(fd, F_GETFL);
	if (fl < 0)
		return -1;
	bool nonblock = fl & O_NONBLOCK;
	int timeout = slim_timeout_ms(rcvtimeo);
	double deadline = timeout > 0 ? now_ms() + timeout : 0;

	for (;;) {
		bool ready[2] = {true, hidden >= 0}; /* [0] app fd, [1] hidden fd */
		if (!nonblock) {
			int left = timeout;
			if (timeout > 0) {
				double d = deadline - now_ms();
				left = d <= 0 ? 0 : d >= INT_MAX ? INT_MAX : (int)d + 1;
			}
			/* poll() ignores a negative fd: a broken twin is left out. */
			struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
					      {.fd = hidden, .events = POLLIN}};
			int n = REAL(poll)(p, 2, left);
			if (n < 0)
				return -1; /* EINTR: as from an interrupted accept() */
			if (n == 0) {
				errno = EAGAIN; /* SO_RCVTIMEO ran out, as accept() reports it */
				return -1;
			}
			ready[0] = p[0].revents != 0;
			ready[1] = p[1].revents != 0;
		}
		/* Alternate which queue goes first, so neither starves the other. A blocking app
		 * fd is only accepted from once poll() says it has a connection; another process
		 * sharing the listener can still take it first, and then this accept() blocks
		 * on the app fd like a plain one would. */
		unsigned first = atomic_fetch_add_explicit(&s->turn, 1, memory_order_relaxed) & 1;
		for (unsigned k = 0; k < 2; k++) {
			unsigned which = first ^ k;
			if (!ready[which])
				continue;
			bool broken = false;
			int c = which == 0
					? REAL(accept4)(fd, addr, addrlen, flags)
					: accept_hidden(hidden, &overlay, v6, addr, addrlen, flags,
							&broken);
			if (c >= 0)
				return which == 0 ? plain_result(c, true) : c;
			if (broken) {
				hidden = -1;
				ready[1] = false;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
		}
		if (nonblock) {
			errno = EAGAIN;
			return -1;
		}
	}
}

static int do_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	if (!slim_fd_known(fd))
		return plain_result(REAL(accept4)(fd, addr, addrlen, flags), false);
	struct slim_sock *s = slim_fd_get(fd);
	if (!s)
		return plain_result(REAL(accept4)(fd, addr, addrlen, flags), false);
	int c;
	if (s->kind == SLIM_LISTENER)
		c = listener_accept(fd, s, addr, addrlen, flags);
	else
		c = plain_result(REAL(accept4)(fd, addr, addrlen, flags),
				 s->kind == SLIM_PLAIN || s->kind == SLIM_UNCONNECTED);
	int saved = errno;
	slim_sock_put(s);
	errno = saved;
	return c;
}

SLIM_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	if (!slim_fd_known(fd))
		return plain_result(REAL(accept)(fd, addr, addrlen), false);
	return do_accept(fd, addr, addrlen, 0);
}

SLIM_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	return do_accept(fd, addr, addrlen, flags);
}
