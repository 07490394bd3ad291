/*
 * connrate: TCP connection set-up rate, one connection at a time.
 *
 *   connrate server PORT
 *       accepts one connection after another: reads 1 byte, writes 1 byte, closes.
 *   connrate client ADDR PORT SECONDS
 *       for SECONDS: socket, connect, write 1 byte, read the 1-byte answer, read the server's
 *       end of stream, close. Prints one line:
 *       conns=N seconds=S rate=R total_p50_us=… total_p90_us=… total_p99_us=… connect_p50_us=… connect_p99_us=…
 *       "total" is socket() to close() of one connection, "connect" is the connect() call alone.
 *
 * The server closes first (after its answer), so TIME_WAIT stays on the server side and the
 * client never runs out of ephemeral ports however long it runs. Dynamically linked on purpose:
 * an LD_PRELOADed socket library (Slim's shim) applies to it like to any other program.
 * Built by the bench with gcc -std=c11 -Wall -Wextra -Werror (bench/bench.ts).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "connrate: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int parse_port(const char *s)
{
	char *end;
	long p = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || p < 1 || p > 65535) {
		fprintf(stderr, "connrate: bad port %s\n", s);
		exit(2);
	}
	return (int)p;
}

/* read() of exactly one byte, retried on EINTR; returns 1, 0 (end of stream) or -1. */
static ssize_t read1(int fd, char *c)
{
	for (;;) {
		ssize_t n = read(fd, c, 1);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

static ssize_t write1(int fd, char c)
{
	for (;;) {
		ssize_t n = write(fd, &c, 1);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

static _Noreturn void server(int port)
{
	signal(SIGPIPE, SIG_IGN);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0)
		die("socket");
	int one = 1;
	if (setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("SO_REUSEADDR");
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind");
	if (listen(ls, 1024) < 0)
		die("listen");
	/* A client that vanishes mid-request must not stall the server for the next one. */
	struct timeval tmo = {.tv_sec = 2, .tv_usec = 0};
	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
				continue;
			die("accept");
		}
		char b;
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
		if (read1(c, &b) == 1)
			write1(c, b);
		close(c);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(const double *sorted, size_t n, double q)
{
	if (n == 0)
		return 0;
	double pos = (double)(n - 1) * q;
	size_t lo = (size_t)pos;
	size_t hi = lo + 1 < n ? lo + 1 : lo;
	return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - (double)lo);
}

static int client(const char *addr, int port, double seconds)
{
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
		fprintf(stderr, "connrate: bad IPv4 address %s\n", addr);
		return 2;
	}
	size_t cap = 1u << 16, n = 0;
	double *total = malloc(cap * sizeof(*total));
	double *conn = malloc(cap * sizeof(*conn));
	if (!total || !conn)
		die("malloc");
	const double start = now_s();
	const double deadline = start + seconds;
	double t_end = start;
	while (t_end < deadline) {
		const double t0 = now_s();
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			die("socket");
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
			fprintf(stderr, "connrate: connect %s:%d after %zu connections: %s\n", addr, port, n, strerror(errno));
			return 1;
		}
		const double t1 = now_s();
		char b = 'x';
		if (write1(s, b) != 1) {
			fprintf(stderr, "connrate: write after %zu connections: %s\n", n, strerror(errno));
			return 1;
		}
		ssize_t r = read1(s, &b);
		if (r != 1) {
			fprintf(stderr, "connrate: read of the answer after %zu connections: %s\n", n,
				r == 0 ? "end of stream" : strerror(errno));
			return 1;
		}
		/* the server's FIN: after it our close() is the passive one (no TIME_WAIT here) */
		r = read1(s, &b);
		if (r != 0) {
			fprintf(stderr, "connrate: expected end of stream after %zu connections: %s\n", n,
				r < 0 ? strerror(errno) : "more data");
			return 1;
		}
		if (close(s) < 0)
			die("close");
		t_end = now_s();
		if (n == cap) {
			cap *= 2;
			double *t2 = realloc(total, cap * sizeof(*total));
			double *c2 = realloc(conn, cap * sizeof(*conn));
			if (!t2 || !c2)
				die("realloc");
			total = t2;
			conn = c2;
		}
		total[n] = (t_end - t0) * 1e6;
		conn[n] = (t1 - t0) * 1e6;
		n++;
	}
	const double elapsed = t_end - start;
	qsort(total, n, sizeof(*total), cmp_double);
	qsort(conn, n, sizeof(*conn), cmp_double);
	printf("conns=%zu seconds=%.6f rate=%.1f total_p50_us=%.1f total_p90_us=%.1f total_p99_us=%.1f "
	       "connect_p50_us=%.1f connect_p99_us=%.1f\n",
	       n, elapsed, elapsed > 0 ? (double)n / elapsed : 0.0, pct(total, n, 0.5), pct(total, n, 0.9),
	       pct(total, n, 0.99), pct(conn, n, 0.5), pct(conn, n, 0.99));
	free(total);
	free(conn);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		server(parse_port(argv[2]));
	if (argc == 5 && strcmp(argv[1], "client") == 0) {
		char *end;
		double secs = strtod(argv[4], &end);
		if (*end != '\0' || !(secs > 0)) {
			fprintf(stderr, "connrate: bad duration %s\n", argv[4]);
			return 2;
		}
		return client(argv[2], parse_port(argv[3]), secs);
	}
	fprintf(stderr, "usage: connrate server PORT | connrate client ADDR PORT SECONDS\n");
	return 2;
}
