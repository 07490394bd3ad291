/* socket(), bind(), setsockopt(): decide which sockets the shim tracks and remember what the app
 * did to them before connect()/listen(), so the host socket that replaces it can match. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>

#include "fd_table.h"
#include "real_calls.h"
#include "shim.h"

#ifndef SO_RCVTIMEO_NEW
#define SO_RCVTIMEO_NEW 66
#endif
#ifndef SO_SNDTIMEO_NEW
#define SO_SNDTIMEO_NEW 67
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

SLIM_EXPORT int socket(int domain, int type, int protocol)
{
	int fd = REAL(socket)(domain, type, protocol);
	if (fd < 0)
		return fd;
	/* A record left by an fd closed behind our back (fclose of an fdopen'd socket, close_range)
	 * must not describe this new socket. */
	if (slim_fd_known(fd))
		slim_fd_forget(fd);
	if (domain != AF_INET && domain != AF_INET6)
		return fd;
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct slim_sock *s = NULL;
	if (base == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) {
		/* AF_INET6 too: a dual-stack socket can listen for and connect to IPv4 peers
		 * (v4-mapped), and those Slim serves. Out of memory: untracked, on the overlay. */
		s = slim_sock_new(SLIM_UNCONNECTED);
		if (s)
			s->v6 = domain == AF_INET6;
	} else if (domain == AF_INET) {
		s = slim_sock_plain(); /* known, so getsockname() never asks the router about it */
	}
	if (s)
		slim_fd_set(fd, s);
	return fd;
}

SLIM_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	int r = REAL(bind)(fd, addr, len);
	if (r != 0 || !slim_fd_known(fd))
		return r;
	struct slim_sock *s = slim_fd_get(fd);
	if (s) {
		/* An app that chose its local address wants it: connect() then stays on the
		 * overlay. A listener is normally bound; that changes nothing for listen(). */
		slim_lock();
		if (s->kind == SLIM_UNCONNECTED)
			s->bound = true;
		slim_unlock();
		slim_sock_put(s);
	}
	return r;
}

static bool read_int(const void *val, socklen_t len, int32_t *out)
{
	if (!val || len < sizeof(int))
		return false;
	int v;
	memcpy(&v, val, sizeof(v));
	*out = v;
	return true;
}

static int64_t to_us(int64_t sec, int64_t usec)
{
	if (sec > INT64_MAX / 1000000 - 1)
		return INT64_MAX;
	if (sec < INT64_MIN / 1000000 + 1)
		return INT64_MIN;
	return sec * 1000000 + usec;
}

static bool read_timeo(int name, const void *val, socklen_t len, int64_t *out)
{
	if (!val)
		return false;
	if (name == SO_RCVTIMEO_NEW || name == SO_SNDTIMEO_NEW) {
		int64_t tv[2];
		if (len < sizeof(tv))
			return false;
		memcpy(tv, val, sizeof(tv));
		*out = to_us(tv[0], tv[1]);
		return true;
	}
	struct timeval tv;
	if (len < sizeof(tv))
		return false;
	memcpy(&tv, val, sizeof(tv));
	*out = to_us((int64_t)tv.tv_sec, (int64_t)tv.tv_usec);
	return true;
}

