/* The client half of the shim's semantics tests (and, built with -static, a client the shim can
 * never touch). Connects to --server IP:PORT and speaks the protocol in common.h, checking every
 * address it sees. --mode:
 *   block          blocking connect()
 *   nonblock       non-blocking connect(): EINPROGRESS, then writable, SO_ERROR 0
 *   epoll-before   non-blocking socket registered in epoll (EPOLLOUT|EPOLLET) before connect():
 *                  exactly one event, with the app's data, and no error/hangup
 *   refused        --server names a port nobody listens on: ECONNREFUSED, blocking and not
 *   concurrent     --conns N connections in flight at once, each with its own id
 *   dup            dup/F_DUPFD_CLOEXEC/dup3/dup2/close keep the connection and its flags
 *   exec           the connection survives exec: a child exec'd with the fd inherited talks on it
 *   sockopts       options set before connect() are on the connected socket
 *   resume         run with this side's router stopped: the first connection must take the
 *                  overlay (prints "FIRST overlay"); then one connection every 200 ms until one
 *                  is on a host socket again, i.e. the shim reconnected to a restarted router
 *   v6-straight    (no server needed) AF_INET6 sockets Slim must leave alone: a connect() to a
 *                  real IPv6 address (::1), one to ::ffff:127.0.0.1, and one from an IPV6_V6ONLY
 *                  socket to ::ffff:<server> (the kernel's ENETUNREACH); a listener on [::]
 *                  with IPV6_V6ONLY gets no hidden twin, one without does
 * Options: --self IP (this side's expected overlay IP), --id N, --payload BYTES,
 *   --expect slim|overlay|any (must the connection be on a host socket?), --timeout S,
 *   --family 4|6 (6: AF_INET6 sockets connect to ::ffff:<server>; every address shown must be
 *   the exact v4-mapped sockaddr_in6, see common.c).
 * Prints "OK <mode>" and exits 0 on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static struct {
	struct sockaddr_in server;
	struct sockaddr_storage server_sa; /* the server as the family's sockets name it */
	socklen_t server_len;
	struct in_addr self;
	bool have_self;
	const char *mode, *expect;
	unsigned id;
	int conns, child_fd, timeout;
	size_t payload;
} cfg = {.mode = "block", .expect = "any", .id = 1, .conns = 200, .child_fd = -1,
	 .timeout = 60, .payload = 1000};

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "t_client: FAIL: timed out\n";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	(void)w;
	_exit(2);
}

static const struct in_addr *self_ip(void)
{
	return cfg.have_self ? &cfg.self : NULL;
}

static void check_path(int fd, const char *what)
{
	bool host = is_host_socket(fd);
	if (!strcmp(cfg.expect, "slim") && !host)
		die("%s: connection is on the overlay, expected a Slim host socket", what);
	if (!strcmp(cfg.expect, "overlay") && host)
		die("%s: connection is on a host socket, expected the overlay", what);
}

static int new_socket(bool nonblock)
{
	int fd = socket(family, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		die_errno("socket");
	return fd;
}

static int so_error(int fd)
{
	int err = -1;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		die_errno("getsockopt(SO_ERROR)");
	return err;
}

static void set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
		die_errno("fcntl");
}

static void exchange(int fd, unsigned id)
{
	struct sockaddr_in me;
	set_io_timeouts(fd, 10);
	client_send(fd, id, cfg.payload, &cfg.server, self_ip(), &me);
	client_check(fd, id, cfg.payload, &cfg.server, &me);
}

static int connect_blocking(void)
{
	int fd = new_socket(false);
	if (connect(fd, (struct sockaddr *)&cfg.server_sa, cfg.server_len) != 0)
		die_errno("blocking connect");
	return fd;
}

static void mode_block(void)
{
	int fd = connect_blocking();
	int fl = fcntl(fd, F_GETFL);
	if (fl & O_NONBLOCK)
		die("blocking connect left the fd non-blocking");
	check_path(fd, "block");
	exchange(fd, cfg.id);
	close(fd);
}

