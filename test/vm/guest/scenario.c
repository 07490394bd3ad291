/* The secure-mode scenario, run inside the test VM once per phase (see init.sh).
 *
 * Mirrors what Slim does: a "router" process in the host network namespace, in the daemon's
 * cgroup, creates TCP sockets, connects them to a host listener, records their overlay addresses
 * (overlay_addr_by_cookie, when the secure-mode maps are pinned) and passes them over a Unix
 * socket (SCM_RIGHTS) to a "container" process that entered another network namespace with
 * setns() and dropped to Docker's default capabilities (so no CAP_NET_ADMIN, but CAP_NET_RAW).
 * The container process then tries every misuse of those host sockets, and the normal uses that
 * must keep working. One line per case on stdout:
 *   ATTACK <name> <blocked|allowed> <detail>   allowed = the misuse achieved its aim
 *   NORMAL <name> <ok|failed> <detail>
 * and, when secure mode's maps are pinned, STATS lines with its counters.
 *
 * usage: scenario DAEMON_CGROUP [PIN_DIR]
 *   DAEMON_CGROUP  a cgroup v2 directory the router moves into (the one secure mode is loaded for)
 *   PIN_DIR        secure mode's pin directory (maps under PIN_DIR/maps/), if loaded
 * Host addresses: 10.250.0.1 (on lo: the "underlay") and 127.0.0.1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "slim_secure.h"

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

#define HOST_ADDR "10.250.0.1"
#define ECHO_PORT 7001   /* HOST_ADDR: the far side of every handed connection */
#define SECRET_PORT 7002 /* 127.0.0.1: a host-only service a container must not reach */
#define HIDDEN_PORT 7003 /* HOST_ADDR: a hidden listener handed to the container */
#define STOLEN_PORT 7100 /* HOST_ADDR: what the bind attack tries to take */
#define REFUSED_PORT 7009 /* HOST_ADDR: nothing listens there */
#define OVERLAY_LOCAL "10.90.0.2" /* what the container must see instead of host addresses */
#define OVERLAY_PEER "10.90.0.3"
#define OVERLAY_PEER_PORT 8080
#define ATTACKS_C_SOCKETS 7 /* fresh host sockets kernel-module/test/attacks.c takes with --fd */

static void die(const char *what)
{
	printf("SCENARIO-ERROR %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(2);
}

static struct sockaddr_in sin_of(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static const char *addr_str(const struct sockaddr_in *a)
{
	static char buf[4][64];
	static int n;
	char *b = buf[n++ % 4];
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	snprintf(b, 64, "%s:%d", ip, ntohs(a->sin_port));
	return b;
}

static void line(const char *kind, const char *name, const char *verdict, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	for (char *p = detail; *p; p++)
		if (*p == '\n')
			*p = ' ';
	printf("%s %s %s %s\n", kind, name, verdict, detail);
	fflush(stdout);
}

/* errno as its name: the test asserts that the LSM (EPERM), not some other error, stopped it. */
static const char *en(int e)
{
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EINVAL: return "EINVAL";
	case EISCONN: return "EISCONN";
	case EALREADY: return "EALREADY";
	case ENOTCONN: return "ENOTCONN";
	case EADDRINUSE: return "EADDRINUSE";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOPROTOOPT: return "ENOPROTOOPT";
	case EINPROGRESS: return "EINPROGRESS";
	case EAGAIN: return "EAGAIN";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EPIPE: return "EPIPE";
	case ENODEV: return "ENODEV";
	default: {
		static char b[16];
		snprintf(b, sizeof(b), "errno%d", e);
		return b;
	}
	}
}

/* ---- host side: servers ---- */

static int tcp_listener(const char *ip, int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		die("socket");
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = sin_of(ip, port);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("bind listener");
	if (listen(s, 64) != 0)
		die("listen");
	return s;
}

static void *echo_conn(void *arg)
{
	int c = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;
	while ((n = read(c, buf, sizeof(buf))) > 0)
		if (write(c, buf, n) != n)
			break;
	close(c);
	return NULL;
}

static void *echo_server(void *arg)
{
	int l = (int)(intptr_t)arg;
	for (;;) {
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		pthread_t t;
		pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)c);
		pthread_detach(t);
	}
	return NULL;
}

