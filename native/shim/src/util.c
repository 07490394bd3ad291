/* Small helpers: the debug log, moving internal fds out of the app's way, timeouts. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "real_calls.h"
#include "shim.h"

void slim_log(const char *fmt, ...)
{
	char buf[512];
	int saved = errno;
	int n = snprintf(buf, sizeof(buf), "slim-shim[%d]: ", (int)getpid());
	if (n < 0)
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	ssize_t w = write(2, buf, len);
	(void)w;
	errno = saved;
}

int slim_move_high(int fd, bool cloexec)
{
	int nfd = REAL(fcntl)(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, SLIM_HIGH_FD_BASE);
	if (nfd >= 0) {
		REAL(close)(fd);
		return nfd;
	}
	/* RLIMIT_NOFILE below the base, or no free fd up there: keep the number we have. */
	REAL(fcntl)(fd, F_SETFD, cloexec ? FD_CLOEXEC : 0);
	return fd;
}

int slim_timeout_ms(int64_t us)
{
	if (us == 0)
		return -1; /* SO_*TIMEO of zero: no timeout */
	if (us < 0)
		return 0; /* the kernel treats a negative timeout as "do not wait" */
	int64_t ms = (us + 999) / 1000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

void slim_once(atomic_int *state, void (*fn)(void))
{
	/* 0: not run, 1: running, 2: done. Another thread that comes while it runs waits. */
	if (atomic_load_explicit(state, memory_order_acquire) == 2)
		return;
	int expected = 0;
	if (atomic_compare_exchange_strong(state, &expected, 1)) {
		fn();
		atomic_store_explicit(state, 2, memory_order_release);
		return;
	}
	while (atomic_load_explicit(state, memory_order_acquire) != 2)
		sched_yield();
}
