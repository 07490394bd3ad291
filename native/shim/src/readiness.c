/* epoll_ctl(), poll() and friends, select() and pselect(): readiness of an app listener must
 * include its hidden twin. The app's epoll gets the listener's private epoll fd (which holds both)
 * in place of the app fd; poll() and select() get it in a copy of their sets, and the results are
 * mapped back. Sets without a listener pass straight through. epoll_wait() needs nothing: the
 * events carry the app's own data. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "fd_table.h"
#include "real_calls.h"
#include "shim.h"

/* ---- epoll_ctl ---- */

/* Unconnected sockets: remember registrations for the connect()/listen() swap. */
static int unconnected_ctl(struct slim_sock *s, int epfd, int op, int fd, struct epoll_event *ev)
{
	int r = REAL(epoll_ctl)(epfd, op, fd, ev);
	if (r == 0) {
		slim_lock();
		slim_sock_note_epoll(s, epfd, op, ev);
		slim_unlock();
	}
	return r;
}

/* Listeners: the private epoll fd stands in for the app fd, except for EPOLLEXCLUSIVE, which the
 * kernel refuses on an epoll fd: those register the app fd and the hidden fd side by side. MOD
 * and DEL find out which by trying the private fd first. */
static int listener_ctl(struct slim_sock *s, int epfd, int op, int fd, struct epoll_event *ev)
{
	slim_lock();
	int hidden = s->hidden, privep = s->privep;
	slim_unlock();
	if (privep < 0)
		return REAL(epoll_ctl)(epfd, op, fd, ev);
	int r, e;
	switch (op) {
	case EPOLL_CTL_ADD:
		if (!ev || !(ev->events & EPOLLEXCLUSIVE))
			return REAL(epoll_ctl)(epfd, op, privep, ev);
		r = REAL(epoll_ctl)(epfd, op, fd, ev);
		if (r != 0 || hidden < 0)
			return r;
		if (REAL(epoll_ctl)(epfd, op, hidden, ev) != 0) {
			e = errno;
			REAL(epoll_ctl)(epfd, EPOLL_CTL_DEL, fd, NULL);
			errno = e;
			return -1;
		}
		return 0;
	case EPOLL_CTL_MOD:
	case EPOLL_CTL_DEL:
		r = REAL(epoll_ctl)(epfd, op, privep, ev);
		if (r == 0 || errno != ENOENT)
			return r;
		r = REAL(epoll_ctl)(epfd, op, fd, ev);
		if (r == 0 && hidden >= 0) {
			e = errno;
			REAL(epoll_ctl)(epfd, op, hidden, ev);
			errno = e;
		}
		return r;
	default:
		return REAL(epoll_ctl)(epfd, op, fd, ev);
	}
}

SLIM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (!slim_fd_known(fd))
		return REAL(epoll_ctl)(epfd, op, fd, ev);
	struct slim_sock *s = slim_fd_get(fd);
	if (!s)
		return REAL(epoll_ctl)(epfd, op, fd, ev);
	int r;
	if (s->kind == SLIM_UNCONNECTED)
		r = unconnected_ctl(s, epfd, op, fd, ev);
	else if (s->kind == SLIM_LISTENER)
		r = listener_ctl(s, epfd, op, fd, ev);
	else
		r = REAL(epoll_ctl)(epfd, op, fd, ev);
	int e = errno;
	slim_sock_put(s);
	errno = e;
	return r;
}

/* ---- poll family ---- */

/* The private epoll fd standing in for fd, or -1 (lock held). */
static int stand_in_locked(int fd)
{
	struct slim_sock *s = slim_fd_get_locked(fd);
	if (!s)
		return -1;
	int privep = s->kind == SLIM_LISTENER ? s->privep : -1;
	slim_sock_put(s); /* never the last reference: the slot holds one */
	return privep;
}

#define POLL_STACK 64

/* A copy of fds with listeners replaced, or NULL when none is there (or no memory: then the
 * listeners report only overlay clients for this call). */