static void *secret_server(void *arg)
{
	int l = (int)(intptr_t)arg;
	for (;;) {
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		(void)!write(c, "SECRET\n", 7);
		close(c);
	}
	return NULL;
}

static void start_thread(void *(*fn)(void *), int fd)
{
	pthread_t t;
	if (pthread_create(&t, NULL, fn, (void *)(intptr_t)fd) != 0)
		die("pthread_create");
	pthread_detach(t);
}

/* ---- host side: the router's part ---- */

static int addr_map = -1; /* overlay_addr_by_cookie, when secure mode is loaded */
static int overlay_port = 40000;

/* What the router does before it passes a connection: record the overlay addresses the
 * container must see for it (the cgroup programs answer getsockname/getpeername with them). */
static void record_overlay(int fd)
{
	if (addr_map < 0)
		return;
	uint64_t cookie;
	socklen_t cl = sizeof(cookie);
	struct sockaddr_in me, peer;
	socklen_t ml = sizeof(me), pl = sizeof(peer);
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &cl) != 0 ||
	    getsockname(fd, (struct sockaddr *)&me, &ml) != 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl) != 0)
		die("SO_COOKIE/getsockname/getpeername");
	struct sockaddr_in ol = sin_of(OVERLAY_LOCAL, overlay_port++);
	struct sockaddr_in op = sin_of(OVERLAY_PEER, OVERLAY_PEER_PORT);
	struct slim_overlay_addrs v;
	memset(&v, 0, sizeof(v));
	v.overlay_local_ip = ol.sin_addr.s_addr;
	v.overlay_local_port = ol.sin_port;
	v.overlay_peer_ip = op.sin_addr.s_addr;
	v.overlay_peer_port = op.sin_port;
	v.host_local_ip = me.sin_addr.s_addr;
	v.host_local_port = me.sin_port;
	v.host_peer_ip = peer.sin_addr.s_addr;
	v.host_peer_port = peer.sin_port;
	if (bpf_map_update_elem(addr_map, &cookie, &v, BPF_ANY) != 0)
		die("overlay_addr_by_cookie update");
}

static int connected_host_socket(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		die("socket");
	struct sockaddr_in a = sin_of(HOST_ADDR, ECHO_PORT);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("connect echo");
	record_overlay(s);
	return s;
}

/* A socket whose non-blocking connect the far side refused: closed, yet still "connecting" for
 * the kernel until the holder's next connect() collects the error. */
static int refused_host_socket(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = sin_of(HOST_ADDR, REFUSED_PORT);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 || errno != EINPROGRESS)
		die("refused connect");
	struct pollfd p = { .fd = s, .events = POLLOUT };
	if (poll(&p, 1, 5000) != 1)
		die("refused connect: no answer");
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
	return s;
}

struct handed {
	char name[32];
};

static void send_fd(int chan, const char *name, int fd)
{
	struct handed h;
	memset(&h, 0, sizeof(h));
	snprintf(h.name, sizeof(h.name), "%s", name);
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(chan, &m, 0) != (ssize_t)sizeof(h))
		die("sendmsg");
}

/* Like the router: pass the fd and keep no reference to it. */
static void hand(int chan, const char *name, int fd)
{
	send_fd(chan, name, fd);
	if (fd >= 0)
		close(fd);
}

/* One message: its name and the fd it carries (-1 if none). 0 at EOF. */
static int recv_fd(int chan, char name[32], int *fd)
{
	struct handed h;
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(chan, &m, MSG_CMSG_CLOEXEC);
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(h))
		die("recvmsg");
	memcpy(name, h.name, 32);
	name[31] = 0;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	*fd = -1;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	return 1;
}

