#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

const char *prog = "test";
int family = AF_INET;

void parse_family(const char *s)
{
	if (!strcmp(s, "4"))
		family = AF_INET;
	else if (!strcmp(s, "6"))
		family = AF_INET6;
	else
		die("--family 4|6");
}

void die(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s[%d]: FAIL: %s\n", prog, (int)getpid(), buf);
	exit(1);
}

void die_errno(const char *what)
{
	die("%s: %s", what, strerror(errno));
}

void note(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s[%d]: %s\n", prog, (int)getpid(), buf);
}

void parse_ip(const char *s, struct in_addr *out)
{
	if (inet_pton(AF_INET, s, out) != 1)
		die("bad IPv4 address '%s'", s);
}

void parse_ipport(const char *s, struct sockaddr_in *out)
{
	char ip[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(ip))
		die("bad address '%s' (want IP:PORT)", s);
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		die("bad port in '%s'", s);
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	parse_ip(ip, &out->sin_addr);
}

const char *fmt_sin(const struct sockaddr_in *sin, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
	return buf;
}

static uint64_t netns_cookie(int fd)
{
	uint64_t c = 0;
	socklen_t len = sizeof(c);
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &c, &len) != 0)
		die_errno("getsockopt(SO_NETNS_COOKIE)");
	return c;
}

bool is_host_socket(int fd)
{
	static uint64_t own;
	if (!own) {
		int s = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (s < 0)
			die_errno("socket(AF_UNIX)");
		own = netns_cookie(s);
		close(s);
	}
	return netns_cookie(fd) != own;
}

unsigned char payload_byte(unsigned id, size_t i)
{
	return (unsigned char)((id * 131u + i * 7u + (i >> 8)) & 0xff);
}

void set_io_timeouts(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
		die_errno("setsockopt(SO_RCVTIMEO/SO_SNDTIMEO)");
}

void write_all(int fd, const void *buf, size_t len, const char *what)
{
	const unsigned char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("%s: write: %s", what, n < 0 ? strerror(errno) : "wrote 0");
		p += n;
		len -= (size_t)n;
	}
}

size_t read_to_eof(int fd, unsigned char *buf, size_t max, const char *what)
{
	size_t got = 0;
	for (;;) {
		unsigned char tmp[4096];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("%s: read after %zu bytes: %s", what, got, strerror(errno));
		if (n == 0)
			return got;
		if (got + (size_t)n > max)
			die("%s: more than %zu bytes in the stream", what, max);
		memcpy(buf + got, tmp, (size_t)n);
		got += (size_t)n;
	}
}

socklen_t family_len(void)
{
	return family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

socklen_t family_short_len(void)
{
	/* Family and port, then part of the address. */
	return family == AF_INET6 ? 20 : 6;
}

bool untouched(const void *buf, size_t from, size_t to)
{
	const unsigned char *p = buf;
	for (size_t i = from; i < to; i++)
		if (p[i] != 0xa5)
			return false;
	return true;
}

void v4_mapped(const struct sockaddr_in *v4, struct sockaddr_in6 *out)
{
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	out->sin6_port = v4->sin_port;
	out->sin6_addr.s6_addr[10] = 0xff;
	out->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&out->sin6_addr.s6_addr[12], &v4->sin_addr, 4);
}

socklen_t to_family(const struct sockaddr_in *v4, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		struct sockaddr_in sin;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = v4->sin_port;
		sin.sin_addr = v4->sin_addr;
		memcpy(out, &sin, sizeof(sin));
		return sizeof(sin);
	}
	struct sockaddr_in6 sin6;
	v4_mapped(v4, &sin6);
	memcpy(out, &sin6, sizeof(sin6));
	return sizeof(sin6);
}

static void hex(const void *p, size_t n, char *buf, size_t len)
{
	const unsigned char *b = p;
	size_t o = 0;
	for (size_t i = 0; i < n && o + 3 < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%02x", b[i]);
	buf[o < len ? o : len - 1] = '\0';
}

void from_family(const struct sockaddr_storage *sa, socklen_t len, struct sockaddr_in *out,
		 const char *what)
{
	char a[80], b[80];
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	if (family == AF_INET) {
		struct sockaddr_in sin;
		memcpy(&sin, sa, sizeof(sin));
		out->sin_port = sin.sin_port;
		out->sin_addr = sin.sin_addr;
	} else {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, sa, sizeof(sin6));
		out->sin_port = sin6.sin6_port;
		memcpy(&out->sin_addr, &sin6.sin6_addr.s6_addr[12], 4);
	}
	struct sockaddr_storage want;
	socklen_t wl = to_family(out, &want);
	if (len != wl || memcmp(sa, &want, wl) != 0) {
		hex(sa, len < sizeof(*sa) ? len : sizeof(*sa), a, sizeof(a));
		hex(&want, wl, b, sizeof(b));
		die("%s: address is %s (length %u), expected %s (length %u)", what, a,
		    (unsigned)len, b, (unsigned)wl);
	}
}

