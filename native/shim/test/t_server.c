/* The server half of the shim's semantics tests. Listens on --listen IP:PORT, serves --count
 * connections with the protocol in common.h, checking every address the app sees, then exits 0.
 * How it waits for connections is --mode:
 *   blocking       blocking accept4() loop
 *   epoll-lt       non-blocking listener in epoll, level-triggered, one accept per wakeup
 *   epoll-et       edge-triggered, accept until EAGAIN
 *   epoll-oneshot  EPOLLONESHOT, accept until EAGAIN, re-arm with EPOLL_CTL_MOD
 *   poll, ppoll, select, pselect
 *   fork           nginx style: --workers N forked processes share the listener, each with its
 *                  own epoll (--exclusive: EPOLLEXCLUSIVE), non-blocking accept4
 *   threads        --workers N threads block in accept4() on the one listener
 *   reuseport      nginx "reuseport": --workers N forked processes, each with its own listener
 *                  on the same port (SO_REUSEPORT); --expect-spread: every worker must get some
 * Other options:
 *   --accept-flags none|nonblock|cloexec|both   accept4() flags, checked on each new fd (default both)
 *   --expect-slim N / --expect-overlay N   how many connections must arrive on host sockets
 *                  (Slim) / on the overlay; -1 = any (default)
 *   --peers IP,IP  the only peer IPs accept() may report
 *   --epoll-before-listen   register the socket in epoll before listen() (epoll modes)
 *   --relisten     call listen() a second time with another backlog (nginx does)
 *   --reexec       after listen(), exec this program again with the listener inherited
 *   --inherit-fd N use inherited fd N as the listener (what --reexec passes)
 *   --shutdown-after   once --count are served, shutdown() the listener (threads mode: every
 *                  thread blocked in accept() must wake with EINVAL), print "SHUTDOWN", and
 *                  stay --linger S seconds (default 3) so a client can find the port refused
 *   --check-close-range   after listen(): a dup of the listener closed with close_range(), its
 *                  number reused by a pipe, must behave as that pipe in epoll
 *   --family 4|6   6: the listener is an AF_INET6 socket bound to [::]:PORT (dual-stack), and
 *                  every address accept()/getpeername()/getsockname() give must be the exact
 *                  v4-mapped sockaddr_in6 of the IPv4 one; accepted fds must answer SO_DOMAIN
 *                  AF_INET6 and IPV6_V6ONLY 0 (common.c)
 *   --bind-mapped  (family 6) bind to [::ffff:IP]:PORT instead of [::]
 *   --v6only 0|1   (family 6) set IPV6_V6ONLY first (default: leave the system's default)
 *   --expect-twin N   after listen(): N host sockets (hidden listeners) must be in the process
 *   --accept-short    accept4() with a buffer shorter than the address: the kernel's truncation
 *                  (a partial copy, the full length reported) is checked against getpeername()
 *   --timeout S    give up after S seconds (default 60)
 * Prints "READY <port>" on stdout once listening and "OK served N (slim S, overlay O)" at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static struct {
	struct sockaddr_in listen;
	const char *mode;
	int count, workers, expect_slim, expect_overlay, accept_flags, inherit_fd, timeout;
	bool exclusive, epoll_before_listen, relisten, reexec, shutdown_after;
	int linger;
	bool bind_mapped, accept_short;
	int v6only, expect_twin;
	struct in_addr peers[64];
	int npeers;
	char **argv;
} cfg = {.mode = "blocking", .count = 1, .workers = 2, .expect_slim = -1, .expect_overlay = -1,
	 .accept_flags = SOCK_NONBLOCK | SOCK_CLOEXEC, .inherit_fd = -1, .timeout = 60, .linger = 3,
	 .v6only = -1, .expect_twin = -1};

static atomic_int served, served_slim, served_overlay;
static atomic_bool stopping;
static bool check_close_range;
/* glibc >= 2.34 only: weak, so the musl build links and skips the check. */
extern int close_range(unsigned int first, unsigned int last, int flags) __attribute__((weak));
static atomic_int threads_woken;
static int report_fd = -1; /* fork workers: two bytes per connection to the parent */
static int worker_index;
static bool expect_spread;
static int make_listener(int *ep_out);

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "t_server: FAIL: timed out\n";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	(void)w;
	_exit(2);
}

