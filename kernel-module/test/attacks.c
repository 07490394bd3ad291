/* attacks: what a container could try with a host socket Slim handed it, one line per attempt:
 *
 *   ATTACK <name> <blocked|allowed|skipped> <detail>
 *
 * blocked = the kernel refused (EPERM, or the socket was left as it was: EISCONN) or showed no
 * host address; allowed = it worked (or failed only in a way that shows it reached the host's
 * network, e.g. ECONNREFUSED). The caller compares the lines with the matrix it expects.
 *
 *   attacks --connect IP:PORT [--connect …] --host-target IP:PORT [--listen-wait SECONDS]
 *   attacks --fd N [--fd N …] --host-target IP:PORT [--overlay-peer IP:PORT] [--listen-wait S]
 *
 * Host sockets come from --fd (inherited, e.g. made by a test in the host's namespace) and then
 * from --connect: a plain libc connect() to an overlay address, which the Slim shim (LD_PRELOAD)
 * turns into a host socket. Each attack that breaks its socket takes a fresh one (the last
 * --connect is repeated as needed; without one, attacks lacking a socket are "skipped"). Every
 * attack itself uses raw syscalls, so the shim can neither help nor hide anything.
 * --host-target: an address in the host's network namespace to re-point sockets at (its port is
 * also tried on 127.0.0.1). --overlay-peer: what getpeername must show (default: the --connect
 * address). --listen-wait: after listen() succeeds, print "WAITING listen" and wait that long for
 * a connection from the host's side ("listen-accept"); 0 skips that.
 * Self-contained C11, libc only: builds dynamically (for the shim) and with -static (VM tier).
 * Exit status: 0 when every attack ran, 1 when no host socket could be had, 2 on usage errors. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

#define MAX_FDS 16

static int fds[MAX_FDS];
static int nfds, next_fd;
static struct sockaddr_in connect_to, host_target, overlay_peer;
static bool have_connect, have_overlay_peer;
static int listen_wait;
static uint64_t own_netns;

/* ---- raw syscalls: never the shim's wrappers ---- */
static int raw_connect(int fd, const void *a, socklen_t l) { return (int)syscall(SYS_connect, fd, a, l); }
static int raw_bind(int fd, const void *a, socklen_t l) { return (int)syscall(SYS_bind, fd, a, l); }
static int raw_listen(int fd, int backlog) { return (int)syscall(SYS_listen, fd, backlog); }
static int raw_setsockopt(int fd, int level, int name, const void *v, socklen_t l)
{
	return (int)syscall(SYS_setsockopt, fd, level, name, v, l);
}
static int raw_getsockopt(int fd, int level, int name, void *v, socklen_t *l)
{
	return (int)syscall(SYS_getsockopt, fd, level, name, v, l);
}
static int raw_name(long nr, int fd, struct sockaddr_in *a)
{
	socklen_t l = sizeof *a;
	memset(a, 0, sizeof *a);
	return (int)syscall(nr, fd, a, &l);
}
static ssize_t raw_sendto(int fd, const void *b, size_t n, int flags, const void *a, socklen_t l)
{
	return syscall(SYS_sendto, fd, b, n, flags, a, l);
}
static int raw_ppoll(struct pollfd *p, nfds_t n, int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	return (int)syscall(SYS_ppoll, p, n, &ts, NULL, (size_t)8);
}

