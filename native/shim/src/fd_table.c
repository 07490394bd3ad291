/* The fd-indexed table of per-socket state (see fd_table.h). */
#include "fd_table.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "real_calls.h"
#include "router_channel.h"

/* 1024 chunks of 1024 slots: fds up to 2^20 (Linux's default nr_open). Fds beyond are never
 * tracked, which only means the shim leaves them alone. */
#define CHUNK_BITS 10
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define NCHUNKS 1024u

typedef _Atomic(struct slim_sock *) slot_t;
static _Atomic(slot_t *) chunks[NCHUNKS];

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static struct slim_sock plain_record = {.immortal = true, .kind = SLIM_PLAIN};

void slim_lock(void)
{
	pthread_mutex_lock(&table_lock);
}

void slim_unlock(void)
{
	pthread_mutex_unlock(&table_lock);
}

static slot_t *slot_of(int fd, bool create)
{
	if (fd < 0 || (unsigned)fd >= NCHUNKS * CHUNK_SIZE)
		return NULL;
	unsigned c = (unsigned)fd >> CHUNK_BITS;
	slot_t *chunk = atomic_load_explicit(&chunks[c], memory_order_acquire);
	if (!chunk && create) {
		/* Only under table_lock, so no two threads allocate the same chunk. */
		chunk = calloc(CHUNK_SIZE, sizeof(*chunk));
		if (!chunk)
			return NULL;
		atomic_store_explicit(&chunks[c], chunk, memory_order_release);
	}
	return chunk ? &chunk[(unsigned)fd & (CHUNK_SIZE - 1)] : NULL;
}

bool slim_fd_known(int fd)
{
	slot_t *slot = slot_of(fd, false);
	return slot && atomic_load_explicit(slot, memory_order_acquire) != NULL;
}

struct slim_sock *slim_fd_get_locked(int fd)
{
	slot_t *slot = slot_of(fd, false);
	struct slim_sock *s = slot ? atomic_load_explicit(slot, memory_order_acquire) : NULL;
	if (s)
		slim_sock_ref(s);
	return s;
}

struct slim_sock *slim_fd_get(int fd)
{
	if (!slim_fd_known(fd))
		return NULL;
	slim_lock();
	struct slim_sock *s = slim_fd_get_locked(fd);
	slim_unlock();
	return s;
}

/* Takes fd's record out of its slot (lock held). If it was one of the shim's own fds, detaches it
 * from its owner; *was_channel tells the caller to let the router channel forget it. */
static struct slim_sock *take_locked(int fd, bool *was_channel)
{
	slot_t *slot = slot_of(fd, false);
	struct slim_sock *old = slot ? atomic_exchange(slot, NULL) : NULL;
	if (old && old->kind == SLIM_INTERNAL) {
		struct slim_sock *owner = old->owner;
		if (!owner) {
			*was_channel = true;
		} else {
			if (owner->hidden == fd)
				owner->hidden = -1;
			if (owner->privep == fd)
				owner->privep = -1;
		}
	}
	return old;
}

void slim_fd_set(int fd, struct slim_sock *s)
{
	bool was_channel = false;
	struct slim_sock *old = NULL;
	slim_lock();
	slot_t *slot = slot_of(fd, s != NULL);
	if (slot) {
		old = take_locked(fd, &was_channel);
		atomic_store_explicit(slot, s, memory_order_release);
	}
	slim_unlock();
	if (was_channel)
		slim_router_forget(fd);
	if (!slot && s)
		slim_sock_put(s); /* no room to track it: the fd is simply not tracked */
	if (old)
		slim_sock_put(old);
}

bool slim_fd_replace(int fd, struct slim_sock *expected, struct slim_sock *s)
{
	bool was_channel = false, done = false;
	struct slim_sock *old = NULL;
	slim_lock();
	slot_t *slot = slot_of(fd, false);
	if (slot && atomic_load_explicit(slot, memory_order_acquire) == expected) {
		old = take_locked(fd, &was_channel);
		atomic_store_explicit(slot, s, memory_order_release);
		done = true;
	}
	slim_unlock();
	if (was_channel)
		slim_router_forget(fd);
	if (!done && s)
		slim_sock_put(s);
	if (old)
		slim_sock_put(old);
	return done;
}

void slim_fd_forget(int fd)
{
	if (!slim_fd_known(fd))
		return;
	slim_fd_set(fd, NULL);
}