static void handle(int c, const struct sockaddr_in *addr, socklen_t alen)
{
	int fl = fcntl(c, F_GETFL), fdfl = fcntl(c, F_GETFD);
	if (fl < 0 || fdfl < 0)
		die_errno("fcntl on accepted fd");
	if (!!(fl & O_NONBLOCK) != !!(cfg.accept_flags & SOCK_NONBLOCK))
		die("accepted fd: O_NONBLOCK is %s, accept4 flags asked %s",
		    fl & O_NONBLOCK ? "set" : "clear",
		    cfg.accept_flags & SOCK_NONBLOCK ? "SOCK_NONBLOCK" : "none");
	if (!!(fdfl & FD_CLOEXEC) != !!(cfg.accept_flags & SOCK_CLOEXEC))
		die("accepted fd: FD_CLOEXEC is %s, accept4 flags asked %s",
		    fdfl & FD_CLOEXEC ? "set" : "clear",
		    cfg.accept_flags & SOCK_CLOEXEC ? "SOCK_CLOEXEC" : "none");
	if (fcntl(c, F_SETFL, fl & ~O_NONBLOCK) != 0)
		die_errno("fcntl(F_SETFL)");
	set_io_timeouts(c, 10);
	bool slim = is_host_socket(c);
	server_serve(c, addr, alen, &cfg.listen, cfg.peers, cfg.npeers);
	close(c);
	served++;
	if (slim)
		served_slim++;
	else
		served_overlay++;
	if (report_fd >= 0) {
		char b[2] = {slim ? 's' : 'o', (char)worker_index};
		write_all(report_fd, b, 2, "report");
	}
}

/* One accept4(); returns false on EAGAIN. */
static bool accept_one(int l)
{
	struct sockaddr_storage addr;
	memset(&addr, 0xa5, sizeof(addr)); /* anything not written shows */
	socklen_t inlen = cfg.accept_short ? family_short_len() : (socklen_t)sizeof(addr);
	socklen_t alen = inlen;
	int c = accept4(l, (struct sockaddr *)&addr, &alen, cfg.accept_flags);
	if (c < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return false;
		if (atomic_load(&stopping) && errno == EINVAL)
			return false; /* the listener was shut down */
		if (errno == EINTR || errno == ECONNABORTED)
			return true;
		die_errno("accept4");
	}
	/* The kernel copies at most what was passed, reports the full length. */
	if (alen != family_len())
		die("accept4: address length %u, expected %u", (unsigned)alen,
		    (unsigned)family_len());
	if (!untouched(&addr, alen < inlen ? alen : inlen, sizeof(addr)))
		die("accept4 wrote past the %u bytes it was given", (unsigned)inlen);
	struct sockaddr_in peer;
	if (cfg.accept_short) {
		struct sockaddr_storage full;
		socklen_t fl = sizeof(full);
		if (getpeername(c, (struct sockaddr *)&full, &fl) != 0)
			die_errno("getpeername");
		if (memcmp(&addr, &full, inlen) != 0)
			die("accept4 with %u bytes: not the start of the peer's address",
			    (unsigned)inlen);
		from_family(&full, fl, &peer, "accept4");
	} else {
		from_family(&addr, alen, &peer, "accept4");
	}
	handle(c, &peer, sizeof(peer));
	return true;
}

static bool done(void)
{
	return report_fd < 0 && served >= cfg.count;
}

static void set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) != 0)
		die_errno("fcntl(O_NONBLOCK)");
}

static void run_epoll(int l, int ep)
{
	uint32_t events = EPOLLIN;
	bool lt = strcmp(cfg.mode, "epoll-lt") == 0;
	if (strcmp(cfg.mode, "epoll-et") == 0)
		events |= EPOLLET;
	if (strcmp(cfg.mode, "epoll-oneshot") == 0)
		events |= EPOLLONESHOT;
	if (cfg.exclusive)
		events |= EPOLLEXCLUSIVE;
	const uint64_t token = 0x5111d00d0000abcdull;
	if (ep < 0) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0)
			die_errno("epoll_create1");
		struct epoll_event ev = {.events = events, .data.u64 = token};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) != 0)
			die_errno("epoll_ctl(ADD listener)");
	}
	set_nonblock(l, true);
	while (!done()) {
		struct epoll_event out[4];
		int n = epoll_wait(ep, out, 4, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_errno("epoll_wait");
		for (int i = 0; i < n; i++) {
			if (out[i].data.u64 != token)
				die("epoll_wait: event with foreign data %#llx",
				    (unsigned long long)out[i].data.u64);
			if (out[i].events & (EPOLLERR | EPOLLHUP))
				die("epoll_wait: listener reports error/hangup (%#x)", out[i].events);
			if (lt) {
				accept_one(l); /* the rest must fire again */
			} else {
				while (accept_one(l) && !done())
					;
			}
		}
		if (events & EPOLLONESHOT) {
			struct epoll_event ev = {.events = events, .data.u64 = token};
			if (epoll_ctl(ep, EPOLL_CTL_MOD, l, &ev) != 0)
				die_errno("epoll_ctl(MOD re-arm)");
		}
	}
	close(ep);
}