/* Test machinery, not part of the threat: the container asks whether a listener it made is
 * reachable from the host (the cgroup programs let a foreign listen() through but drop every
 * packet for it). This side is in the host namespace, so it sees the real address. */
static void serve_probes(int chan)
{
	char name[32];
	int fd;
	while (recv_fd(chan, name, &fd) == 1) {
		char reply[160];
		struct sockaddr_in a;
		socklen_t al = sizeof(a);
		if (fd < 0 || getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
			snprintf(reply, sizeof(reply), "0 getsockname: %s", en(errno));
		} else {
			if (a.sin_addr.s_addr == htonl(INADDR_ANY))
				a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			int err = connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : errno;
			if (err == EINPROGRESS) {
				struct pollfd p = { .fd = c, .events = POLLOUT };
				socklen_t el = sizeof(err);
				if (poll(&p, 1, 3000) != 1)
					err = ETIMEDOUT;
				else
					getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el);
			}
			snprintf(reply, sizeof(reply), "%d host connect to %s: %s", !err, addr_str(&a),
				 err ? en(err) : "connected");
			close(c);
		}
		if (fd >= 0)
			close(fd);
		if (send(chan, reply, strlen(reply), 0) < 0)
			die("probe reply");
	}
}

/* ---- container side ---- */

#define MAX_HANDED 32
static struct {
	char name[32];
	int fd;
} got[MAX_HANDED];
static int ngot;
static int chan_fd = -1;

static int fd_of(const char *name)
{
	for (int i = 0; i < ngot; i++)
		if (!strcmp(got[i].name, name))
			return got[i].fd;
	printf("SCENARIO-ERROR no socket %s\n", name);
	exit(2);
}

