/* The one table of the real libc calls the shim interposes, resolved with dlsym(RTLD_NEXT) in the
 * constructor, or lazily if another library's constructor calls into us first. Code inside the
 * shim must use REAL(x) for any function it also defines, or it would call itself. */
#ifndef SLIM_REAL_CALLS_H
#define SLIM_REAL_CALLS_H

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

struct slim_real_calls {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*shutdown)(int, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*close_range)(unsigned int, unsigned int, int); /* glibc >= 2.34 */
	void (*closefrom)(int);                              /* glibc >= 2.34 */
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...); /* NULL where libc has none (glibc < 2.28, musl) */
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*poll_chk)(struct pollfd *, nfds_t, int, size_t);  /* glibc's __poll_chk */
	int (*ppoll_chk)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *,
			 size_t); /* glibc's __ppoll_chk */
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
};

extern struct slim_real_calls slim_real;
extern atomic_bool slim_real_ready;
void slim_real_resolve(void);

/* The table, resolved on first use. */
static inline struct slim_real_calls *slim_real_calls(void)
{
	if (!atomic_load_explicit(&slim_real_ready, memory_order_acquire))
		slim_real_resolve();
	return &slim_real;
}
#define REAL(name) (slim_real_calls()->name)

#endif
