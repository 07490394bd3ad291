/* Shared by the shim's semantics tests: failure reporting, address parsing, and the one
 * application protocol every client/server pair speaks, built so that any byte the shim (or
 * anything else) put into a stream is caught:
 *
 *   client -> server   "C <id> <n>\n" then n payload bytes, then shutdown(SHUT_WR)
 *   server -> client   "S <peer-ip> <peer-port> <local-ip> <local-port> <id>\n" then the payload
 *                      back, then close
 *
 * Both sides read to EOF and compare every byte. The server reports the addresses accept() and
 * getsockname() gave it, so the client can check it was paired with the right peer: the peer the
 * server saw must be exactly the client's own getsockname(). */
#ifndef SLIM_TEST_COMMON_H
#define SLIM_TEST_COMMON_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

extern const char *prog;

/* AF_INET, or AF_INET6 (--family 6): the program's sockets are then dual-stack AF_INET6 ones,
 * talking to IPv4 peers, and every address it is shown must be the v4-mapped sockaddr_in6
 * (::ffff:a.b.c.d, flow label 0, scope 0, length 28) byte for byte, as the kernel shows it. */
extern int family;
void parse_family(const char *s);

_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_errno(const char *what);
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void parse_ipport(const char *s, struct sockaddr_in *out);
void parse_ip(const char *s, struct in_addr *out);
const char *fmt_sin(const struct sockaddr_in *sin, char *buf, size_t len);

/* An IPv4 address as a socket of the test's family names it: a sockaddr_in, or the sockaddr_in6
 * of ::ffff:a.b.c.d. Returns the length. */
socklen_t to_family(const struct sockaddr_in *v4, struct sockaddr_storage *out);
/* ::ffff:a.b.c.d, port kept, everything else zero. */
void v4_mapped(const struct sockaddr_in *v4, struct sockaddr_in6 *out);
/* Checks that sa/len is exactly what a socket of the test's family reports for an IPv4 address
 * (rebuilt from its address and port and compared byte for byte) and returns it as sockaddr_in. */
void from_family(const struct sockaddr_storage *sa, socklen_t len, struct sockaddr_in *out,
		 const char *what);
/* The size of a full address of the test's family (16 or 28), and a shorter buffer size that
 * still holds the address's first bytes (for the kernel's truncation rule). */
socklen_t family_len(void);
socklen_t family_short_len(void);
/* Bytes [from, to) of buf all still hold the 0xa5 filling? */
bool untouched(const void *buf, size_t from, size_t to);
/* getpeername()/getsockname() of fd, checked as from_family() does, plus the kernel's rules
 * for short buffers (a truncated copy, the full length reported, nothing written past it). */
void get_name_checked(int fd, bool peer, struct sockaddr_in *out, const char *who);
/* On an AF_INET6 socket: SO_DOMAIN is AF_INET6, IPV6_V6ONLY 0, and an IPv6-level option can be
 * set, whether the shim put a host (AF_INET) socket in its place or not. */
void check_v6_socket(int fd, const char *who);

/* Is fd a host socket (a network namespace other than ours), i.e. did Slim replace it? */
bool is_host_socket(int fd);

/* Payload byte i of connection id. */
unsigned char payload_byte(unsigned id, size_t i);

/* Bounded blocking I/O on a blocking fd (SO_RCVTIMEO/SO_SNDTIMEO set by set_io_timeouts). */
void set_io_timeouts(int fd, int seconds);
void write_all(int fd, const void *buf, size_t len, const char *what);
/* Reads until EOF; dies past max bytes. Returns the length. */
size_t read_to_eof(int fd, unsigned char *buf, size_t max, const char *what);

/* Client side, on a connected blocking fd. client_send checks the addresses (getpeername() must
 * be server, getsockname()'s IP self if not NULL: checked first, as a socket both sides have
 * closed has no peer any more), sends the request and returns the client's own address in *me;
 * client_check reads and checks the reply. */
void client_send(int fd, unsigned id, size_t n, const struct sockaddr_in *server,
		 const struct in_addr *self, struct sockaddr_in *me);
void client_check(int fd, unsigned id, size_t n, const struct sockaddr_in *server,
		  const struct sockaddr_in *me);

/* Server side, on an accepted blocking fd: read the request, reply. accepted: what accept()
 * filled in. Checks that getpeername() agrees with accept() and, when given, that the local
 * address is `self` and the peer is one of `peers`. */
void server_serve(int fd, const struct sockaddr_in *accepted, socklen_t accepted_len,
		  const struct sockaddr_in *self, const struct in_addr *peers, int npeers);

#define MAX_PAYLOAD 65536

#endif