static void receive_all(void)
{
	for (;;) {
		char name[32];
		int fd;
		if (recv_fd(chan_fd, name, &fd) != 1)
			die("channel closed");
		if (!strcmp(name, "done"))
			return;
		if (fd < 0 || ngot == MAX_HANDED)
			die("no fd passed");
		got[ngot].fd = fd;
		snprintf(got[ngot].name, sizeof(got[ngot].name), "%s", name);
		/* Bound every blocking call (SO_RCVTIMEO/SO_SNDTIMEO are on the allow list). */
		struct timeval tv = { .tv_sec = 5 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		ngot++;
	}
}

/* Reachable from the host? 1 yes, 0 no; what the host side saw goes to detail. */
static int probe_from_host(int fd, char *detail, size_t len)
{
	send_fd(chan_fd, "probe", fd);
	char reply[160];
	ssize_t n = recv(chan_fd, reply, sizeof(reply) - 1, 0);
	if (n < 2)
		die("probe reply");
	reply[n] = 0;
	snprintf(detail, len, "%s", reply + 2);
	return reply[0] == '1';
}

/* Docker's default capability set: a container root without CAP_NET_ADMIN or CAP_SYS_ADMIN. */
static void drop_to_docker_caps(void)
{
	const uint64_t keep = (1ull << CAP_CHOWN) | (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_FOWNER) |
			      (1ull << CAP_FSETID) | (1ull << CAP_KILL) | (1ull << CAP_SETGID) |
			      (1ull << CAP_SETUID) | (1ull << CAP_SETPCAP) |
			      (1ull << CAP_NET_BIND_SERVICE) | (1ull << CAP_NET_RAW) |
			      (1ull << CAP_SYS_CHROOT) | (1ull << CAP_MKNOD) |
			      (1ull << CAP_AUDIT_WRITE) | (1ull << CAP_SETFCAP);
	for (int c = 0; c <= 63; c++)
		if (!(keep & (1ull << c)))
			prctl(PR_CAPBSET_DROP, c, 0, 0, 0); /* EINVAL past the last cap: fine */
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	for (int i = 0; i < 2; i++) {
		uint32_t half = (uint32_t)(keep >> (32 * i));
		data[i].effective = data[i].permitted = data[i].inheritable = half;
	}
	if (syscall(SYS_capset, &hdr, data) != 0)
		die("capset");
}

static void read_banner(int s, char *buf, size_t len)
{
	ssize_t n = read(s, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
}

/* connect(AF_UNSPEC) drops the connection; the socket could then go anywhere in the host. */
static int disconnect(int s)
{
	struct sockaddr a = { .sa_family = AF_UNSPEC };
	return connect(s, &a, sizeof(a)) == 0 ? 0 : errno;
}

/* connect() to the host-only service; allowed = its banner was read. */
static void connect_secret(const char *name, int s, const char *before)
{
	struct sockaddr_in to = sin_of("127.0.0.1", SECRET_PORT);
	if (connect(s, (struct sockaddr *)&to, sizeof(to)) != 0) {
		line("ATTACK", name, "blocked", "%sconnect(%s): %s", before, addr_str(&to), en(errno));
		return;
	}
	char buf[64];
	read_banner(s, buf, sizeof(buf));
	line("ATTACK", name, buf[0] ? "allowed" : "blocked", "%sconnect(%s): 0, read \"%s\"", before,
	     addr_str(&to), buf);
}

static void attack_disconnect_connect(void)
{
	int s = fd_of("a-disconnect");
	int e = disconnect(s);
	line("ATTACK", "disconnect", e ? "blocked" : "allowed", "connect(AF_UNSPEC): %s", en(e));
	connect_secret("connect-host", s, "after the disconnect: ");
}

/* After a refused connect the socket is closed: the next connect() (after the one that reports
 * the error) would go anywhere, no AF_UNSPEC needed. */
static void attack_refused_reconnect(void)
{
	int s = fd_of("a-refused");
	struct sockaddr_in to = sin_of("127.0.0.1", SECRET_PORT);
	int first = connect(s, (struct sockaddr *)&to, sizeof(to)) == 0 ? 0 : errno;
	char before[64];
	snprintf(before, sizeof(before), "first connect: %s; ", en(first));
	if (first == 0) {
		char buf[64];
		read_banner(s, buf, sizeof(buf));
		line("ATTACK", "reconnect-refused", buf[0] ? "allowed" : "blocked", "%sread \"%s\"", before, buf);
		return;
	}
	connect_secret("reconnect-refused", s, before);
}

static void report_listener(const char *name, int s, const char *what)
{
	char detail[160];
	int reachable = probe_from_host(s, detail, sizeof(detail));
	line("ATTACK", name, reachable ? "allowed" : "blocked", "%s: 0; %s", what, detail);
}

static void attack_bind_listen(void)
{
	int s = fd_of("a-bind");
	int d = disconnect(s);
	struct sockaddr_in a = sin_of(HOST_ADDR, STOLEN_PORT);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0)
		line("ATTACK", "bind", "blocked", "disconnect %s; bind(%s): %s", en(d), addr_str(&a), en(errno));
	else
		line("ATTACK", "bind", "allowed", "disconnect %s; bind(%s): 0", en(d), addr_str(&a));
	if (listen(s, 8) != 0)
		line("ATTACK", "listen", "blocked", "listen: %s", en(errno));
	else
		report_listener("listen", s, "listen");
}

static void attack_listen_autobind(void)
{
	int s = fd_of("a-listen");
	int d = disconnect(s);
	if (listen(s, 8) != 0)
		line("ATTACK", "listen-autobind", "blocked", "disconnect %s; listen: %s", en(d), en(errno));
	else
		report_listener("listen-autobind", s, "listen without bind");
}

static void attack_fastopen(void)
{
	int s = fd_of("a-fastopen");
	int d = disconnect(s);
	struct sockaddr_in to = sin_of("127.0.0.1", SECRET_PORT);
	ssize_t n = sendto(s, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&to, sizeof(to));
	if (n < 0 && errno != EINPROGRESS) {
		line("ATTACK", "fastopen", "blocked", "disconnect %s; sendto(%s, MSG_FASTOPEN): %s", en(d),
		     addr_str(&to), en(errno));
		return;
	}
	char buf[64];
	read_banner(s, buf, sizeof(buf));
	line("ATTACK", "fastopen", buf[0] ? "allowed" : "blocked",
	     "disconnect %s; sendto(%s, MSG_FASTOPEN): %zd, read \"%s\"", en(d), addr_str(&to), n, buf);
}

static void attack_option(const char *name, int level, int opt, const void *val, socklen_t len)
{
	int s = fd_of("a-opts");
	if (setsockopt(s, level, opt, val, len) != 0)
		line("ATTACK", name, "blocked", "setsockopt: %s", en(errno));
	else
		line("ATTACK", name, "allowed", "setsockopt: 0");
}

/* SIOCGIFCONF on a host socket lists the host's interfaces and addresses. */
static void attack_ifconf(void)
{
	int s = fd_of("a-opts");
	struct ifreq ifr[16];
	struct ifconf ifc = { .ifc_len = sizeof(ifr), .ifc_req = ifr };
	if (ioctl(s, SIOCGIFCONF, &ifc) != 0) {
		line("ATTACK", "ioctl-ifconf", "blocked", "ioctl(SIOCGIFCONF): %s", en(errno));
		return;
	}
	char list[1024] = "";
	bool host = false;
	for (int i = 0; i < ifc.ifc_len / (int)sizeof(struct ifreq); i++) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ifr[i].ifr_addr;
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		host |= !strcmp(ip, HOST_ADDR);
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s%.15s=%.15s", l ? "," : "", ifr[i].ifr_name, ip);
	}
	line("ATTACK", "ioctl-ifconf", host ? "allowed" : "blocked", "ioctl(SIOCGIFCONF): %s", list);
}

