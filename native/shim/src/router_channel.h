/* The process's one connection to the local Slim router (SOCK_SEQPACKET, slim_wire.h).
 *
 * Opened on first use and again after fork (a different getpid()); one request at a time under a
 * mutex; SO_RCVTIMEO/SO_SNDTIMEO bound every wait. Any trouble (no router, error, timeout, EOF, a
 * reply of the wrong magic/version/type/size/seq, an fd where none belongs) closes the channel and
 * makes the caller take the plain overlay path for that one call; the next call reconnects, so a
 * restarted router is picked up without restarting the app. */
#ifndef SLIM_ROUTER_CHANNEL_H
#define SLIM_ROUTER_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Finds the router socket path (SLIM_ROUTER_SOCKET, else router.sock next to this library). */
void slim_router_configure(void);

/* Sends req (header filled in here: magic, version, type, seq, size) and waits for its reply.
 * The reply must be exactly reply_size bytes of type reply_type with the request's seq, and its
 * status (the int32 after the header, in every reply type) must be OK, FALLBACK or a -errno.
 * fd_on_ok: an OK reply carries exactly one fd, returned in *fd (close-on-exec); no other reply
 * may carry one. Returns 0 with *reply filled, or -1 (channel trouble: fall back). */
int slim_router_call(void *req, size_t req_size, uint16_t req_type, void *reply,
		     size_t reply_size, uint16_t reply_type, bool fd_on_ok, int *fd);

/* The app closed (or dup2'd over) the channel's fd number: stop using it. */
void slim_router_forget(int fd);

void slim_router_atfork_child(void);

#endif