static void mode_nonblock(void)
{
	int fd = new_socket(true);
	int r = connect(fd, (struct sockaddr *)&cfg.server_sa, cfg.server_len);
	if (r != 0 && errno != EINPROGRESS)
		die_errno("non-blocking connect");
	if (!(fcntl(fd, F_GETFL) & O_NONBLOCK))
		die("non-blocking connect left the fd blocking");
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	if (poll(&p, 1, 10000) != 1)
		die("non-blocking connect: not writable within 10 s");
	if (p.revents & (POLLERR | POLLHUP))
		die("non-blocking connect: revents %#x", p.revents);
	if (so_error(fd) != 0)
		die("non-blocking connect: SO_ERROR %s", strerror(so_error(fd)));
	check_path(fd, "nonblock");
	set_blocking(fd);
	exchange(fd, cfg.id);
	close(fd);
}

static void mode_epoll_before(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die_errno("epoll_create1");
	int fd = new_socket(true);
	const uint64_t token = 0xc011ec7ed00dfeedull;
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.u64 = token};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		die_errno("epoll_ctl(ADD) before connect");
	/* A second fd on the same unconnected socket, like a forked child would hold. */
	int keep = dup(fd);
	int r = connect(fd, (struct sockaddr *)&cfg.server_sa, cfg.server_len);
	if (r != 0 && errno != EINPROGRESS)
		die_errno("connect");
	struct epoll_event out[4];
	int n = epoll_wait(ep, out, 4, 10000);
	if (n != 1)
		die("epoll_wait after connect: %d events, expected 1", n);
	if (out[0].data.u64 != token)
		die("epoll event carries data %#llx", (unsigned long long)out[0].data.u64);
	if (!(out[0].events & EPOLLOUT) || (out[0].events & (EPOLLERR | EPOLLHUP)))
		die("epoll event %#x, expected EPOLLOUT alone", out[0].events);
	n = epoll_wait(ep, out, 4, 200);
	if (n != 0)
		die("epoll_wait: %d more events (%#x), expected none", n, out[0].events);
	if (so_error(fd) != 0)
		die("SO_ERROR %s", strerror(so_error(fd)));
	check_path(fd, "epoll-before");
	close(keep);
	n = epoll_wait(ep, out, 4, 200);
	if (n != 0)
		die("epoll_wait after closing the old fd: %d events (%#x)", n, out[0].events);
	set_blocking(fd);
	exchange(fd, cfg.id);
	close(fd);
	close(ep);
}

static void mode_refused(void)
{
	int fd = new_socket(false);
	if (connect(fd, (struct sockaddr *)&cfg.server_sa, cfg.server_len) == 0)
		die("blocking connect to a closed port succeeded");
	if (errno != ECONNREFUSED)
		die("blocking connect to a closed port: %s, expected ECONNREFUSED", strerror(errno));
	close(fd);

	fd = new_socket(true);
	if (connect(fd, (struct sockaddr *)&cfg.server_sa, cfg.server_len) == 0)
		die("non-blocking connect to a closed port succeeded");
	if (errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, 10000) != 1)
			die("non-blocking connect to a closed port: no event within 10 s");
		int err = so_error(fd);
		if (err != ECONNREFUSED)
			die("non-blocking connect to a closed port: SO_ERROR %s", strerror(err));
	} else if (errno != ECONNREFUSED) {
		die("non-blocking connect to a closed port: %s", strerror(errno));
	}
	close(fd);
}

