/* The router channel (see router_channel.h). */
#include "router_channel.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fd_table.h"
#include "glibc_compat.h"
#include "real_calls.h"
#include "shim.h"

#define CHANNEL_TIMEOUT_SEC 2
#define MAX_FDS 4 /* room to receive (and close) more fds than a reply may carry */

/* SLIM_ROUTER_SOCKET is copied at init: the app may rewrite its environment later (nginx's
 * process title). The default, next to this library, is worked out on first use (under
 * chan_lock), so processes that never open a TCP socket pay nothing for it. */
static char router_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
enum { PATH_UNKNOWN, PATH_SET, PATH_NONE };
static atomic_int path_state; /* read unlocked on the fast way out */

static pthread_mutex_t chan_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int chan_fd = -1;
static pid_t chan_pid;
static uint32_t chan_seq;

static bool set_path(const char *dir, const char *file)
{
	size_t dl = strlen(dir), fl = strlen(file);
	if (dl + fl + 1 > sizeof(router_path))
		return false; /* too long for sun_path: no router, everything on the overlay */
	memcpy(router_path, dir, dl);
	memcpy(router_path + dl, file, fl + 1);
	return true;
}

void slim_router_configure(void)
{
	const char *env = getenv("SLIM_ROUTER_SOCKET");
	if (env) /* set but empty: the shim is loaded but replacement is off */
		atomic_store(&path_state, env[0] && set_path(env, "") ? PATH_SET : PATH_NONE);
}

/* router.sock in the directory this library was loaded from, minus a trailing musl/ (the musl
 * build lives in <run-dir>/musl/, the socket in <run-dir>/). */
static bool default_path(void)
{
	static const char anchor = 0;
	Dl_info info;
	if (!dladdr(&anchor, &info) || !info.dli_fname || !info.dli_fname[0])
		return false;
	/* A relative LD_PRELOAD path would follow the app's chdir(): make it absolute. */
	char *abs = info.dli_fname[0] == '/' ? NULL : realpath(info.dli_fname, NULL);
	const char *name = abs ? abs : info.dli_fname;
	char dir[PATH_MAX];
	size_t len = strlen(name);
	bool ok = false;
	if (len < sizeof(dir)) {
		memcpy(dir, name, len + 1);
		char *slash = strrchr(dir, '/');
		if (slash)
			slash[1] = '\0'; /* keep the trailing slash */
		else
			strcpy(dir, "./");
		len = strlen(dir);
		if (len >= 6 && strcmp(dir + len - 6, "/musl/") == 0)
			dir[len - 5] = '\0';
		ok = set_path(dir, "router.sock");
	}
	free(abs);
	return ok;
}

static void close_channel_locked(void)
{
	int fd = atomic_exchange(&chan_fd, -1);
	if (fd < 0)
		return;
	slim_fd_forget(fd);
	REAL(close)(fd);
}

void slim_router_forget(int fd)
{
	int expected = fd;
	atomic_compare_exchange_strong(&chan_fd, &expected, -1);
}

void slim_router_atfork_child(void)
{
	/* A thread of the parent may have held the lock at fork; it does not exist here. The
	 * inherited channel is closed by the pid check on first use. */
	static const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	memcpy(&chan_lock, &fresh, sizeof(chan_lock));
}

static int open_channel_locked(void)
{
	int fd = REAL(socket)(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {.tv_sec = CHANNEL_TIMEOUT_SEC};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	memcpy(sun.sun_path, router_path, strlen(router_path) + 1);
	if (REAL(setsockopt)(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    REAL(setsockopt)(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    REAL(connect)(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		SLIM_DEBUG("router %s: %s", router_path, strerror(errno));
		REAL(close)(fd);
		return -1;
	}
	fd = slim_move_high(fd, true);
	slim_fd_set_internal(fd, NULL);
	atomic_store(&chan_fd, fd);
	chan_pid = getpid();
	return 0;
}

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void close_fds(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		REAL(close)(fds[i]);
}

/* Receives one datagram; returns its length or -1. Received fds go to fds/nfds. */
static ssize_t recv_reply(int fd, void *buf, size_t size, int *fds, int *nfds, bool *bad)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
	} cbuf;
	struct iovec iov = {.iov_base = buf, .iov_len = size};
	struct msghdr msg;
	double deadline = now_sec() + CHANNEL_TIMEOUT_SEC;
	ssize_t n;
	for (;;) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		/* A signal handler in the app interrupts us: keep waiting, within the bound. */
		if (n < 0 && errno == EINTR && now_sec() < deadline)
			continue;
		break;
	}
	*nfds = 0;
	if (n < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int rfd;
			memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < MAX_FDS)
				fds[(*nfds)++] = rfd;
			else
				REAL(close)(rfd);
		}
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		*bad = true;
	return n;
}