static void run_poll(int l, bool use_ppoll)
{
	set_nonblock(l, true);
	while (!done()) {
		/* A pipe next to the listener: entries that are not listeners must stay as they are. */
		int p[2];
		if (pipe(p) != 0)
			die_errno("pipe");
		struct pollfd fds[3] = {{.fd = p[0], .events = POLLIN},
					{.fd = l, .events = POLLIN},
					{.fd = -1, .events = POLLIN}};
		/* A count the compiler cannot see: fortified builds then call __poll_chk/__ppoll_chk. */
		volatile nfds_t count = 3;
		int n;
		if (use_ppoll) {
			struct timespec ts = {.tv_sec = 5};
			n = ppoll(fds, count, &ts, NULL);
		} else {
			n = poll(fds, count, 5000);
		}
		if (n < 0 && errno == EINTR)
			goto next;
		if (n < 0)
			die_errno("poll");
		if (fds[0].revents || fds[2].revents)
			die("poll: revents on entries that are not ready (%#x, %#x)", fds[0].revents,
			    fds[2].revents);
		if (fds[1].fd != l || fds[0].fd != p[0])
			die("poll: the app's array was changed");
		if (n != (fds[1].revents ? 1 : 0))
			die("poll returned %d with listener revents %#x", n, fds[1].revents);
		if (fds[1].revents & ~POLLIN)
			die("poll: listener revents %#x", fds[1].revents);
		if (fds[1].revents)
			while (accept_one(l) && !done())
				;
next:
		close(p[0]);
		close(p[1]);
	}
}

static void run_select(int l, bool use_pselect)
{
	set_nonblock(l, true);
	while (!done()) {
		int p[2];
		if (pipe(p) != 0)
			die_errno("pipe");
		fd_set r, w;
		FD_ZERO(&r);
		FD_ZERO(&w);
		FD_SET(l, &r);
		FD_SET(p[0], &r);
		FD_SET(p[1], &w); /* always writable */
		int nfds = (l > p[1] ? l : p[1]) + 1;
		int n;
		if (use_pselect) {
			struct timespec ts = {.tv_sec = 5};
			n = pselect(nfds, &r, &w, NULL, &ts, NULL);
		} else {
			struct timeval tv = {.tv_sec = 5};
			n = select(nfds, &r, &w, NULL, &tv);
		}
		if (n < 0 && errno == EINTR)
			goto next;
		if (n < 0)
			die_errno("select");
		if (FD_ISSET(p[0], &r))
			die("select: empty pipe reported readable");
		if (!FD_ISSET(p[1], &w))
			die("select: pipe not reported writable");
		for (int fd = 0; fd < FD_SETSIZE; fd++)
			if ((FD_ISSET(fd, &r) && fd != l) || (FD_ISSET(fd, &w) && fd != p[1]))
				die("select: fd %d reported but never asked for", fd);
		if (n != 1 + (FD_ISSET(l, &r) ? 1 : 0))
			die("select returned %d", n);
		if (FD_ISSET(l, &r))
			while (accept_one(l) && !done())
				;
next:
		close(p[0]);
		close(p[1]);
	}
}

static void run_blocking(int l)
{
	set_nonblock(l, false);
	while (!done())
		accept_one(l);
}