static void mode_concurrent(void)
{
	int n = cfg.conns;
	int *fds = calloc((size_t)n, sizeof(int));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!fds || ep < 0)
		die("setup");
	for (int i = 0; i < n; i++) {
		fds[i] = new_socket(true);
		struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0)
			die_errno("epoll_ctl");
	}
	for (int i = 0; i < n; i++) {
		int r = connect(fds[i], (struct sockaddr *)&cfg.server_sa, cfg.server_len);
		if (r != 0 && errno != EINPROGRESS)
			die("connect #%d: %s", i, strerror(errno));
	}
	int pending = n;
	char *seen = calloc((size_t)n, 1);
	struct sockaddr_in *me = calloc((size_t)n, sizeof(*me));
	if (!seen || !me)
		die("out of memory");
	while (pending) {
		struct epoll_event out[64];
		int k = epoll_wait(ep, out, 64, 10000);
		if (k <= 0)
			die("concurrent: %d connections never became writable", pending);
		for (int j = 0; j < k; j++) {
			uint32_t i = out[j].data.u32;
			if (i >= (uint32_t)n || seen[i])
				continue;
			if (out[j].events & (EPOLLERR | EPOLLHUP))
				die("concurrent #%u: events %#x, SO_ERROR %s", i, out[j].events,
				    strerror(so_error(fds[i])));
			seen[i] = 1;
			pending--;
			epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
			/* Send at once: the server serves one connection at a time. */
			if (so_error(fds[i]) != 0)
				die("concurrent #%u: SO_ERROR %s", i, strerror(so_error(fds[i])));
			check_path(fds[i], "concurrent");
			set_blocking(fds[i]);
			set_io_timeouts(fds[i], 20);
			client_send(fds[i], cfg.id + i, cfg.payload, &cfg.server, self_ip(), &me[i]);
		}
	}
	for (int i = 0; i < n; i++) {
		client_check(fds[i], cfg.id + (unsigned)i, cfg.payload, &cfg.server, &me[i]);
		close(fds[i]);
	}
	free(fds);
	free(seen);
	free(me);
	close(ep);
}

static void check_peer(int fd, const char *what)
{
	struct sockaddr_in sin;
	char a[64], b[64];
	get_name_checked(fd, true, &sin, what);
	if (sin.sin_addr.s_addr != cfg.server.sin_addr.s_addr || sin.sin_port != cfg.server.sin_port)
		die("%s: getpeername %s, expected %s", what, fmt_sin(&sin, a, sizeof(a)),
		    fmt_sin(&cfg.server, b, sizeof(b)));
}

static void expect_cloexec(int fd, bool on, const char *what)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0)
		die("%s: fcntl(F_GETFD): %s", what, strerror(errno));
	if (!!(fl & FD_CLOEXEC) != on)
		die("%s: FD_CLOEXEC is %s", what, fl & FD_CLOEXEC ? "set" : "clear");
}

static void mode_dup(void)
{
	int fd = connect_blocking();
	check_path(fd, "dup");
	int d = dup(fd);
	if (d < 0)
		die_errno("dup");
	check_peer(d, "dup");
	expect_cloexec(d, false, "dup");
	close(fd);
	check_peer(d, "dup after closing the original");
	int d2 = fcntl(d, F_DUPFD_CLOEXEC, 50);
	if (d2 < 50)
		die_errno("fcntl(F_DUPFD_CLOEXEC)");
	expect_cloexec(d2, true, "F_DUPFD_CLOEXEC");
	check_peer(d2, "F_DUPFD_CLOEXEC");
	/* dup3 onto an fd that holds another socket: that one goes, this one takes its place. */
	int other = socket(AF_INET, SOCK_STREAM, 0);
	if (other < 0 || dup2(other, 60) != 60)
		die_errno("dup2 setup");
	close(other);
	if (dup3(d2, 60, O_CLOEXEC) != 60)
		die_errno("dup3");
	expect_cloexec(60, true, "dup3(O_CLOEXEC)");
	check_peer(60, "dup3");
	if (dup2(d, 61) != 61)
		die_errno("dup2");
	expect_cloexec(61, false, "dup2");
	check_peer(61, "dup2");
	close(d);
	close(d2);
	close(61);
	/* A closed fd number reused by something else must not look like the connection. */
	int p[2];
	if (pipe(p) != 0)
		die_errno("pipe");
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	if (getpeername(p[0], (struct sockaddr *)&sin, &len) == 0 || errno != ENOTSOCK)
		die("getpeername on a pipe: %s", strerror(errno));
	close(p[0]);
	close(p[1]);
	exchange(60, cfg.id);
	close(60);
}