/* The host addresses of a connection must not show: with secure mode the cgroup programs answer
 * getsockname()/getpeername() with the overlay addresses the router recorded. */
static void attack_addresses(void)
{
	int s = fd_of("a-opts");
	struct sockaddr_in me, peer;
	socklen_t ml = sizeof(me), pl = sizeof(peer);
	if (getsockname(s, (struct sockaddr *)&me, &ml) != 0 ||
	    getpeername(s, (struct sockaddr *)&peer, &pl) != 0) {
		line("ATTACK", "host-addresses", "blocked", "getsockname/getpeername: %s", en(errno));
		return;
	}
	struct in_addr host;
	inet_pton(AF_INET, HOST_ADDR, &host);
	bool leaked = me.sin_addr.s_addr == host.s_addr || peer.sin_addr.s_addr == host.s_addr ||
		      ntohs(peer.sin_port) == ECHO_PORT;
	line("ATTACK", "host-addresses", leaked ? "allowed" : "blocked", "getsockname %s, getpeername %s",
	     addr_str(&me), addr_str(&peer));
}

static const char *echo_roundtrip(int s, const char *msg)
{
	static char err[64];
	size_t len = strlen(msg);
	if (write(s, msg, len) != (ssize_t)len) {
		snprintf(err, sizeof(err), "write: %s", en(errno));
		return err;
	}
	char buf[64];
	size_t have = 0;
	while (have < len) {
		ssize_t n = read(s, buf + have, len - have);
		if (n <= 0) {
			snprintf(err, sizeof(err), "read: %s", n ? en(errno) : "EOF");
			return err;
		}
		have += n;
	}
	return memcmp(buf, msg, len) ? "echo differs" : NULL;
}