static struct pollfd *poll_copy(const struct pollfd *fds, nfds_t nfds, struct pollfd *stack)
{
	nfds_t i;
	for (i = 0; i < nfds && !slim_fd_known(fds[i].fd); i++)
		;
	if (i == nfds)
		return NULL;
	struct pollfd *copy = NULL;
	slim_lock();
	for (; i < nfds; i++) {
		if (!slim_fd_known(fds[i].fd))
			continue;
		int privep = stand_in_locked(fds[i].fd);
		if (privep < 0)
			continue;
		if (!copy) {
			copy = nfds <= POLL_STACK ? stack : malloc(nfds * sizeof(*copy));
			if (!copy)
				break;
			memcpy(copy, fds, nfds * sizeof(*copy));
		}
		copy[i].fd = privep;
	}
	slim_unlock();
	return copy;
}

static void poll_copy_back(struct pollfd *fds, nfds_t nfds, struct pollfd *copy,
			   struct pollfd *stack)
{
	int e = errno;
	for (nfds_t i = 0; i < nfds; i++)
		fds[i].revents = copy[i].revents;
	if (copy != stack)
		free(copy);
	errno = e;
}

/* glibc declares poll()'s array write-only (access attribute), so GCC believes the entries are
 * uninitialised when read here; poll() of course reads them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
SLIM_EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct pollfd stack[POLL_STACK];
	struct pollfd *copy = poll_copy(fds, nfds, stack);
	if (!copy)
		return REAL(poll)(fds, nfds, timeout);
	int r = REAL(poll)(copy, nfds, timeout);
	poll_copy_back(fds, nfds, copy, stack);
	return r;
}

SLIM_EXPORT int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
		      const sigset_t *sigmask)
{
	struct pollfd stack[POLL_STACK];
	struct pollfd *copy = poll_copy(fds, nfds, stack);
	if (!copy)
		return REAL(ppoll)(fds, nfds, tmo, sigmask);
	int r = REAL(ppoll)(copy, nfds, tmo, sigmask);
	poll_copy_back(fds, nfds, copy, stack);
	return r;
}

#pragma GCC diagnostic pop

/* _FORTIFY_SOURCE builds call these (memcached does): the size check stays libc's. */
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
		const sigset_t *sigmask, size_t fdslen);
SLIM_EXPORT int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < nfds) {
		if (REAL(poll_chk))
			return REAL(poll_chk)(fds, nfds, timeout, fdslen);
		abort();
	}
	return poll(fds, nfds, timeout);
}

SLIM_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
			    const sigset_t *sigmask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < nfds) {
		if (REAL(ppoll_chk))
			return REAL(ppoll_chk)(fds, nfds, tmo, sigmask, fdslen);
		abort();
	}
	return ppoll(fds, nfds, tmo, sigmask);
}

/* ---- select family ---- */

#define WBITS (8 * sizeof(unsigned long))
#define NWORDS (FD_SETSIZE / WBITS)

/* fd_set as plain words, copied in and out with memcpy: only the bytes covering nfds are the
 * app's (it may have allocated no more). */
struct wset {
	unsigned long w[NWORDS];
};

static bool bit(const struct wset *s, int fd)
{
	return (s->w[(unsigned)fd / WBITS] >> ((unsigned)fd % WBITS)) & 1u;
}

static void set_bit(struct wset *s, int fd, bool on)
{
	unsigned long m = 1ul << ((unsigned)fd % WBITS);
	if (on)
		s->w[(unsigned)fd / WBITS] |= m;
	else
		s->w[(unsigned)fd / WBITS] &= ~m;
}

struct stand_in {
	int fd, privep;
};

/* Listeners in the sets and their stand-ins; returns how many (0: pass straight through). */
static int select_stand_ins(int nfds, fd_set *sets[3], struct wset in[3], size_t nbytes,
			    struct stand_in *map)
{
	bool any = false;
	for (int k = 0; k < 3; k++) {
		memset(&in[k], 0, sizeof(in[k]));
		if (sets[k])
			memcpy(in[k].w, sets[k], nbytes);
	}
	for (int fd = 0; fd < nfds && !any; fd++)
		any = (bit(&in[0], fd) || bit(&in[1], fd) || bit(&in[2], fd)) && slim_fd_known(fd);
	if (!any)
		return 0;
	int n = 0;
	slim_lock();
	for (int fd = 0; fd < nfds; fd++) {
		if (!(bit(&in[0], fd) || bit(&in[1], fd) || bit(&in[2], fd)) || !slim_fd_known(fd))
			continue;
		int privep = stand_in_locked(fd);
		if (privep >= 0 && privep < FD_SETSIZE)
			map[n++] = (struct stand_in){fd, privep};
	}
	slim_unlock();
	return n;
}