static void mode_exec(char **argv)
{
	int fd = connect_blocking();
	check_path(fd, "exec");
	if (dup2(fd, 100) != 100)
		die_errno("dup2");
	close(fd);
	char fdbuf[16], idbuf[16];
	snprintf(fdbuf, sizeof(fdbuf), "%d", 100);
	snprintf(idbuf, sizeof(idbuf), "%u", cfg.id);
	pid_t pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid == 0) {
		char *nargv[40];
		int k = 0;
		for (int i = 0; argv[i] && k < 34; i++) {
			if (!strcmp(argv[i], "--mode") && argv[i + 1]) {
				i++;
				continue;
			}
			nargv[k++] = argv[i];
		}
		nargv[k++] = "--mode";
		nargv[k++] = "exec-child";
		nargv[k++] = "--fd";
		nargv[k++] = fdbuf;
		nargv[k] = NULL;
		execv("/proc/self/exe", nargv);
		die_errno("execv");
	}
	close(100);
	int st;
	if (waitpid(pid, &st, 0) != pid)
		die_errno("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("exec'd child failed (status %#x)", st);
}

static void mode_exec_child(void)
{
	int fd = cfg.child_fd;
	check_peer(fd, "after exec");
	check_path(fd, "after exec");
	exchange(fd, cfg.id);
	close(fd);
}

static int get_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, level, name, &v, &len) != 0)
		die_errno("getsockopt");
	return v;
}

static void mode_sockopts(void)
{
	int fd = new_socket(false);
	int one = 1, buf = 131072, idle = 77;
	struct timeval tv = {.tv_sec = 7};
	/* Twenty years: the kernel takes it (as "forever"); the router's wire check does not. */
	struct timeval forever = {.tv_sec = 20L * 365 * 24 * 3600};
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &forever, sizeof(forever)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		die_errno("setsockopt");
	if (connect(fd, (struct sockaddr *)&cfg.server_sa, cfg.server_len) != 0)
		die_errno("connect");
	check_path(fd, "sockopts");
	if (get_int(fd, IPPROTO_TCP, TCP_NODELAY) != 1)
		die("TCP_NODELAY lost in connect()");
	if (get_int(fd, SOL_SOCKET, SO_KEEPALIVE) != 1)
		die("SO_KEEPALIVE lost in connect()");
	if (get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE) != idle)
		die("TCP_KEEPIDLE lost in connect()");
	if (get_int(fd, SOL_SOCKET, SO_SNDBUF) != 2 * buf)
		die("SO_SNDBUF is %d, expected %d", get_int(fd, SOL_SOCKET, SO_SNDBUF), 2 * buf);
	struct timeval got;
	socklen_t len = sizeof(got);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &got, &len) != 0 || got.tv_sec != 7)
		die("SO_RCVTIMEO lost in connect()");
	exchange(fd, cfg.id);
	close(fd);
}

static void mode_resume(void)
{
	for (unsigned i = 0;; i++) {
		int fd = connect_blocking();
		bool host = is_host_socket(fd);
		exchange(fd, cfg.id + i);
		close(fd);
		if (i == 0) {
			if (host)
				die("resume: the first connection is on a host socket; is the router stopped?");
			printf("FIRST overlay\n");
			fflush(stdout);
		} else if (host) {
			printf("RESUMED after %u overlay connections\n", i);
			return;
		}
		usleep(200000);
	}
}