static void normal_use(void)
{
	int s = fd_of("n-io");
	const char *r = echo_roundtrip(s, "hello over a host socket");
	line("NORMAL", "send-recv", r ? "failed" : "ok", "%s", r ? r : "echoed");

	int one = 1, idle = 30, buf = 256 * 1024;
	struct {
		const char *name;
		int level, opt;
		const void *val;
		socklen_t len;
	} opts[] = {
		{ "tcp-nodelay", IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one) },
		{ "so-keepalive", SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one) },
		{ "tcp-keepidle", IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle) },
		{ "so-rcvbuf", SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf) },
	};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		int e = setsockopt(s, opts[i].level, opts[i].opt, opts[i].val, opts[i].len) ? errno : 0;
		line("NORMAL", opts[i].name, e ? "failed" : "ok", "setsockopt: %s", en(e));
	}
	int v = 0;
	socklen_t vl = sizeof(v);
	int e = getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &vl) ? errno : 0;
	line("NORMAL", "so-error", e || v ? "failed" : "ok", "getsockopt(SO_ERROR): %s, value %d", en(e), v);
	e = ioctl(s, FIONREAD, &v) ? errno : 0;
	line("NORMAL", "fionread", e ? "failed" : "ok", "ioctl(FIONREAD): %s", en(e));
	e = ioctl(s, FIONBIO, &(int){ 0 }) ? errno : 0;
	line("NORMAL", "fionbio", e ? "failed" : "ok", "ioctl(FIONBIO): %s", en(e));
	/* A second connect() to the peer, as non-blocking connect loops do: EISCONN, not EPERM. */
	struct sockaddr_in peer = sin_of(HOST_ADDR, ECHO_PORT);
	e = connect(s, (struct sockaddr *)&peer, sizeof(peer)) ? errno : 0;
	line("NORMAL", "connect-again", e == EISCONN ? "ok" : "failed",
	     "connect(peer) on the connected socket: %s", en(e));
	r = echo_roundtrip(s, "still fine");
	line("NORMAL", "send-recv-after", r ? "failed" : "ok", "%s", r ? r : "echoed");
	e = shutdown(s, SHUT_WR) ? errno : 0;
	char c;
	ssize_t n = e ? -1 : read(s, &c, 1);
	line("NORMAL", "shutdown", !e && n == 0 ? "ok" : "failed", "shutdown(SHUT_WR): %s, then EOF: %s",
	     en(e), n == 0 ? "yes" : "no");
}

/* Connections accepted from a handed (hidden) listener are host sockets too. */
static void accepted(void)
{
	int l = fd_of("hidden-listener");
	int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0) {
		line("NORMAL", "accept", "failed", "accept: %s", en(errno));
	} else {
		line("NORMAL", "accept", "ok", "accepted from the hidden listener");
		struct timeval tv = { .tv_sec = 5 };
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		const char *r = echo_roundtrip(c, "accepted side");
		line("NORMAL", "accepted-send-recv", r ? "failed" : "ok", "%s", r ? r : "echoed");
		int e = disconnect(c);
		line("ATTACK", "accepted-disconnect", e ? "blocked" : "allowed", "connect(AF_UNSPEC): %s", en(e));
		connect_secret("accepted-connect-host", c, "after the disconnect: ");
	}
	/* shutdown() of a listener disconnects it (the shim does that to hidden twins); it must
	 * not then become a client socket of the host. */
	int e = shutdown(l, SHUT_RDWR) ? errno : 0;
	char before[64];
	snprintf(before, sizeof(before), "shutdown: %s; ", en(e));
	connect_secret("listener-shutdown-connect", l, before);
}

/* A host socket of a process outside the daemon's cgroup (runc, other tools): never touched. */
static void unguarded(void)
{
	int s = fd_of("unguarded");
	int e = disconnect(s);
	struct sockaddr_in to = sin_of("127.0.0.1", SECRET_PORT);
	int e2 = e ? e : (connect(s, (struct sockaddr *)&to, sizeof(to)) ? errno : 0);
	line("NORMAL", "unguarded-host-socket", e2 ? "failed" : "ok", "disconnect %s, connect(%s) %s", en(e),
	     addr_str(&to), en(e2));
}

/* The container's own sockets: bind, listen, connect, options, all in its own namespace. */
static void own_sockets(void)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = sin_of("127.0.0.1", STOLEN_PORT);
	int mark = 7;
	int e = bind(l, (struct sockaddr *)&a, sizeof(a)) ? errno : listen(l, 8) ? errno : 0;
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int e2 = e ? e : connect(c, (struct sockaddr *)&a, sizeof(a)) ? errno : 0;
	int e3 = setsockopt(c, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) ? errno : 0;
	line("NORMAL", "container-socket", e || e2 || e3 ? "failed" : "ok",
	     "bind+listen %s, connect %s, SO_MARK %s (in the container's namespace)", en(e), en(e2), en(e3));
	close(c);
	close(l);
}

