/* close(), close_range(), closefrom(), dup(), dup2(), dup3(), fcntl(), fcntl64(): keep the fd
 * table in step with the app's fds. A dup'd fd shares the socket, so it shares (or, unconnected, copies) the record; closing
 * a listener's last fd closes its hidden twin.
 *
 * ioctl(FIONBIO) is not interposed: the shim reads O_NONBLOCK with F_GETFL whenever it matters
 * (connect, accept), and FIONBIO changes the same flag. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include "fd_table.h"
#include "real_calls.h"
#include "shim.h"

#undef fcntl64 /* some libcs make it a macro for fcntl */
int fcntl64(int fd, int cmd, ...);

SLIM_EXPORT int close(int fd)
{
	if (slim_fd_known(fd)) {
		int saved = errno;
		slim_fd_forget(fd); /* first: once closed, the number can be reused at once */
		errno = saved;
	}
	return REAL(close)(fd);
}

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
int close_range(unsigned int first, unsigned int last, int flags);
void closefrom(int lowfd);

/* Daemons and Python's os.closerange close many fds at once: their records (and the shim's own
 * fds among them, which the shim then forgets) go as with close(). Only for arguments the
 * kernel will accept, so a failing call changes nothing. */
SLIM_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	if (!REAL(close_range)) {
		errno = ENOSYS;
		return -1;
	}
	if (first <= last && !(flags & ~(int)(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) &&
	    !(flags & (int)CLOSE_RANGE_CLOEXEC)) {
		int saved = errno;
		slim_fd_forget_range(first, last);
		errno = saved;
	}
	return REAL(close_range)(first, last, flags);
}

SLIM_EXPORT void closefrom(int lowfd)
{
	if (!REAL(closefrom))
		return;
	if (lowfd >= 0) {
		int saved = errno;
		slim_fd_forget_range((unsigned)lowfd, ~0u);
		errno = saved;
	}
	REAL(closefrom)(lowfd);
}

/* newfd now refers to what oldfd refers to. */
static int copy_record(int oldfd, int newfd)
{
	if (newfd < 0)
		return newfd;
	int saved = errno;
	struct slim_sock *s = slim_fd_get(oldfd);
	struct slim_sock *d = s ? slim_sock_for_dup(s) : NULL;
	if (d)
		slim_fd_set(newfd, d);
	else if (slim_fd_known(newfd))
		slim_fd_forget(newfd); /* dup2/dup3 over a tracked fd, or a stale record */
	if (s)
		slim_sock_put(s);
	errno = saved;
	return newfd;
}

SLIM_EXPORT int dup(int fd)
{
	return copy_record(fd, REAL(dup)(fd));
}

SLIM_EXPORT int dup2(int oldfd, int newfd)
{
	int r = REAL(dup2)(oldfd, newfd);
	return r >= 0 && oldfd != newfd ? copy_record(oldfd, r) : r;
}

SLIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	return copy_record(oldfd, REAL(dup3)(oldfd, newfd, flags));
}

/* FD_CLOEXEC on a listener goes to its hidden twin too, so both survive exec, or neither. */
static void mirror_cloexec(int fd, int flags)
{
	struct slim_sock *s = slim_fd_get(fd);
	if (!s)
		return;
	if (s->kind == SLIM_LISTENER) {
		slim_lock();
		int hidden = s->hidden;
		slim_unlock();
		if (hidden >= 0)
			REAL(fcntl)(hidden, F_SETFD, flags & FD_CLOEXEC);
	}
	slim_sock_put(s);
}

enum arg_kind { ARG_NONE, ARG_INT, ARG_PTR };

/* The third argument's type depends on the command; reading it as the wrong type is undefined
 * behaviour, so the shim knows them. Unknown commands are taken to carry a pointer, as libc's
 * own fcntl does. */
static enum arg_kind arg_kind(int cmd)
{
	switch (cmd) {
	case F_GETFD:
	case F_GETFL:
	case F_GETOWN:
#ifdef F_GETSIG
	case F_GETSIG:
#endif
#ifdef F_GETLEASE
	case F_GETLEASE:
#endif
#ifdef F_GETPIPE_SZ
	case F_GETPIPE_SZ:
#endif
#ifdef F_GET_SEALS
	case F_GET_SEALS:
#endif
		return ARG_NONE;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
	case F_SETFD:
	case F_SETFL:
	case F_SETOWN:
#ifdef F_SETSIG
	case F_SETSIG:
#endif
#ifdef F_SETLEASE
	case F_SETLEASE:
#endif
#ifdef F_NOTIFY
	case F_NOTIFY:
#endif
#ifdef F_SETPIPE_SZ
	case F_SETPIPE_SZ:
#endif
#ifdef F_ADD_SEALS
	case F_ADD_SEALS:
#endif
		return ARG_INT;
	default:
		return ARG_PTR;
	}
}

static int do_fcntl(int (*real)(int, int, ...), int fd, int cmd, va_list ap)
{
	switch (arg_kind(cmd)) {
	case ARG_NONE:
		return real(fd, cmd);
	case ARG_PTR: {
		void *p = va_arg(ap, void *);
		return real(fd, cmd, p);
	}
	case ARG_INT:
		break;
	}
	int arg = va_arg(ap, int);
	int r = real(fd, cmd, arg);
	if (r < 0)
		return r;
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
		copy_record(fd, r);
	} else if (cmd == F_SETFD && slim_fd_known(fd)) {
		int saved = errno;
		mirror_cloexec(fd, arg);
		errno = saved;
	}
	return r;
}

SLIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	int r = do_fcntl(REAL(fcntl), fd, cmd, ap);
	va_end(ap);
	return r;
}

SLIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	int (*real)(int, int, ...) = REAL(fcntl64) ? REAL(fcntl64) : REAL(fcntl);
	va_list ap;
	va_start(ap, cmd);
	int r = do_fcntl(real, fd, cmd, ap);
	va_end(ap);
	return r;
}