static int popcount_words(const struct wset *s, size_t nwords)
{
	int c = 0;
	for (size_t i = 0; i < nwords; i++)
		c += __builtin_popcountl(s->w[i]);
	return c;
}

typedef int (*select_fn)(int nfds, fd_set *sets[3], void *ctx);

static int select_common(int nfds, fd_set *r, fd_set *w, fd_set *x, select_fn call, void *ctx)
{
	fd_set *user[3] = {r, w, x};
	/* Larger sets than fd_set (some apps allocate them) are left alone. */
	if (nfds <= 0 || nfds > FD_SETSIZE)
		return call(nfds, user, ctx);
	size_t nwords = ((size_t)nfds + WBITS - 1) / WBITS;
	size_t nbytes = nwords * sizeof(unsigned long);
	struct wset in[3], io[3];
	struct stand_in map[FD_SETSIZE];
	int n = select_stand_ins(nfds, user, in, nbytes, map);
	if (n == 0)
		return call(nfds, user, ctx);

	int maxfd = nfds;
	memcpy(io, in, sizeof(io));
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 3; k++) {
			if (user[k] && bit(&in[k], map[i].fd)) {
				set_bit(&io[k], map[i].fd, false);
				set_bit(&io[k], map[i].privep, true);
			}
		}
		if (map[i].privep + 1 > maxfd)
			maxfd = map[i].privep + 1;
	}
	fd_set fs[3];
	fd_set *pass[3];
	for (int k = 0; k < 3; k++) {
		pass[k] = user[k] ? &fs[k] : NULL;
		if (user[k])
			memcpy(&fs[k], io[k].w, sizeof(fs[k]));
	}
	int ret = call(maxfd, pass, ctx);
	if (ret < 0)
		return ret;

	int count = 0;
	for (int k = 0; k < 3; k++) {
		if (!user[k])
			continue;
		struct wset out;
		memcpy(out.w, &fs[k], sizeof(out.w));
		/* Stand-ins report for their listeners; their own bits were never asked for. */
		for (int i = 0; i < n; i++)
			if (bit(&in[k], map[i].fd))
				set_bit(&out, map[i].fd, bit(&out, map[i].privep));
		for (int i = 0; i < n; i++)
			if (!bit(&in[k], map[i].privep))
				set_bit(&out, map[i].privep, false);
		/* Nothing outside the app's nfds. */
		for (size_t wi = nwords; wi < NWORDS; wi++)
			out.w[wi] = 0;
		if (nfds % WBITS)
			out.w[nwords - 1] &= (1ul << (nfds % WBITS)) - 1;
		count += popcount_words(&out, nwords);
		memcpy(user[k], out.w, nbytes);
	}
	return count;
}

struct select_ctx {
	struct timeval *tv;
};

static int call_select(int nfds, fd_set *sets[3], void *ctx)
{
	struct select_ctx *c = ctx;
	return REAL(select)(nfds, sets[0], sets[1], sets[2], c->tv);
}

SLIM_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
	struct select_ctx c = {tv};
	return select_common(nfds, r, w, x, call_select, &c);
}

struct pselect_ctx {
	const struct timespec *ts;
	const sigset_t *mask;
};

static int call_pselect(int nfds, fd_set *sets[3], void *ctx)
{
	struct pselect_ctx *c = ctx;
	return REAL(pselect)(nfds, sets[0], sets[1], sets[2], c->ts, c->mask);
}

SLIM_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, const struct timespec *ts,
			const sigset_t *mask)
{
	struct pselect_ctx c = {ts, mask};
	return select_common(nfds, r, w, x, call_pselect, &c);
}