void get_name_checked(int fd, bool peer, struct sockaddr_in *out, const char *who)
{
	const char *call = peer ? "getpeername" : "getsockname";
	int (*fn)(int, struct sockaddr *, socklen_t *) = peer ? getpeername : getsockname;
	struct sockaddr_storage full;
	memset(&full, 0xa5, sizeof(full));
	socklen_t len = sizeof(full);
	if (fn(fd, (struct sockaddr *)&full, &len) != 0)
		die("%s: %s: %s", who, call, strerror(errno));
	char what[64];
	snprintf(what, sizeof(what), "%s: %s", who, call);
	if (len <= sizeof(full) && !untouched(&full, len, sizeof(full)))
		die("%s wrote past the %u bytes it reported", what, (unsigned)len);
	from_family(&full, len, out, what);
	/* Short buffers: the kernel copies what fits and reports the full length. */
	socklen_t shorts[2] = {family_short_len(), 0};
	for (int i = 0; i < 2; i++) {
		unsigned char buf[sizeof(struct sockaddr_storage)];
		memset(buf, 0xa5, sizeof(buf));
		socklen_t sl = shorts[i];
		if (fn(fd, (struct sockaddr *)buf, &sl) != 0)
			die("%s with %u bytes: %s", what, (unsigned)shorts[i], strerror(errno));
		if (sl != len)
			die("%s with %u bytes reported %u, expected %u", what, (unsigned)shorts[i],
			    (unsigned)sl, (unsigned)len);
		if (memcmp(buf, &full, shorts[i]) != 0 || !untouched(buf, shorts[i], sizeof(buf)))
			die("%s with %u bytes: not a truncated copy of the full address", what,
			    (unsigned)shorts[i]);
	}
}

void check_v6_socket(int fd, const char *who)
{
	if (family != AF_INET6)
		return;
	int v = -1;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) != 0 || len != sizeof(v) ||
	    v != AF_INET6)
		die("%s: SO_DOMAIN is %d (len %u, %s), expected AF_INET6", who, v, (unsigned)len,
		    strerror(errno));
	v = -1;
	len = sizeof(v);
	if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len) != 0 || len != sizeof(v) || v != 0)
		die("%s: IPV6_V6ONLY is %d (len %u, %s), expected 0", who, v, (unsigned)len,
		    strerror(errno));
	/* A longer buffer gets the int; a short one its first bytes. */
	unsigned char big[8];
	memset(big, 0xa5, sizeof(big));
	len = sizeof(big);
	if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, big, &len) != 0 || len != sizeof(int) ||
	    !untouched(big, sizeof(int), sizeof(big)))
		die("%s: IPV6_V6ONLY with an 8-byte buffer: len %u", who, (unsigned)len);
	int tclass = 0;
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tclass, sizeof(tclass)) != 0)
		die("%s: setsockopt(IPV6_TCLASS): %s", who, strerror(errno));
	v = 0;
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)) == 0 || errno != EINVAL)
		die("%s: setsockopt(IPV6_V6ONLY) on a connected socket: %s, expected EINVAL", who,
		    strerror(errno));
}

static void check_name(int fd, bool peer, const struct sockaddr_in *want_exact,
		       const struct in_addr *want_ip, const char *who)
{
	struct sockaddr_in sin;
	char a[64], b[64];
	get_name_checked(fd, peer, &sin, who);
	if (want_exact && (sin.sin_addr.s_addr != want_exact->sin_addr.s_addr ||
			   sin.sin_port != want_exact->sin_port))
		die("%s: %s is %s, expected %s", who, peer ? "getpeername" : "getsockname",
		    fmt_sin(&sin, a, sizeof(a)), fmt_sin(want_exact, b, sizeof(b)));
	if (want_ip && sin.sin_addr.s_addr != want_ip->s_addr) {
		struct sockaddr_in w = {.sin_family = AF_INET, .sin_addr = *want_ip};
		die("%s: %s is %s, expected IP %s", who, peer ? "getpeername" : "getsockname",
		    fmt_sin(&sin, a, sizeof(a)), fmt_sin(&w, b, sizeof(b)));
	}
}

void client_send(int fd, unsigned id, size_t n, const struct sockaddr_in *server,
		 const struct in_addr *self, struct sockaddr_in *me)
{
	char who[32];
	snprintf(who, sizeof(who), "client %u", id);
	check_name(fd, true, server, NULL, who);
	check_name(fd, false, NULL, self, who);
	get_name_checked(fd, false, me, who);
	check_v6_socket(fd, who);
	char head[64];
	int hl = snprintf(head, sizeof(head), "C %u %zu\n", id, n);
	unsigned char *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		p[i] = payload_byte(id, i);
	write_all(fd, head, (size_t)hl, "client request");
	write_all(fd, p, n, "client payload");
	free(p);
	if (shutdown(fd, SHUT_WR) != 0)
		die_errno("client shutdown(SHUT_WR)");
}