/* A loopback listener of the given family and address, port chosen by the kernel. */
static int local_listener(int fam, const void *addr, bool v6only, struct sockaddr_storage *out,
			  socklen_t *outlen)
{
	int l = socket(fam, SOCK_STREAM, 0);
	if (l < 0)
		return -1;
	struct sockaddr_storage sa;
	memset(&sa, 0, sizeof(sa));
	socklen_t len;
	if (fam == AF_INET6) {
		int v = v6only;
		if (setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)) != 0)
			die_errno("setsockopt(IPV6_V6ONLY)");
		struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
		memcpy(&s6.sin6_addr, addr, sizeof(s6.sin6_addr));
		memcpy(&sa, &s6, sizeof(s6));
		len = sizeof(s6);
	} else {
		struct sockaddr_in s4 = {.sin_family = AF_INET};
		memcpy(&s4.sin_addr, addr, sizeof(s4.sin_addr));
		memcpy(&sa, &s4, sizeof(s4));
		len = sizeof(s4);
	}
	if (bind(l, (struct sockaddr *)&sa, len) != 0 || listen(l, 8) != 0) {
		close(l);
		return -1;
	}
	*outlen = sizeof(*out);
	if (getsockname(l, (struct sockaddr *)out, outlen) != 0)
		die_errno("getsockname(local listener)");
	return l;
}

/* Connects an AF_INET6 socket to dst (a listener of this process), which must stay on the
 * overlay (here: this namespace's loopback), with the kernel's own addresses. */
static void straight_connect(int l, const struct sockaddr_in6 *dst, const char *what)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0)
		die_errno("socket(AF_INET6)");
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) != 0)
		die("%s: connect: %s", what, strerror(errno));
	if (is_host_socket(fd))
		die("%s: replaced by a host socket", what);
	struct sockaddr_in6 peer;
	socklen_t len = sizeof(peer);
	memset(&peer, 0xa5, sizeof(peer));
	if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0 || len != sizeof(peer) ||
	    peer.sin6_family != AF_INET6 || peer.sin6_port != dst->sin6_port ||
	    memcmp(&peer.sin6_addr, &dst->sin6_addr, sizeof(peer.sin6_addr)) != 0)
		die("%s: getpeername is not the destination", what);
	int c = accept(l, NULL, NULL);
	if (c < 0)
		die("%s: accept: %s", what, strerror(errno));
	write_all(fd, "x", 1, what);
	char ch;
	if (read(c, &ch, 1) != 1 || ch != 'x')
		die("%s: the byte did not arrive", what);
	close(c);
	close(fd);
}

static int host_sockets(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++) {
		int dom;
		socklen_t dl = sizeof(dom);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) == 0 && is_host_socket(fd))
			n++;
	}
	return n;
}

static void mode_v6_straight(void)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	/* A real IPv6 destination. */
	int l = local_listener(AF_INET6, &in6addr_loopback, true, &ss, &sl);
	if (l < 0) {
		note("no IPv6 loopback here (%s): the ::1 check is skipped", strerror(errno));
	} else {
		struct sockaddr_in6 dst;
		memcpy(&dst, &ss, sizeof(dst));
		straight_connect(l, &dst, "connect to [::1]");
		close(l);
	}
	/* ::ffff:127.0.0.1: IPv4 loopback is the container's own. */
	struct in_addr lo4 = {.s_addr = htonl(INADDR_LOOPBACK)};
	l = local_listener(AF_INET, &lo4, false, &ss, &sl);
	if (l < 0)
		die_errno("listener on 127.0.0.1");
	struct sockaddr_in lo;
	memcpy(&lo, &ss, sizeof(lo));
	struct sockaddr_in6 dst;
	v4_mapped(&lo, &dst);
	straight_connect(l, &dst, "connect to [::ffff:127.0.0.1]");
	close(l);
	/* An IPV6_V6ONLY socket cannot reach an IPv4 peer: the kernel says so, not the shim. */
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		die_errno("v6only socket");
	v4_mapped(&cfg.server, &dst);
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0)
		die("an IPV6_V6ONLY socket connected to ::ffff:<server>");
	if (errno != ENETUNREACH)
		die("IPV6_V6ONLY socket to ::ffff:<server>: %s, expected ENETUNREACH", strerror(errno));
	close(fd);
	/* Listeners on [::]: IPv6-only gets no hidden twin, dual-stack gets one. */
	int before = host_sockets();
	l = local_listener(AF_INET6, &in6addr_any, true, &ss, &sl);
	if (l < 0)
		die_errno("IPV6_V6ONLY listener on [::]");
	if (host_sockets() != before)
		die("an IPV6_V6ONLY listener on [::] got a hidden listener");
	close(l);
	l = local_listener(AF_INET6, &in6addr_any, false, &ss, &sl);
	if (l < 0)
		die_errno("dual-stack listener on [::]");
	if (host_sockets() != before + 1)
		die("a dual-stack listener on [::] has %d hidden listeners, expected 1",
		    host_sockets() - before);
	close(l);
	if (host_sockets() != before)
		die("closing the dual-stack listener left its hidden listener open");
}