/* kernel-module/test/attacks.c, when the VM has it (/slim/attacks): the same threat as the
 * daemon's tests run it, on the sockets handed as c-0…, its lines between markers. */
static void run_attacks_c(void)
{
	if (access("/slim/attacks", X_OK) != 0)
		return;
	char *argv[4 + 2 * ATTACKS_C_SOCKETS + 6];
	char fdbuf[ATTACKS_C_SOCKETS][16];
	int n = 0;
	argv[n++] = "/slim/attacks";
	for (int i = 0; i < ATTACKS_C_SOCKETS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "c-%d", i);
		int fd = fd_of(name);
		fcntl(fd, F_SETFD, 0); /* inherited across exec */
		snprintf(fdbuf[i], sizeof(fdbuf[i]), "%d", fd);
		argv[n++] = "--fd";
		argv[n++] = fdbuf[i];
	}
	argv[n++] = "--host-target";
	argv[n++] = HOST_ADDR ":7002";
	argv[n++] = "--overlay-peer";
	argv[n++] = OVERLAY_PEER ":8080";
	argv[n++] = "--listen-wait";
	argv[n++] = "0";
	argv[n] = NULL;
	printf("ATTACKS-C BEGIN\n");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	printf("ATTACKS-C END exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	fflush(stdout);
}

static void container(pid_t holder)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)holder);
	int ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNET) != 0)
		die("setns into the container netns");
	close(ns);
	drop_to_docker_caps();
	receive_all();
	printf("CONTAINER in its own netns with Docker's default capabilities, %d host sockets received\n", ngot);
	fflush(stdout);

	attack_disconnect_connect();
	attack_refused_reconnect();
	attack_bind_listen();
	attack_listen_autobind();
	attack_fastopen();
	int mark = 0x1234, one = 1;
	attack_option("so-mark", SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
	attack_option("so-bindtodevice", SOL_SOCKET, SO_BINDTODEVICE, "lo", 3);
	attack_option("ip-transparent", IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one));
	attack_ifconf();
	attack_addresses();
	normal_use();
	accepted();
	unguarded();
	own_sockets();
	run_attacks_c();
	printf("CONTAINER done\n");
	fflush(stdout);
	exit(0);
}

/* Secure mode's counters, when loaded: secure_stats (both halves) and lsm_denied_by_hook. */
static void print_stats(const char *pin_dir)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/maps/secure_stats", pin_dir);
	int m = bpf_obj_get(path);
	if (m >= 0) {
		static const char *names[SLIM_STAT_COUNT] = {
			"connect_denied", "bind_denied", "setsockopt_denied", "listen_marked",
			"ingress_dropped", "addr_rewritten", "addr_hidden", "lsm_denied",
		};
		printf("STATS secure_stats");
		for (uint32_t k = 0; k < SLIM_STAT_COUNT; k++) {
			uint64_t v = 0;
			bpf_map_lookup_elem(m, &k, &v);
			printf(" %s=%llu", names[k] ? names[k] : "?", (unsigned long long)v);
		}
		printf("\n");
		close(m);
	}
	snprintf(path, sizeof(path), "%s/maps/lsm_denied_by_hook", pin_dir);
	m = bpf_obj_get(path);
	int ncpu = libbpf_num_possible_cpus();
	if (m >= 0 && ncpu > 0 && ncpu <= 1024) {
		static const char *hooks[] = { "connect", "bind", "listen", "sendmsg", "setsockopt", "ioctl" };
		uint64_t vals[1024];
		printf("STATS lsm_denied_by_hook");
		for (uint32_t k = 0; k < 6; k++) {
			uint64_t sum = 0;
			if (bpf_map_lookup_elem(m, &k, vals) == 0)
				for (int i = 0; i < ncpu; i++)
					sum += vals[i];
			printf(" %s=%llu", hooks[k], (unsigned long long)sum);
		}
		printf("\n");
		close(m);
	}
	fflush(stdout);
}