static void run_fork(int l)
{
	int p[2];
	if (pipe(p) != 0)
		die_errno("pipe");
	pid_t pids[64];
	int nw = cfg.workers > 64 ? 64 : cfg.workers;
	for (int i = 0; i < nw; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die_errno("fork");
		if (pids[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(p[0]);
			report_fd = p[1];
			worker_index = i;
			int ep = -1;
			if (l < 0) { /* reuseport: a listener of its own */
				l = make_listener(&ep);
				char b[2] = {'r', (char)i};
				write_all(report_fd, b, 2, "report");
			}
			run_epoll(l, ep); /* forever: the parent ends it */
			_exit(0);
		}
	}
	close(p[1]);
	if (l >= 0)
		close(l); /* like nginx's master: only the workers accept */
	int ready = l >= 0 ? nw : 0, per_worker[64] = {0};
	while (served < cfg.count) {
		char b[2];
		ssize_t n = read(p[0], b, 2);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 2)
			die("a worker died (served %d of %d)", (int)served, cfg.count);
		if (b[0] == 'r') {
			if (++ready == nw) {
				printf("READY %u\n", ntohs(cfg.listen.sin_port));
				fflush(stdout);
			}
			continue;
		}
		served++;
		per_worker[(unsigned char)b[1] % 64]++;
		if (b[0] == 's')
			served_slim++;
		else
			served_overlay++;
	}
	for (int i = 0; expect_spread && i < nw; i++)
		if (per_worker[i] == 0)
			die("worker %d served nothing of %d connections", i, cfg.count);
	for (int i = 0; i < nw; i++)
		kill(pids[i], SIGTERM);
	for (int i = 0; i < nw; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
			die("worker %d exited %d", (int)pids[i], WEXITSTATUS(st));
	}
}

static void *accept_thread(void *arg)
{
	int l = *(int *)arg;
	while (accept_one(l) || !atomic_load(&stopping))
		; /* the main thread ends the process when enough are served */
	atomic_fetch_add(&threads_woken, 1);
	return NULL;
}

static void run_threads(int l)
{
	set_nonblock(l, false);
	static int fd;
	fd = l;
	int n = cfg.workers > 64 ? 64 : cfg.workers;
	for (int i = 0; i < n; i++) {
		pthread_t th;
		if (pthread_create(&th, NULL, accept_thread, &fd) != 0)
			die("pthread_create");
		pthread_detach(th);
	}
	while (served < cfg.count)
		usleep(10000);
	if (!cfg.shutdown_after)
		return;
	atomic_store(&stopping, true);
	if (shutdown(l, SHUT_RDWR) != 0)
		die_errno("shutdown(listener)");
	for (int i = 0; i < 500 && atomic_load(&threads_woken) < n; i++)
		usleep(10000);
	if (atomic_load(&threads_woken) != n)
		die("shutdown() woke %d of %d threads blocked in accept()", atomic_load(&threads_woken), n);
}

/* An fd closed with close_range() must be forgotten: a pipe that gets its number is a pipe. */
static void close_range_check(int l)
{
	if (!close_range) {
		note("close_range() not in this libc: check skipped");
		return;
	}
	int d = dup(l);
	if (d < 0)
		die_errno("dup");
	if (close_range((unsigned)d, (unsigned)d, 0) != 0) {
		if (errno != ENOSYS)
			die_errno("close_range");
		/* musl: the weak symbol found the shim's close_range, which has no libc one. */
		note("close_range() not in this libc: check skipped");
		close(d);
		return;
	}
	int p[2];
	if (pipe(p) != 0)
		die_errno("pipe");
	if (p[0] != d)
		die("pipe did not reuse fd %d", d);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) != 0)
		die_errno("epoll_ctl(ADD pipe)");
	write_all(p[1], "x", 1, "pipe");
	struct epoll_event out;
	if (epoll_wait(ep, &out, 1, 1000) != 1 || out.data.u64 != 77)
		die("a pipe on the number of a listener closed by close_range() is not seen by epoll");
	close(ep);
	close(p[0]);
	close(p[1]);
}

static void parse_peers(char *s)
{
	for (char *tok = strtok(s, ","); tok && cfg.npeers < 64; tok = strtok(NULL, ","))
		parse_ip(tok, &cfg.peers[cfg.npeers++]);
}

/* The listener's own address as the server's checks want it: the IPv4 address given with
 * --listen (0.0.0.0 for a dual-stack [::]) and the port the listener has. */
static void listener_name(int l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(l, (struct sockaddr *)&ss, &len) != 0)
		die_errno("getsockname(listener)");
	if (family == AF_INET) {
		if (len != sizeof(cfg.listen))
			die("getsockname(listener): length %u", (unsigned)len);
		memcpy(&cfg.listen, &ss, sizeof(cfg.listen));
		return;
	}
	struct sockaddr_in6 sin6;
	if (len != sizeof(sin6))
		die("getsockname(listener): length %u, not an AF_INET6 address", (unsigned)len);
	memcpy(&sin6, &ss, sizeof(sin6));
	if (sin6.sin6_family != AF_INET6)
		die("getsockname(listener): family %d", sin6.sin6_family);
	cfg.listen.sin_port = sin6.sin6_port;
	if (IN6_IS_ADDR_UNSPECIFIED(&sin6.sin6_addr))
		cfg.listen.sin_addr.s_addr = 0;
	else if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr))
		memcpy(&cfg.listen.sin_addr, &sin6.sin6_addr.s6_addr[12], 4);
	else
		die("getsockname(listener): not :: nor v4-mapped");
}

