/* Per-fd state: which of the app's fds the shim knows about and what it knows. Indexed by fd in a
 * two-level table so a lookup of an unknown fd is two loads and no lock: every call on an fd the
 * shim does not track passes straight through.
 *
 * A record is reference counted: each table slot holding it owns one reference, and a call that
 * uses a record across syscalls (accept blocking on a listener, connect swapping a socket) holds
 * one, so another thread's close() of the same fd cannot free it underneath. Records that describe
 * one socket shared by several fds (dup, fork) are shared, except an unconnected socket's record,
 * which is copied: connect() replaces only the fd it was called on.
 *
 * One global mutex guards the slots and the mutable fields of records; it is never held across a
 * syscall that can block. */
#ifndef SLIM_FD_TABLE_H
#define SLIM_FD_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>

#include "shim.h"

enum slim_kind {
	SLIM_UNCONNECTED, /* AF_INET/AF_INET6 TCP socket from socket(): not connected or listening */
	SLIM_REPLACED,    /* connect() swapped in a host socket; local/peer are the overlay view */
	SLIM_ACCEPTED,    /* a host socket from a hidden listener, or one the router identified */
	SLIM_LISTENER,    /* an app listener with a hidden host twin */
	SLIM_PLAIN,       /* a socket the shim leaves alone (the overlay) */
	SLIM_INTERNAL,    /* one of the shim's own fds */
};

struct slim_epoll_reg {
	int epfd;
	struct epoll_event ev;
};

struct slim_sock {
	atomic_int refs;
	bool immortal; /* the shared PLAIN record: never counted, never freed */
	enum slim_kind kind;
	/* The app's socket is AF_INET6 (dual-stack). Slim's side is IPv4 only: the host sockets
	 * are AF_INET, and the app is shown their overlay addresses v4-mapped (::ffff:a.b.c.d),
	 * as a dual-stack socket would show them. Set for UNCONNECTED, REPLACED, ACCEPTED and
	 * LISTENER records. */
	bool v6;

	/* UNCONNECTED, LISTENER: what the app did before connect()/listen(). */
	bool bound;
	struct slim_sockopts opts;
	/* UNCONNECTED: epoll registrations to move when connect()/listen() changes the socket. */
	struct slim_epoll_reg *regs;
	unsigned nregs, capregs;

	/* REPLACED, ACCEPTED: what getsockname()/getpeername() show. */
	struct slim_addr local, peer;

	/* LISTENER: the hidden host listener and the private epoll fd holding {app fd, hidden fd},
	 * either -1 once gone; the overlay address the app listens on; accept()'s turn counter. */
	int hidden, privep;
	struct slim_addr overlay;
	atomic_uint turn;

	/* INTERNAL: the listener owning this fd, NULL for the router channel. */
	struct slim_sock *owner;
};

void slim_lock(void);
void slim_unlock(void);

/* Is there a record for fd? No lock, no reference: only for "pass straight through" decisions. */
bool slim_fd_known(int fd);
/* The record for fd with a reference the caller must slim_sock_put(), or NULL. */
struct slim_sock *slim_fd_get(int fd);
/* Same, under slim_lock() already held. */
struct slim_sock *slim_fd_get_locked(int fd);
/* Installs s (the caller's reference moves to the slot) or clears the slot (s NULL); the record
 * that was there loses the slot's reference. */
void slim_fd_set(int fd, struct slim_sock *s);
/* Like slim_fd_set, but only if the slot still holds `expected` (another thread may have closed
 * and reused the fd meanwhile). s's reference is consumed either way. */
bool slim_fd_replace(int fd, struct slim_sock *expected, struct slim_sock *s);
/* Handles the app closing (or dup2-ing over) fd: drops the fd's record; if fd is one of the
 * shim's own fds, the shim forgets it (the app asked for it to go). */
void slim_fd_forget(int fd);

/* The same for every tracked fd in [first, last] (close_range, closefrom). */
void slim_fd_forget_range(unsigned first, unsigned last);

struct slim_sock *slim_sock_new(enum slim_kind kind);
struct slim_sock *slim_sock_plain(void);
void slim_sock_ref(struct slim_sock *s);
void slim_sock_put(struct slim_sock *s);
/* A record for a new fd referring to the same socket (dup, F_DUPFD): a copy for an unconnected
 * socket, the same record otherwise. NULL if out of memory (the new fd then goes untracked). */
struct slim_sock *slim_sock_for_dup(struct slim_sock *s);

/* Marks fd as the shim's own (owner: the listener it belongs to, or NULL for the router channel). */
void slim_fd_set_internal(int fd, struct slim_sock *owner);

/* Epoll registrations of an unconnected socket (under slim_lock()). */
void slim_sock_note_epoll(struct slim_sock *s, int epfd, int op, const struct epoll_event *ev);

void slim_fd_table_atfork_prepare(void);
void slim_fd_table_atfork_parent(void);
void slim_fd_table_atfork_child(void);

/* A copy of s's epoll registrations taken under the lock (free() it), so they can be moved
 * without holding it; *n is their count (0 and NULL when none or out of memory). */
struct slim_epoll_reg *slim_copy_regs(struct slim_sock *s, unsigned *n);

#endif
