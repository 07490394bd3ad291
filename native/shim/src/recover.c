/* After exec the shim starts with an empty table, but the process may have inherited host
 * sockets: replaced connections (their getpeername() must still show overlay addresses) and
 * hidden listeners next to the app listeners they serve (nginx's binary upgrade). Host sockets
 * live in another network namespace than the process; the router knows them by SO_COOKIE.
 * A hidden listener whose app listener is not here is closed: clients would complete the
 * handshake on it and then hang, which is worse than being refused. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fd_table.h"
#include "real_calls.h"
#include "router_channel.h"
#include "shim.h"

struct found {
	int fd;
	struct slim_addr addr; /* app listener: its address; hidden: the overlay address it serves */
	bool v6;               /* app listener: a dual-stack AF_INET6 one (addr: its IPv4 side) */
	int domain;            /* every inherited stream socket: AF_INET or AF_INET6 */
};

struct found_list {
	struct found *v;
	size_t n, cap;
};

static void push(struct found_list *l, int fd, const struct slim_addr *a, int domain, bool v6)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct found *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].fd = fd;
	l->v[l->n].addr = *a;
	l->v[l->n].domain = domain;
	l->v[l->n].v6 = v6;
	l->n++;
}

static int sockopt_int(int fd, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	return REAL(getsockopt)(fd, SOL_SOCKET, name, &v, &len) == 0 ? v : -1;
}

/* The inherited AF_INET and AF_INET6 stream sockets, by fd. */
static void list_inet_streams(struct found_list *out)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	int self = dirfd(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		if (*end || end == de->d_name || fd < 0 || fd == self || fd > 1 << 30)
			continue;
		/* ENOTSOCK for everything that is not a socket: one syscall per fd. */
		int domain = sockopt_int((int)fd, SO_DOMAIN);
		if ((domain != AF_INET && domain != AF_INET6) ||
		    sockopt_int((int)fd, SO_TYPE) != SOCK_STREAM)
			continue;
		struct slim_addr none = {0};
		push(out, (int)fd, &none, domain, false);
	}
	closedir(d);
}

static const struct found *match(const struct found_list *apps, const struct slim_addr *a)
{
	for (size_t i = 0; i < apps->n; i++)
		if (apps->v[i].addr.port == a->port && apps->v[i].addr.ip == a->ip)
			return &apps->v[i];
	for (size_t i = 0; i < apps->n; i++)
		if (apps->v[i].addr.port == a->port && (apps->v[i].addr.ip == 0 || a->ip == 0))
			return &apps->v[i];
	return NULL;
}

/* An inherited app listener's address as a hidden listener would serve it: an AF_INET one's own,
 * a dual-stack AF_INET6 one's IPv4 side (:: is 0.0.0.0, ::ffff:a.b.c.d is a.b.c.d). */
static bool app_listener_address(int fd, int domain, struct slim_addr *out)
{
	if (domain == AF_INET) {
		struct sockaddr_in sin;
		socklen_t sl = sizeof(sin);
		if (REAL(getsockname)(fd, (struct sockaddr *)&sin, &sl) != 0 || sl != sizeof(sin))
			return false;
		slim_addr_from_sin(out, &sin);
		return true;
	}
	struct sockaddr_in6 sin6;
	socklen_t sl = sizeof(sin6);
	uint32_t ip;
	if (REAL(getsockname)(fd, (struct sockaddr *)&sin6, &sl) != 0 || sl != sizeof(sin6) ||
	    !slim_v4_of_v6(&sin6.sin6_addr, &ip) || !slim_dual_stack(fd))
		return false;
	out->ip = ip;
	out->port = sin6.sin6_port;
	out->pad = 0;
	return true;
}

void slim_recover_inherited(void)
{
	int saved = errno;
	struct found_list all = {0}, apps = {0}, hidden = {0};
	list_inet_streams(&all);
	uint64_t own = all.n ? slim_own_netns_cookie() : 0;
	bool router_ok = true;
	for (size_t i = 0; own && i < all.n; i++) {
		int fd = all.v[i].fd;
		uint64_t ns = 0, cookie = 0;
		socklen_t len = sizeof(ns);
		if (REAL(getsockopt)(fd, SOL_SOCKET, SO_NETNS_COOKIE, &ns, &len) != 0)
			continue;
		if (ns == own) {
			struct slim_addr a;
			if (sockopt_int(fd, SO_ACCEPTCONN) == 1 &&
			    app_listener_address(fd, all.v[i].domain, &a))
				push(&apps, fd, &a, all.v[i].domain, all.v[i].domain == AF_INET6);
			continue;
		}
		if (all.v[i].domain != AF_INET)
			continue; /* host sockets are the router's, all AF_INET */
		len = sizeof(cookie);
		if (!router_ok || REAL(getsockopt)(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0)
			continue;
		struct slim_identify req;
		struct slim_identify_reply rep;
		memset(&req, 0, sizeof(req));
		req.cookie = cookie;
		if (slim_router_call(&req, sizeof(req), SLIM_MSG_IDENTIFY, &rep, sizeof(rep),
				     SLIM_MSG_IDENTIFY_REPLY, false, NULL) != 0) {
			router_ok = false; /* no router: leave them; getpeername() asks again */
			continue;
		}
		if (rep.status != SLIM_STATUS_OK)
			continue;
		if (rep.kind == SLIM_KIND_CONNECTION) {
			struct slim_sock *s = slim_sock_new(SLIM_ACCEPTED);
			if (s) {
				s->local = rep.local;
				s->peer = rep.peer;
				slim_fd_set(fd, s);
			}
		} else if (rep.kind == SLIM_KIND_LISTENER) {
			push(&hidden, fd, &rep.local, AF_INET, false);
		}
	}
	for (size_t i = 0; i < hidden.n; i++) {
		const struct found *app = match(&apps, &hidden.v[i].addr);
		if (app && !slim_fd_known(app->fd)) {
			/* On failure adopt has closed the hidden fd already. */
			bool ok = slim_listener_adopt(app->fd, hidden.v[i].fd, &hidden.v[i].addr,
						      app->v6);
			SLIM_DEBUG("after exec: listener fd %d %s", app->fd,
				   ok ? "re-paired with its hidden twin" : "could not be re-paired");
			continue;
		}
		SLIM_DEBUG("after exec: orphaned hidden listener fd %d closed", hidden.v[i].fd);
		REAL(close)(hidden.v[i].fd);
	}
	free(all.v);
	free(apps.v);
	free(hidden.v);
	errno = saved;
}
