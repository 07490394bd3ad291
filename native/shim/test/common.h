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

_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_errno(const char *what);
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void parse_ipport(const char *s, struct sockaddr_in *out);
void parse_ip(const char *s, struct in_addr *out);
const char *fmt_sin(const struct sockaddr_in *sin, char *buf, size_t len);

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