void client_check(int fd, unsigned id, size_t n, const struct sockaddr_in *server,
		  const struct sockaddr_in *me)
{
	char who[32];
	snprintf(who, sizeof(who), "client %u", id);

	unsigned char *buf = malloc(n + 256);
	if (!buf)
		die("out of memory");
	size_t got = read_to_eof(fd, buf, n + 255, who);
	unsigned char *nl = memchr(buf, '\n', got < 200 ? got : 200);
	if (!nl)
		die("%s: reply has no header line (%zu bytes)", who, got);
	*nl = '\0';
	char peer_ip[64], local_ip[64];
	unsigned peer_port, local_port, rid;
	int used = 0;
	if (sscanf((char *)buf, "S %63s %u %63s %u %u%n", peer_ip, &peer_port, local_ip,
		   &local_port, &rid, &used) != 5 ||
	    (size_t)used != (size_t)(nl - buf))
		die("%s: malformed reply header '%.100s'", who, (char *)buf);
	if (rid != id)
		die("%s: got the reply for id %u", who, rid);
	struct sockaddr_in sp, sl;
	char tmp[96];
	snprintf(tmp, sizeof(tmp), "%s:%u", peer_ip, peer_port);
	parse_ipport(tmp, &sp);
	snprintf(tmp, sizeof(tmp), "%s:%u", local_ip, local_port);
	parse_ipport(tmp, &sl);
	char a[64], b[64];
	if (sp.sin_addr.s_addr != me->sin_addr.s_addr || sp.sin_port != me->sin_port)
		die("%s: the server saw its peer as %s, but this client is %s", who,
		    fmt_sin(&sp, a, sizeof(a)), fmt_sin(me, b, sizeof(b)));
	if (sl.sin_addr.s_addr != server->sin_addr.s_addr || sl.sin_port != server->sin_port)
		die("%s: the server's own address is %s, expected %s", who,
		    fmt_sin(&sl, a, sizeof(a)), fmt_sin(server, b, sizeof(b)));
	size_t body = got - (size_t)(nl + 1 - buf);
	if (body != n)
		die("%s: echo is %zu bytes, sent %zu", who, body, n);
	for (size_t i = 0; i < n; i++)
		if (nl[1 + i] != payload_byte(id, i))
			die("%s: echo differs at byte %zu", who, i);
	free(buf);
}

void server_serve(int fd, const struct sockaddr_in *accepted, socklen_t accepted_len,
		  const struct sockaddr_in *self, const struct in_addr *peers, int npeers)
{
	char a[64], b[64];
	if (accepted_len != sizeof(*accepted) || accepted->sin_family != AF_INET)
		die("server: accept() gave a non-AF_INET address (len %u)", (unsigned)accepted_len);
	check_name(fd, true, accepted, NULL, "server");
	struct sockaddr_in local;
	get_name_checked(fd, false, &local, "server");
	check_v6_socket(fd, "server");
	if (self && (local.sin_port != self->sin_port ||
		     (self->sin_addr.s_addr && local.sin_addr.s_addr != self->sin_addr.s_addr)))
		die("server: accepted connection's local address %s, expected %s",
		    fmt_sin(&local, a, sizeof(a)), fmt_sin(self, b, sizeof(b)));
	if (npeers) {
		int i;
		for (i = 0; i < npeers && peers[i].s_addr != accepted->sin_addr.s_addr; i++)
			;
		if (i == npeers)
			die("server: unexpected peer %s", fmt_sin(accepted, a, sizeof(a)));
	}

	static _Thread_local unsigned char buf[MAX_PAYLOAD + 128];
	size_t got = read_to_eof(fd, buf, sizeof(buf) - 1, "server");
	unsigned char *nl = memchr(buf, '\n', got < 64 ? got : 64);
	if (!nl)
		die("server: request from %s has no header line (%zu bytes: '%.40s')",
		    fmt_sin(accepted, a, sizeof(a)), got, (char *)buf);
	*nl = '\0';
	unsigned id;
	size_t n;
	int used = 0;
	if (sscanf((char *)buf, "C %u %zu%n", &id, &n, &used) != 2 ||
	    (size_t)used != (size_t)(nl - buf) || buf[0] != 'C')
		die("server: malformed request header '%.60s' from %s", (char *)buf,
		    fmt_sin(accepted, a, sizeof(a)));
	size_t body = got - (size_t)(nl + 1 - buf);
	if (body != n)
		die("server: request %u carries %zu bytes, header says %zu", id, body, n);
	for (size_t i = 0; i < n; i++)
		if (nl[1 + i] != payload_byte(id, i))
			die("server: request %u differs at byte %zu", id, i);
	char ip1[INET_ADDRSTRLEN], ip2[INET_ADDRSTRLEN], head[160];
	inet_ntop(AF_INET, &accepted->sin_addr, ip1, sizeof(ip1));
	inet_ntop(AF_INET, &local.sin_addr, ip2, sizeof(ip2));
	int hl = snprintf(head, sizeof(head), "S %s %u %s %u %u\n", ip1, ntohs(accepted->sin_port),
			  ip2, ntohs(local.sin_port), id);
	write_all(fd, head, (size_t)hl, "server reply");
	write_all(fd, nl + 1, n, "server echo");
}
