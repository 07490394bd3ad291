/* See trace.h. */
#include "trace.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "real_calls.h"
#include "shim.h"

bool slim_tracing;
static char prefix[PATH_MAX - 32];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char buf[16384];
static size_t used;
static pid_t buf_pid;

void slim_trace_configure(void)
{
	const char *p = getenv("SLIM_SHIM_TRACE");
	if (!p || !p[0] || strlen(p) >= sizeof(prefix))
		return;
	strcpy(prefix, p);
	slim_tracing = true;
}

static void flush_locked(void)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s.%d", prefix, (int)buf_pid);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		ssize_t r = write(fd, buf, used);
		(void)r;
		REAL(close)(fd);
	}
	used = 0;
}

static void at_exit(void)
{
	pthread_mutex_lock(&lock);
	if (used)
		flush_locked();
	pthread_mutex_unlock(&lock);
}

void slim_trace_stamp(const char *event, uint32_t seq)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	static int registered;
	pthread_mutex_lock(&lock);
	if (!registered) {
		registered = 1;
		atexit(at_exit);
	}
	pid_t pid = getpid();
	if (used && pid != buf_pid)
		used = 0; /* the parent's stamps, inherited by fork */
	buf_pid = pid;
	if (used > sizeof(buf) - 128)
		flush_locked();
	used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s %d %u %lld\n", event, (int)pid, seq,
				 (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	pthread_mutex_unlock(&lock);
}