void slim_fd_forget_range(unsigned first, unsigned last)
{
	/* Only chunks that exist can hold records: a close-everything range costs little. */
	for (unsigned c = first >> CHUNK_BITS; c < NCHUNKS && c <= last >> CHUNK_BITS; c++) {
		if (!atomic_load_explicit(&chunks[c], memory_order_acquire))
			continue;
		unsigned lo = c << CHUNK_BITS, hi = lo + CHUNK_SIZE - 1;
		if (lo < first)
			lo = first;
		if (hi > last)
			hi = last;
		for (unsigned fd = lo; fd <= hi; fd++)
			slim_fd_forget((int)fd);
	}
}

void slim_fd_set_internal(int fd, struct slim_sock *owner)
{
	struct slim_sock *s = slim_sock_new(SLIM_INTERNAL);
	if (!s)
		return; /* untracked: the app closing it would go unnoticed, nothing worse */
	s->owner = owner;
	slim_fd_set(fd, s);
}

struct slim_sock *slim_sock_new(enum slim_kind kind)
{
	struct slim_sock *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	atomic_init(&s->turn, 0);
	s->kind = kind;
	s->hidden = -1;
	s->privep = -1;
	return s;
}

struct slim_sock *slim_sock_plain(void)
{
	return &plain_record;
}

void slim_sock_ref(struct slim_sock *s)
{
	if (!s->immortal)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

/* Removes the slot entries of a dying listener's own fds (lock held); returns them for freeing. */
static struct slim_sock *unlink_internal_locked(int fd, struct slim_sock *owner)
{
	slot_t *slot = slot_of(fd, false);
	if (!slot)
		return NULL;
	struct slim_sock *s = atomic_load_explicit(slot, memory_order_acquire);
	if (!s || s->kind != SLIM_INTERNAL || s->owner != owner)
		return NULL;
	atomic_store_explicit(slot, NULL, memory_order_release);
	return s;
}

void slim_sock_put(struct slim_sock *s)
{
	if (s->immortal)
		return;
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (s->kind == SLIM_LISTENER) {
		/* The app's last fd for this listener is gone: so is its hidden twin, or the router
		 * would keep sending clients to a listener nobody accepts from. */
		slim_lock();
		int hidden = s->hidden, privep = s->privep;
		struct slim_sock *ih = hidden >= 0 ? unlink_internal_locked(hidden, s) : NULL;
		struct slim_sock *ie = privep >= 0 ? unlink_internal_locked(privep, s) : NULL;
		s->hidden = s->privep = -1;
		slim_unlock();
		if (hidden >= 0)
			REAL(close)(hidden);
		if (privep >= 0)
			REAL(close)(privep);
		free(ih);
		free(ie);
	}
	free(s->regs);
	free(s);
}

struct slim_sock *slim_sock_for_dup(struct slim_sock *s)
{
	if (s->kind == SLIM_INTERNAL)
		return NULL; /* a dup of the shim's own fd belongs to the app */
	if (s->kind != SLIM_UNCONNECTED) {
		slim_sock_ref(s);
		return s;
	}
	struct slim_sock *c = slim_sock_new(SLIM_UNCONNECTED);
	if (!c)
		return NULL;
	slim_lock();
	c->bound = s->bound;
	c->v6 = s->v6;
	c->opts = s->opts;
	/* Epoll registrations are per (file, fd): the new fd has none. */
	slim_unlock();
	return c;
}

void slim_sock_note_epoll(struct slim_sock *s, int epfd, int op, const struct epoll_event *ev)
{
	unsigned i;
	for (i = 0; i < s->nregs && s->regs[i].epfd != epfd; i++)
		;
	if (op == EPOLL_CTL_DEL) {
		if (i < s->nregs)
			s->regs[i] = s->regs[--s->nregs];
		return;
	}
	if (!ev)
		return;
	if (i == s->nregs) {
		if (op != EPOLL_CTL_ADD)
			return;
		if (s->nregs == s->capregs) {
			unsigned cap = s->capregs ? s->capregs * 2 : 2;
			struct slim_epoll_reg *r = realloc(s->regs, cap * sizeof(*r));
			if (!r)
				return; /* the swap then cannot move this one registration */
			s->regs = r;
			s->capregs = cap;
		}
		s->nregs++;
	}
	s->regs[i].epfd = epfd;
	s->regs[i].ev = *ev;
}

void slim_fd_table_atfork_prepare(void)
{
	slim_lock();
}

void slim_fd_table_atfork_parent(void)
{
	slim_unlock();
}

void slim_fd_table_atfork_child(void)
{
	slim_unlock();
}

struct slim_epoll_reg *slim_copy_regs(struct slim_sock *s, unsigned *n)
{
	slim_lock();
	*n = s->nregs;
	struct slim_epoll_reg *regs = *n ? malloc(*n * sizeof(*regs)) : NULL;
	if (regs)
		memcpy(regs, s->regs, *n * sizeof(*regs));
	else
		*n = 0;
	slim_unlock();
	return regs;
}