/* How many of this process's fds are sockets of another network namespace (hidden listeners). */
static int count_host_sockets(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++) {
		int dom;
		socklen_t dl = sizeof(dom);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) != 0)
			continue; /* not open, or not a socket */
		if (is_host_socket(fd))
			n++;
	}
	return n;
}

static int make_listener(int *ep_out)
{
	int l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		die_errno("socket");
	int one = 1;
	if (setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		die_errno("setsockopt(SO_REUSEADDR)");
	if (!strcmp(cfg.mode, "reuseport") &&
	    setsockopt(l, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		die_errno("setsockopt(SO_REUSEPORT)");
	if (family == AF_INET6 && cfg.v6only >= 0 &&
	    setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &cfg.v6only, sizeof(cfg.v6only)) != 0)
		die_errno("setsockopt(IPV6_V6ONLY)");
	struct sockaddr_storage sa;
	socklen_t salen;
	if (family == AF_INET6 && !cfg.bind_mapped) {
		struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_port = cfg.listen.sin_port,
					   .sin6_addr = IN6ADDR_ANY_INIT};
		memset(&sa, 0, sizeof(sa));
		memcpy(&sa, &any, sizeof(any));
		salen = sizeof(any);
	} else {
		salen = to_family(&cfg.listen, &sa);
	}
	if (bind(l, (struct sockaddr *)&sa, salen) != 0)
		die_errno("bind");
	*ep_out = -1;
	if (cfg.epoll_before_listen && strncmp(cfg.mode, "epoll", 5) == 0) {
		/* Registered while still an unconnected socket: listen() must carry it over. */
		uint32_t events = EPOLLIN;
		if (strcmp(cfg.mode, "epoll-et") == 0)
			events |= EPOLLET;
		if (strcmp(cfg.mode, "epoll-oneshot") == 0)
			events |= EPOLLONESHOT;
		int ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = {.events = events, .data.u64 = 0x5111d00d0000abcdull};
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) != 0)
			die_errno("epoll before listen");
		*ep_out = ep;
	}
	/* A deep backlog: the server is sequential, and a full accept queue drops SYNs. */
	if (listen(l, cfg.relisten ? 8 : 1024) != 0)
		die_errno("listen");
	if (cfg.relisten && listen(l, 1024) != 0)
		die_errno("listen (again)");
	listener_name(l);
	if (cfg.expect_twin >= 0 && count_host_sockets() != cfg.expect_twin)
		die("after listen(): %d host sockets (hidden listeners), expected %d",
		    count_host_sockets(), cfg.expect_twin);
	return l;
}