int slim_router_call(void *req, size_t req_size, uint16_t req_type, void *reply,
		     size_t reply_size, uint16_t reply_type, bool fd_on_ok, int *fdp)
{
	slim_init();
	if (atomic_load(&path_state) == PATH_NONE || req_size > SLIM_WIRE_MAX_SIZE ||
	    reply_size > SLIM_WIRE_MAX_SIZE || reply_size < sizeof(struct slim_hdr) + sizeof(int32_t))
		return -1;
	int saved_errno = errno; /* the app sees errno only from the call it made */
	int ret = -1;
	pthread_mutex_lock(&chan_lock);
	if (atomic_load(&path_state) == PATH_UNKNOWN)
		atomic_store(&path_state, default_path() ? PATH_SET : PATH_NONE);
	if (atomic_load(&path_state) != PATH_SET)
		goto out;

	if (atomic_load(&chan_fd) >= 0 && chan_pid != getpid())
		close_channel_locked(); /* the parent's channel, inherited by fork */
	/* A channel kept from earlier calls may have a router behind it that has since restarted:
	 * the first send then fails (EPIPE) or the reply is an EOF. That is not an answer: open a
	 * new channel and ask once more, or a restarted router would cost the app one accept()ed
	 * connection or one replacement. */
	bool reused = atomic_load(&chan_fd) >= 0;
	if (!reused && open_channel_locked() != 0)
		goto out;
	int fd = atomic_load(&chan_fd);

	struct slim_hdr *h = req;
	h->magic = SLIM_WIRE_MAGIC;
	h->version = SLIM_WIRE_VERSION;
	h->type = req_type;
	h->size = (uint32_t)req_size;
resend:
	h->seq = ++chan_seq;
	ssize_t n = send(fd, req, req_size, MSG_NOSIGNAL);
	if (n != (ssize_t)req_size) {
		int e = errno;
		SLIM_DEBUG("router send: %s", n < 0 ? strerror(e) : "short");
		close_channel_locked();
		if (reused && n < 0 && (e == EPIPE || e == ECONNRESET || e == ENOTCONN) &&
		    open_channel_locked() == 0) {
			reused = false;
			fd = atomic_load(&chan_fd);
			goto resend;
		}
		goto out;
	}

	union {
		struct slim_hdr h;
		uint64_t align;
		unsigned char b[SLIM_WIRE_MAX_SIZE + 1];
	} buf;
	int fds[MAX_FDS];
	int nfds = 0;
	bool bad = false;
	n = recv_reply(fd, buf.b, sizeof(buf.b), fds, &nfds, &bad);
	if (n == 0 && nfds == 0 && reused) { /* EOF: the router went away since the last call */
		close_channel_locked();
		if (open_channel_locked() != 0)
			goto out;
		reused = false;
		fd = atomic_load(&chan_fd);
		goto resend;
	}
	if (n < 0 || (size_t)n != reply_size || bad || buf.h.magic != SLIM_WIRE_MAGIC ||
	    buf.h.version != SLIM_WIRE_VERSION || buf.h.type != reply_type ||
	    buf.h.size != reply_size || buf.h.seq != chan_seq) {
		SLIM_DEBUG("router reply bad (n=%zd, %s)", n, n < 0 ? strerror(errno) : "malformed");
		close_fds(fds, nfds);
		close_channel_locked();
		goto out;
	}
	int32_t status;
	memcpy(&status, buf.b + sizeof(struct slim_hdr), sizeof(status));
	bool status_ok = status == SLIM_STATUS_OK || status == SLIM_STATUS_FALLBACK ||
			 (status < 0 && status >= -4095);
	int want_fds = fd_on_ok && status == SLIM_STATUS_OK ? 1 : 0;
	if (!status_ok || nfds != want_fds) {
		SLIM_DEBUG("router reply bad (status %d, %d fds)", (int)status, nfds);
		close_fds(fds, nfds);
		close_channel_locked();
		goto out;
	}
	memcpy(reply, buf.b, reply_size);
	if (want_fds)
		*fdp = fds[0];
	ret = 0;
out:
	pthread_mutex_unlock(&chan_lock);
	errno = saved_errno;
	return ret;
}