/* Records an option the app set successfully, if the wire format carries it. */
static void note_opt(struct slim_sockopts *o, int level, int name, const void *val, socklen_t len)
{
	uint32_t bit = 0;
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_KEEPALIVE:
			bit = read_int(val, len, &o->keepalive) ? SLIM_OPT_KEEPALIVE : 0;
			break;
		case SO_SNDBUF:
			bit = read_int(val, len, &o->sndbuf) ? SLIM_OPT_SNDBUF : 0;
			break;
		case SO_RCVBUF:
			bit = read_int(val, len, &o->rcvbuf) ? SLIM_OPT_RCVBUF : 0;
			break;
		case SO_REUSEADDR:
			bit = read_int(val, len, &o->reuseaddr) ? SLIM_OPT_REUSEADDR : 0;
			break;
		case SO_REUSEPORT:
			bit = read_int(val, len, &o->reuseport) ? SLIM_OPT_REUSEPORT : 0;
			break;
		case SO_LINGER: {
			struct linger l;
			if (val && len >= sizeof(l)) {
				memcpy(&l, val, sizeof(l));
				o->linger_onoff = l.l_onoff;
				o->linger_secs = l.l_linger;
				bit = SLIM_OPT_LINGER;
			}
			break;
		}
		case SO_SNDTIMEO:
		case SO_SNDTIMEO_NEW:
			bit = read_timeo(name, val, len, &o->sndtimeo_us) ? SLIM_OPT_SNDTIMEO : 0;
			break;
		case SO_RCVTIMEO:
		case SO_RCVTIMEO_NEW:
			bit = read_timeo(name, val, len, &o->rcvtimeo_us) ? SLIM_OPT_RCVTIMEO : 0;
			break;
		}
	} else if (level == IPPROTO_TCP) {
		int32_t v;
		switch (name) {
		case TCP_NODELAY:
			bit = read_int(val, len, &o->nodelay) ? SLIM_OPT_NODELAY : 0;
			break;
		case TCP_KEEPIDLE:
			bit = read_int(val, len, &o->keepidle) ? SLIM_OPT_KEEPIDLE : 0;
			break;
		case TCP_KEEPINTVL:
			bit = read_int(val, len, &o->keepintvl) ? SLIM_OPT_KEEPINTVL : 0;
			break;
		case TCP_KEEPCNT:
			bit = read_int(val, len, &o->keepcnt) ? SLIM_OPT_KEEPCNT : 0;
			break;
		case TCP_USER_TIMEOUT:
			if (read_int(val, len, &v)) {
				o->user_timeout = (uint32_t)v;
				bit = SLIM_OPT_USER_TIMEOUT;
			}
			break;
		}
	} else if (level == IPPROTO_IP && name == IP_TOS && val) {
		/* The kernel takes an int, or a single byte. */
		if (len >= sizeof(int)) {
			bit = read_int(val, len, &o->tos) ? SLIM_OPT_TOS : 0;
		} else if (len >= 1) {
			unsigned char c;
			memcpy(&c, val, 1);
			o->tos = c;
			bit = SLIM_OPT_TOS;
		}
	}
	o->set |= bit;
}

#define WIRE_TIMEO_MAX_US SLIM_TIMEO_MAX_US

void slim_opts_for_wire(struct slim_sockopts *o)
{
	if ((o->set & SLIM_OPT_SNDTIMEO) &&
	    (o->sndtimeo_us < 0 || o->sndtimeo_us > WIRE_TIMEO_MAX_US)) {
		o->set &= ~(uint32_t)SLIM_OPT_SNDTIMEO;
		o->sndtimeo_us = 0;
	}
	if ((o->set & SLIM_OPT_RCVTIMEO) &&
	    (o->rcvtimeo_us < 0 || o->rcvtimeo_us > WIRE_TIMEO_MAX_US)) {
		o->set &= ~(uint32_t)SLIM_OPT_RCVTIMEO;
		o->rcvtimeo_us = 0;
	}
}

/* Options that shape the connections a listener hands out; copied onto the hidden listener so
 * Slim clients get the same. Not everything: some options name things that only exist in the
 * container (SO_BINDTODEVICE) or attach programs (reuseport BPF). */
static bool mirror_on_hidden(int level, int name)
{
	if (level == IPPROTO_TCP)
		return name != TCP_ULP && name != TCP_MD5SIG && name != TCP_REPAIR &&
		       name != TCP_REPAIR_QUEUE && name != TCP_REPAIR_OPTIONS &&
		       name != TCP_QUEUE_SEQ;
	if (level == IPPROTO_IP)
		return name == IP_TOS;
	if (level == SOL_SOCKET)
		return name == SO_KEEPALIVE || name == SO_SNDBUF || name == SO_RCVBUF ||
		       name == SO_LINGER || name == SO_RCVLOWAT || name == SO_PRIORITY;
	return false;
}

