/* Internal declarations shared by the shim's files. Nothing here is part of any ABI: the only
 * exported symbols are the interposed libc calls, marked SLIM_EXPORT where they are defined
 * (the library is built with -fvisibility=hidden). */
#ifndef SLIM_SHIM_H
#define SLIM_SHIM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../slim_wire.h"

#define SLIM_EXPORT __attribute__((visibility("default")))

/* Older libc headers lack these (Linux 4.12 and 6.1; the generic values hold on x86 and arm). */
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#ifndef EPOLLEXCLUSIVE
#define EPOLLEXCLUSIVE (1u << 28)
#endif

/* Internal fds (router channel, hidden listeners, private epoll fds) are moved to the lowest free
 * fd at or above this: out of the way of apps that expect the lowest free number (close(0) +
 * open()), yet below FD_SETSIZE so select() can still watch them. */
#define SLIM_HIGH_FD_BASE 768

/* Debug log to stderr, only when SLIM_SHIM_DEBUG is set in the environment at start. */
extern bool slim_debug;
void slim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define SLIM_DEBUG(...)                 \
	do {                            \
		if (slim_debug)         \
			slim_log(__VA_ARGS__); \
	} while (0)

/* A once-only call without pthread_once (which lives in libpthread on glibc < 2.34, and would
 * need a DT_NEEDED and a symbol version there). fn must not re-enter slim_once on the same flag. */
#include <stdatomic.h>
void slim_once(atomic_int *state, void (*fn)(void));

/* init.c: one-time setup (idempotent, cheap to call from every interposed function). */
void slim_init(void);

/* addresses.c */
bool slim_is_loopback_or_any(uint32_t ip_be);
void slim_addr_from_sin(struct slim_addr *out, const struct sockaddr_in *sin);
/* The IPv4 address an IPv6 address stands for on a dual-stack socket: :: is 0.0.0.0,
 * ::ffff:a.b.c.d is a.b.c.d. False for every other (real IPv6) address. */
bool slim_v4_of_v6(const struct in6_addr *a, uint32_t *ip_be);
/* Copies an overlay address to the caller's buffer with the kernel's truncation rules: as a
 * sockaddr_in, or (v6) as the sockaddr_in6 of its v4-mapped form, as a dual-stack AF_INET6
 * socket reports an IPv4 peer. */
void slim_fill_sockaddr(const struct slim_addr *a, bool v6, struct sockaddr *addr,
			socklen_t *addrlen);
/* The process's own network namespace cookie (0 if unknown); computed once. */
uint64_t slim_own_netns_cookie(void);

/* Move fd to a number >= SLIM_HIGH_FD_BASE (F_DUPFD or F_DUPFD_CLOEXEC as asked, closing the old
 * number). On failure the original fd is kept and its FD_CLOEXEC set as asked. */
int slim_move_high(int fd, bool cloexec);

/* listen_accept.c: makes fd (an app listener) a Slim listener around an inherited hidden
 * listener. False (hidden closed) if that fails. */
bool slim_listener_adopt(int fd, int hidden, const struct slim_addr *overlay, bool v6);

/* sockets.c: is IPV6_V6ONLY off on this AF_INET6 socket (the kernel's own answer)? */
bool slim_dual_stack(int fd);

/* sockets.c: the options as sent to the router. Timeouts outside what the router accepts (0 to
 * one year; it drops the channel otherwise) are left out: the host socket then waits forever,
 * which is what the kernel makes of such values anyway (negative ones aside). */
void slim_opts_for_wire(struct slim_sockopts *o);

/* recover.c: after exec, find inherited host sockets and re-pair hidden listeners. */
void slim_recover_inherited(void);

/* Convert a timeout in microseconds to poll()'s milliseconds (0 us = infinite = -1). */
int slim_timeout_ms(int64_t us);

#endif