static void report(const char *name, const char *verdict, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void report(const char *name, const char *verdict, const char *fmt, ...)
{
	char detail[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	printf("ATTACK %s %s %s\n", name, verdict, detail);
	fflush(stdout);
}

static const char *addr_text(const struct sockaddr_in *a)
{
	static char buf[4][32];
	static int i;
	char ip[INET_ADDRSTRLEN];
	i = (i + 1) % 4;
	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
	snprintf(buf[i], sizeof buf[i], "%s:%u", ip, ntohs(a->sin_port));
	return buf[i];
}

static bool parse_addr(const char *s, struct sockaddr_in *a)
{
	char ip[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof ip)
		return false;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return *end == 0 && port > 0 && port < 65536 && inet_pton(AF_INET, ip, &a->sin_addr) == 1;
}

static uint64_t netns_cookie(int fd)
{
	uint64_t c = 0;
	socklen_t l = sizeof c;
	return raw_getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &c, &l) == 0 ? c : 0;
}

/* The next host socket, non-blocking; -1 when there is none. */
static int host_socket(const char *for_attack)
{
	int fd = -1;
	if (next_fd < nfds) {
		fd = fds[next_fd++];
	} else if (have_connect) {
		fd = socket(AF_INET, SOCK_STREAM, 0); /* through libc: the shim sees it */
		if (fd >= 0 && connect(fd, (struct sockaddr *)&connect_to, sizeof connect_to) != 0) {
			report(for_attack, "skipped", "connect %s through libc: %s", addr_text(&connect_to), strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (fd < 0) {
		report(for_attack, "skipped", "no host socket left");
		return -1;
	}
	uint64_t ns = netns_cookie(fd);
	if (ns == 0 || ns == own_netns) {
		report(for_attack, "skipped", "fd %d is not a host socket (its netns is ours: no shim, or the overlay was used)", fd);
		return -1;
	}
	long fl = syscall(SYS_fcntl, fd, F_GETFL);
	syscall(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK);
	return fd;
}

/* A denial (the kernel refused) vs the call going through to the host's network. */
static void verdict_of_call(const char *name, int r, int err, const char *what)
{
	if (r == 0)
		report(name, "allowed", "%s succeeded", what);
	else if (err == EPERM || err == EACCES)
		report(name, "blocked", "%s: %s", what, strerror(err));
	else if (err == EISCONN || err == EALREADY)
		report(name, "blocked", "%s: %s (the socket was never freed)", what, strerror(err));
	else
		report(name, "allowed", "%s reached the host's network: %s", what, strerror(err));
}

static int disconnect(int fd)
{
	struct sockaddr sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_family = AF_UNSPEC;
	return raw_connect(fd, &sa, sizeof sa);
}

static bool own_address(struct in_addr ip)
{
	struct ifaddrs *ifs, *i;
	bool found = false;
	if (getifaddrs(&ifs) != 0)
		return false;
	for (i = ifs; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == ip.s_addr)
			found = true;
	freeifaddrs(ifs);
	return found;
}

/* ---- the attacks ---- */

static void control_echo(int fd)
{
	const char msg[] = "slim-attacks\n";
	char buf[64];
	size_t got = 0;
	if (syscall(SYS_write, fd, msg, sizeof msg - 1) != (long)(sizeof msg - 1)) {
		report("control-echo", "blocked", "write: %s", strerror(errno));
		return;
	}
	while (got < sizeof msg - 1) {
		struct pollfd p = {fd, POLLIN, 0};
		if (raw_ppoll(&p, 1, 5000) <= 0)
			break;
		long n = syscall(SYS_read, fd, buf + got, sizeof buf - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == sizeof msg - 1 && memcmp(buf, msg, got) == 0)
		report("control-echo", "allowed", "%zu bytes echoed", got);
	else
		report("control-echo", "blocked", "echo came back with %zu bytes", got);
}

static void read_names(int fd)
{
	struct sockaddr_in a;
	if (raw_name(SYS_getsockname, fd, &a) != 0) {
		report("getsockname", "skipped", "getsockname: %s", strerror(errno));
	} else if (a.sin_addr.s_addr == 0) {
		report("getsockname", "blocked", "%s (hidden)", addr_text(&a));
	} else {
		bool ours = own_address(a.sin_addr);
		report("getsockname", ours ? "blocked" : "allowed", "%s (%s)", addr_text(&a),
		       ours ? "an address of this container" : "a host address");
	}
	if (raw_name(SYS_getpeername, fd, &a) != 0) {
		report("getpeername", "skipped", "getpeername: %s", strerror(errno));
	} else if (a.sin_addr.s_addr == 0) {
		report("getpeername", "blocked", "%s (hidden)", addr_text(&a));
	} else {
		bool overlay = have_overlay_peer && a.sin_addr.s_addr == overlay_peer.sin_addr.s_addr &&
			       a.sin_port == overlay_peer.sin_port;
		report("getpeername", overlay ? "blocked" : "allowed", "%s (%s)", addr_text(&a),
		       overlay ? "the overlay peer" : "not the overlay peer: a host address");
	}
}

static void option(int fd, const char *name, int level, int opt, const void *v, socklen_t l)
{
	int r = raw_setsockopt(fd, level, opt, v, l);
	verdict_of_call(name, r, errno, "setsockopt");
}

static void connect_after_disconnect(const char *name, const struct sockaddr_in *to)
{
	int fd = host_socket(name);
	if (fd < 0)
		return;
	disconnect(fd);
	int r = raw_connect(fd, to, sizeof *to);
	int err = errno;
	char what[64];
	snprintf(what, sizeof what, "connect %s", addr_text(to));
	verdict_of_call(name, r != 0 && err == EINPROGRESS ? 0 : r, err, what); /* started: it went out */
	close(fd);
}

static void unspec(void)
{
	int fd = host_socket("unspec-disconnect");
	if (fd < 0)
		return;
	int r = disconnect(fd);
	verdict_of_call("unspec-disconnect", r, errno, "connect(AF_UNSPEC)");
	close(fd);
}

static void bind_any(void)
{
	int fd = host_socket("bind");
	if (fd < 0)
		return;
	disconnect(fd);
	struct sockaddr_in any = {.sin_family = AF_INET};
	int r = raw_bind(fd, &any, sizeof any);
	verdict_of_call("bind", r, errno, "bind 0.0.0.0:0");
	close(fd);
}

static void fastopen(void)
{
	int fd = host_socket("tfo-sendto");
	if (fd < 0)
		return;
	disconnect(fd);
	ssize_t r = raw_sendto(fd, "x", 1, MSG_FASTOPEN, &host_target, sizeof host_target);
	int err = errno;
	char what[64];
	snprintf(what, sizeof what, "sendto(MSG_FASTOPEN) %s", addr_text(&host_target));
	verdict_of_call("tfo-sendto", r >= 0 || err == EINPROGRESS ? 0 : -1, err, what);
	close(fd);
}

static void listen_after_disconnect(void)
{
	int fd = host_socket("listen");
	if (fd < 0) {
		report("listen-accept", "skipped", "no socket");
		return;
	}
	disconnect(fd);
	if (raw_listen(fd, 4) != 0) {
		verdict_of_call("listen", -1, errno, "listen");
		report("listen-accept", "skipped", "not listening");
		close(fd);
		return;
	}
	struct sockaddr_in a;
	raw_name(SYS_getsockname, fd, &a);
	report("listen", "allowed", "listening; getsockname shows %s", addr_text(&a));
	if (listen_wait <= 0) {
		report("listen-accept", "skipped", "--listen-wait 0");
		close(fd);
		return;
	}
	printf("WAITING listen pid %d\n", (int)getpid());
	fflush(stdout);
	struct pollfd p = {fd, POLLIN, 0};
	if (raw_ppoll(&p, 1, listen_wait * 1000) > 0) {
		struct sockaddr_in peer;
		socklen_t l = sizeof peer;
		int c = (int)syscall(SYS_accept4, fd, &peer, &l, SOCK_CLOEXEC);
		if (c >= 0) {
			report("listen-accept", "allowed", "accepted a connection from %s", addr_text(&peer));
			close(c);
		} else {
			report("listen-accept", "blocked", "accept: %s", strerror(errno));
		}
	} else {
		report("listen-accept", "blocked", "no connection arrived within %d s", listen_wait);
	}
	close(fd);
}

static int usage(void)
{
	fputs("usage: attacks (--connect IP:PORT | --fd N)... --host-target IP:PORT [--overlay-peer IP:PORT] [--listen-wait SECONDS]\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	bool have_target = false;
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage();
		if (strcmp(argv[i], "--connect") == 0 && parse_addr(v, &connect_to))
			have_connect = true;
		else if (strcmp(argv[i], "--fd") == 0 && nfds < MAX_FDS)
			fds[nfds++] = atoi(v);
		else if (strcmp(argv[i], "--host-target") == 0 && parse_addr(v, &host_target))
			have_target = true;
		else if (strcmp(argv[i], "--overlay-peer") == 0 && parse_addr(v, &overlay_peer))
			have_overlay_peer = true;
		else if (strcmp(argv[i], "--listen-wait") == 0)
			listen_wait = atoi(v);
		else
			return usage();
		i++;
	}
	if (!have_target || (!have_connect && nfds == 0))
		return usage();
	if (have_connect && !have_overlay_peer) {
		overlay_peer = connect_to;
		have_overlay_peer = true;
	}
	int probe = (int)syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	own_netns = probe >= 0 ? netns_cookie(probe) : 0;
	if (probe >= 0)
		close(probe);

	/* Attacks that leave their socket usable share the first one; control first. */
	int fd = host_socket("control-echo");
	if (fd < 0)
		return 1;
	printf("HOSTSOCKET fd %d netns %llu (ours %llu)\n", fd, (unsigned long long)netns_cookie(fd),
	       (unsigned long long)own_netns);
	control_echo(fd);
	read_names(fd);
	int one = 1, mark = 0x5a;
	option(fd, "setsockopt-nodelay", IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	option(fd, "so-mark", SOL_SOCKET, SO_MARK, &mark, sizeof mark);
	option(fd, "so-bindtodevice", SOL_SOCKET, SO_BINDTODEVICE, "lo", 3);
	option(fd, "ip-transparent", IPPROTO_IP, IP_TRANSPARENT, &one, sizeof one);
	option(fd, "so-reuseport", SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	close(fd);

	/* Each of these breaks its socket: a fresh one each. */
	unspec();
	connect_after_disconnect("connect-after-disconnect", &host_target);
	struct sockaddr_in loopback = host_target;
	loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	connect_after_disconnect("connect-host-loopback", &loopback);
	bind_any();
	fastopen();
	listen_after_disconnect();
	return 0;
}