static void join_cgroup(const char *dir)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	int f = open(path, O_WRONLY | O_CLOEXEC);
	if (f < 0 || write(f, "0", 1) != 1)
		die("join the daemon cgroup");
	close(f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: scenario DAEMON_CGROUP [PIN_DIR]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(60); /* never hang the VM */
	const char *cgroup = argv[1], *pin_dir = argc > 2 ? argv[2] : NULL;
	if (pin_dir) {
		char path[512];
		snprintf(path, sizeof(path), "%s/maps/overlay_addr_by_cookie", pin_dir);
		addr_map = bpf_obj_get(path);
	}
	printf("ROUTER overlay addresses recorded: %s\n", addr_map >= 0 ? "yes" : "no");

	/* Host services and a host tool's socket, outside the daemon's cgroup. */
	start_thread(echo_server, tcp_listener(HOST_ADDR, ECHO_PORT));
	start_thread(secret_server, tcp_listener("127.0.0.1", SECRET_PORT));
	int unguarded_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in echo = sin_of(HOST_ADDR, ECHO_PORT);
	if (connect(unguarded_fd, (struct sockaddr *)&echo, sizeof(echo)) != 0)
		die("connect echo");

	/* The container's network namespace, held by a process like a container's init. */
	int ready[2];
	if (pipe(ready) != 0)
		die("pipe");
	pid_t holder = fork();
	if (holder == 0) {
		if (unshare(CLONE_NEWNET) != 0)
			die("unshare(CLONE_NEWNET)");
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
		ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
			die("lo up in the container netns");
		close(s);
		/* The container's own (overlay) address, which getsockname() must show. */
		if (system("ip addr add " OVERLAY_LOCAL "/32 dev lo") != 0)
			die("overlay address in the container netns");
		(void)!write(ready[1], "r", 1);
		pause();
		_exit(0);
	}
	char r;
	if (read(ready[0], &r, 1) != 1)
		die("container netns");

	/* From here on this process is the router: in the daemon's cgroup. */
	join_cgroup(cgroup);
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
		die("socketpair");
	pid_t ctr = fork();
	if (ctr == 0) {
		close(pair[0]);
		chan_fd = pair[1];
		container(holder);
	}
	close(pair[1]);

	hand(pair[0], "a-disconnect", connected_host_socket());
	hand(pair[0], "a-refused", refused_host_socket());
	hand(pair[0], "a-bind", connected_host_socket());
	hand(pair[0], "a-listen", connected_host_socket());
	hand(pair[0], "a-fastopen", connected_host_socket());
	hand(pair[0], "a-opts", connected_host_socket());
	hand(pair[0], "n-io", connected_host_socket());
	hand(pair[0], "unguarded", unguarded_fd);
	for (int i = 0; i < ATTACKS_C_SOCKETS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "c-%d", i);
		hand(pair[0], name, connected_host_socket());
	}
	/* A hidden listener; a host client connects to it and echoes. */
	int hl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in ha = sin_of(HOST_ADDR, HIDDEN_PORT);
	int one = 1; /* the previous phase's connection to it may be in TIME_WAIT */
	setsockopt(hl, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (hl < 0 || bind(hl, (struct sockaddr *)&ha, sizeof(ha)) != 0 || listen(hl, 8) != 0)
		die("hidden listener");
	int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(client, (struct sockaddr *)&ha, sizeof(ha)) != 0)
		die("connect hidden listener");
	start_thread(echo_conn, client);
	hand(pair[0], "hidden-listener", hl);
	hand(pair[0], "done", -1);

	serve_probes(pair[0]);
	int status = 0;
	waitpid(ctr, &status, 0);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	if (pin_dir)
		print_stats(pin_dir);
	printf("SCENARIO-END container exit %d\n",
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