/* A replaced or accepted host socket (AF_INET) in place of the app's AF_INET6 socket? */
static bool v6_view(const struct slim_sock *s)
{
	return s->v6 && (s->kind == SLIM_REPLACED || s->kind == SLIM_ACCEPTED);
}

bool slim_dual_stack(int fd)
{
	int v = 1;
	socklen_t len = sizeof(v);
	return REAL(getsockopt)(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len) == 0 && v == 0;
}

/* The app's AF_INET6 socket became an AF_INET host socket (connect() to ::ffff:a.b.c.d, or a
 * connection from a dual-stack listener's hidden twin). IPv6-level options on a connection to an
 * IPv4 peer do not touch its packets (those go out with the IPv4 settings: IP_TOS, not
 * IPV6_TCLASS), so setting one succeeds and does nothing, as it would have; except IPV6_V6ONLY,
 * which the kernel refuses on a bound socket. The AF_INET socket itself would say ENOPROTOOPT. */
static int v6_view_setsockopt(int name, const void *val, socklen_t len)
{
	if (name == IPV6_V6ONLY || len < sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	if (!val) {
		errno = EFAULT;
		return -1;
	}
	return 0;
}

SLIM_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (level == IPPROTO_IPV6 && slim_fd_known(fd)) {
		struct slim_sock *v = slim_fd_get(fd);
		bool view = v && v6_view(v);
		if (v)
			slim_sock_put(v);
		if (view)
			return v6_view_setsockopt(name, val, len);
	}
	int r = REAL(setsockopt)(fd, level, name, val, len);
	if (r != 0 || !slim_fd_known(fd))
		return r;
	struct slim_sock *s = slim_fd_get(fd);
	if (!s)
		return r;
	int hidden = -1;
	slim_lock();
	if (s->kind == SLIM_UNCONNECTED || s->kind == SLIM_LISTENER)
		note_opt(&s->opts, level, name, val, len);
	if (s->kind == SLIM_LISTENER)
		hidden = s->hidden;
	slim_unlock();
	if (hidden >= 0 && mirror_on_hidden(level, name)) {
		int saved = errno;
		REAL(setsockopt)(hidden, level, name, val, len);
		errno = saved;
	}
	slim_sock_put(s);
	return r;
}

/* getsockopt() on an AF_INET6 socket that became an AF_INET host socket answers as the app's
 * dual-stack socket would where the family shows: SO_DOMAIN is AF_INET6 and IPV6_V6ONLY is 0 (it
 * reaches IPv4 peers). Other IPv6-level options have nothing behind them and fail with the host
 * socket's ENOPROTOOPT. Everything else is the host socket's own answer. */
SLIM_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	bool domain = level == SOL_SOCKET && name == SO_DOMAIN;
	bool v6only = level == IPPROTO_IPV6 && name == IPV6_V6ONLY;
	if ((!domain && !v6only) || !slim_fd_known(fd))
		return REAL(getsockopt)(fd, level, name, val, len);
	struct slim_sock *s = slim_fd_get(fd);
	bool view = s && v6_view(s);
	if (s)
		slim_sock_put(s);
	if (!view)
		return REAL(getsockopt)(fd, level, name, val, len);
	if (domain) {
		/* The host socket's own call does the argument checks and the copy-out (the int,
		 * truncated to *len); the value is then the app's family. */
		int r = REAL(getsockopt)(fd, level, name, val, len);
		if (r == 0 && val) {
			int v = AF_INET6;
			memcpy(val, &v, *len < sizeof(v) ? *len : sizeof(v));
		}
		return r;
	}
	/* IPV6_V6ONLY, as ipv6_getsockopt answers an int: at most sizeof(int) bytes. */
	if (!len) {
		errno = EFAULT;
		return -1;
	}
	if ((int)*len < 0) {
		errno = EINVAL;
		return -1;
	}
	socklen_t n = *len < sizeof(int) ? *len : sizeof(int);
	if (n && !val) {
		errno = EFAULT;
		return -1;
	}
	int zero = 0;
	if (n)
		memcpy(val, &zero, n);
	*len = n;
	return 0;
}