int main(int argc, char **argv)
{
	prog = "t_server";
	cfg.argv = argv;
	bool have_listen = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--exclusive")) {
			cfg.exclusive = true;
			continue;
		}
		if (!strcmp(a, "--epoll-before-listen")) {
			cfg.epoll_before_listen = true;
			continue;
		}
		if (!strcmp(a, "--relisten")) {
			cfg.relisten = true;
			continue;
		}
		if (!strcmp(a, "--reexec")) {
			cfg.reexec = true;
			continue;
		}
		if (!strcmp(a, "--check-close-range")) {
			check_close_range = true;
			continue;
		}
		if (!strcmp(a, "--expect-spread")) {
			expect_spread = true;
			continue;
		}
		if (!strcmp(a, "--shutdown-after")) {
			cfg.shutdown_after = true;
			continue;
		}
		if (!strcmp(a, "--bind-mapped")) {
			cfg.bind_mapped = true;
			continue;
		}
		if (!strcmp(a, "--accept-short")) {
			cfg.accept_short = true;
			continue;
		}
		if (!v)
			die("option %s needs a value", a);
		i++;
		if (!strcmp(a, "--listen")) {
			parse_ipport(v, &cfg.listen);
			have_listen = true;
		} else if (!strcmp(a, "--mode")) {
			cfg.mode = v;
		} else if (!strcmp(a, "--count")) {
			cfg.count = atoi(v);
		} else if (!strcmp(a, "--workers")) {
			cfg.workers = atoi(v);
		} else if (!strcmp(a, "--expect-slim")) {
			cfg.expect_slim = atoi(v);
		} else if (!strcmp(a, "--expect-overlay")) {
			cfg.expect_overlay = atoi(v);
		} else if (!strcmp(a, "--peers")) {
			char buf[1024];
			snprintf(buf, sizeof(buf), "%s", v);
			parse_peers(buf);
		} else if (!strcmp(a, "--accept-flags")) {
			cfg.accept_flags = !strcmp(v, "none")	   ? 0
					   : !strcmp(v, "nonblock") ? SOCK_NONBLOCK
					   : !strcmp(v, "cloexec")  ? SOCK_CLOEXEC
								    : SOCK_NONBLOCK | SOCK_CLOEXEC;
		} else if (!strcmp(a, "--inherit-fd")) {
			cfg.inherit_fd = atoi(v);
		} else if (!strcmp(a, "--timeout")) {
			cfg.timeout = atoi(v);
		} else if (!strcmp(a, "--linger")) {
			cfg.linger = atoi(v);
		} else if (!strcmp(a, "--family")) {
			parse_family(v);
		} else if (!strcmp(a, "--v6only")) {
			cfg.v6only = atoi(v);
		} else if (!strcmp(a, "--expect-twin")) {
			cfg.expect_twin = atoi(v);
		} else {
			die("unknown option %s", a);
		}
	}
	if (!have_listen)
		die("--listen IP:PORT is required");
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)cfg.timeout);

	int ep = -1, l;
	if (!strcmp(cfg.mode, "reuseport")) {
		run_fork(-1); /* each worker listens; READY once all do */
		l = -1;
		goto done;
	}
	if (cfg.inherit_fd >= 0) {
		l = cfg.inherit_fd;
		listener_name(l);
	} else {
		l = make_listener(&ep);
	}
	if (cfg.reexec) {
		/* Exec again with the listener (and, hidden, its twin) inherited. */
		if (fcntl(l, F_SETFD, 0) != 0)
			die_errno("fcntl(F_SETFD)");
		char fdbuf[16];
		snprintf(fdbuf, sizeof(fdbuf), "%d", l);
		char *nargv[80];
		int k = 0;
		for (int i = 0; argv[i] && k < 76; i++)
			if (strcmp(argv[i], "--reexec") != 0)
				nargv[k++] = argv[i];
		nargv[k++] = "--inherit-fd";
		nargv[k++] = fdbuf;
		nargv[k] = NULL;
		execv("/proc/self/exe", nargv);
		die_errno("execv");
	}
	if (check_close_range)
		close_range_check(l);
	printf("READY %u\n", ntohs(cfg.listen.sin_port));
	fflush(stdout);

	if (!strcmp(cfg.mode, "blocking"))
		run_blocking(l);
	else if (!strncmp(cfg.mode, "epoll", 5))
		run_epoll(l, ep);
	else if (!strcmp(cfg.mode, "poll"))
		run_poll(l, false);
	else if (!strcmp(cfg.mode, "ppoll"))
		run_poll(l, true);
	else if (!strcmp(cfg.mode, "select"))
		run_select(l, false);
	else if (!strcmp(cfg.mode, "pselect"))
		run_select(l, true);
	else if (!strcmp(cfg.mode, "fork"))
		run_fork(l);
	else if (!strcmp(cfg.mode, "threads"))
		run_threads(l);
	else
		die("unknown mode %s", cfg.mode);

done:
	if (cfg.expect_slim >= 0 && served_slim != cfg.expect_slim)
		die("%d connections on host sockets (Slim), expected %d", served_slim,
		    cfg.expect_slim);
	if (cfg.expect_overlay >= 0 && served_overlay != cfg.expect_overlay)
		die("%d connections on the overlay, expected %d", served_overlay,
		    cfg.expect_overlay);
	if (cfg.shutdown_after) {
		if (strcmp(cfg.mode, "threads") != 0 && shutdown(l, SHUT_RDWR) != 0)
			die_errno("shutdown(listener)");
		printf("SHUTDOWN\n");
		fflush(stdout);
		sleep((unsigned)cfg.linger);
	}
	printf("OK served %d (slim %d, overlay %d)\n", (int)served, (int)served_slim,
	       (int)served_overlay);
	fflush(stdout);
	_exit(0); /* threads may still block in accept() */
}