int main(int argc, char **argv)
{
	prog = "t_client";
	bool have_server = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			die("option %s needs a value", a);
		i++;
		if (!strcmp(a, "--server")) {
			parse_ipport(v, &cfg.server);
			have_server = true;
		} else if (!strcmp(a, "--self")) {
			parse_ip(v, &cfg.self);
			cfg.have_self = true;
		} else if (!strcmp(a, "--mode")) {
			cfg.mode = v;
		} else if (!strcmp(a, "--expect")) {
			cfg.expect = v;
		} else if (!strcmp(a, "--id")) {
			cfg.id = (unsigned)strtoul(v, NULL, 10);
		} else if (!strcmp(a, "--conns")) {
			cfg.conns = atoi(v);
		} else if (!strcmp(a, "--payload")) {
			cfg.payload = (size_t)strtoul(v, NULL, 10);
			if (cfg.payload > MAX_PAYLOAD)
				die("--payload at most %d", MAX_PAYLOAD);
		} else if (!strcmp(a, "--fd")) {
			cfg.child_fd = atoi(v);
		} else if (!strcmp(a, "--timeout")) {
			cfg.timeout = atoi(v);
		} else if (!strcmp(a, "--family")) {
			parse_family(v);
		} else {
			die("unknown option %s", a);
		}
	}
	if (!have_server)
		die("--server IP:PORT is required");
	cfg.server_len = to_family(&cfg.server, &cfg.server_sa);
	if (strcmp(cfg.expect, "slim") && strcmp(cfg.expect, "overlay") && strcmp(cfg.expect, "any"))
		die("--expect slim|overlay|any");
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)cfg.timeout);

	if (!strcmp(cfg.mode, "block"))
		mode_block();
	else if (!strcmp(cfg.mode, "nonblock"))
		mode_nonblock();
	else if (!strcmp(cfg.mode, "epoll-before"))
		mode_epoll_before();
	else if (!strcmp(cfg.mode, "refused"))
		mode_refused();
	else if (!strcmp(cfg.mode, "concurrent"))
		mode_concurrent();
	else if (!strcmp(cfg.mode, "dup"))
		mode_dup();
	else if (!strcmp(cfg.mode, "exec"))
		mode_exec(argv);
	else if (!strcmp(cfg.mode, "exec-child"))
		mode_exec_child();
	else if (!strcmp(cfg.mode, "sockopts"))
		mode_sockopts();
	else if (!strcmp(cfg.mode, "resume"))
		mode_resume();
	else if (!strcmp(cfg.mode, "v6-straight"))
		mode_v6_straight();
	else
		die("unknown mode %s", cfg.mode);
	printf("OK %s\n", cfg.mode);
	return 0;
}
