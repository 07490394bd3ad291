/* The shim against a misbehaving router. This program serves its own SLIM_ROUTER_SOCKET (set it
 * in the environment to a fresh path; the shim reads it at start, and connects only on the first
 * connect()) from a thread that answers each CONNECT in a different wrong way: EOF, silence,
 * wrong magic/version/type/seq/size, fds where none belong or none where one does, bad status.
 * Every connect() must still succeed on the overlay (--server: a plain server, e.g. t_server
 * --expect-overlay N), the shim must reconnect after each fault, and no fd may leak.
 *   t_router_faults --server IP:PORT [--self IP] [--skip-timeout]
 * Prints "OK N faults" and the number of router connections seen. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <dirent.h>

#include "../slim_wire.h"
#include "common.h"

enum fault {
	F_EOF,          /* close the connection instead of answering */
	F_SILENCE,      /* never answer: the shim's 2 s timeout */
	F_MAGIC,
	F_VERSION,
	F_TYPE,
	F_SEQ,
	F_SHORT,        /* one byte short of a connect reply */
	F_LONG,         /* the maximum size, not a connect reply */
	F_OK_NO_FD,     /* OK without the fd */
	F_FALLBACK_FD,  /* FALLBACK, with an fd attached: the shim must close it */
	F_OK_TWO_FDS,
	F_STATUS,       /* status 7: neither OK, FALLBACK nor -errno */
	F_STATUS_BIG,   /* -100000: not an errno */
	F_FALLBACK,     /* a proper FALLBACK: the channel stays up */
	F_COUNT
};
static const char *names[F_COUNT] = {"eof", "silence", "magic", "version", "type", "seq", "short",
				     "long", "ok-no-fd", "fallback-with-fd", "ok-two-fds",
				     "status", "status-big", "fallback"};

static atomic_int current = -1;
static atomic_int connections;
static int srv;

static void send_reply(int c, const void *buf, size_t len, int nfds)
{
	int fds[2];
	for (int i = 0; i < nfds; i++) {
		int p[2];
		if (pipe(p) != 0)
			die_errno("pipe");
		fds[i] = p[0];
		close(p[1]);
	}
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 2)];
	} cbuf;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	if (sendmsg(c, &msg, MSG_NOSIGNAL) < 0 && errno != EPIPE)
		die_errno("router: sendmsg");
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

static void *router(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(srv, NULL, NULL);
		if (c < 0)
			continue;
		atomic_fetch_add(&connections, 1);
		for (;;) {
			union {
				struct slim_connect req;
				unsigned char b[SLIM_WIRE_MAX_SIZE];
			} in;
			ssize_t n = recv(c, in.b, sizeof(in.b), 0);
			if (n <= 0)
				break;
			if ((size_t)n != sizeof(struct slim_connect) || in.req.hdr.type != SLIM_MSG_CONNECT ||
			    in.req.hdr.magic != SLIM_WIRE_MAGIC || in.req.hdr.size != (uint32_t)n)
				die("router: unexpected request (%zd bytes, type %u)", n, in.req.hdr.type);
			union {
				struct slim_connect_reply rep;
				unsigned char b[SLIM_WIRE_MAX_SIZE];
			} out;
			memset(&out, 0, sizeof(out));
			out.rep.hdr = (struct slim_hdr){SLIM_WIRE_MAGIC, SLIM_WIRE_VERSION,
							SLIM_MSG_CONNECT_REPLY, in.req.hdr.seq,
							sizeof(out.rep)};
			out.rep.status = SLIM_STATUS_FALLBACK;
			size_t len = sizeof(out.rep);
			int nfds = 0;
			bool hang_up = false;
			switch (atomic_load(&current)) {
			case F_EOF: hang_up = true; break;
			case F_SILENCE: {
				char b;
				recv(c, &b, 1, 0); /* until the shim gives up and closes */
				hang_up = true;
				break;
			}
			case F_MAGIC: out.rep.hdr.magic ^= 1; break;
			case F_VERSION: out.rep.hdr.version = 2; break;
			case F_TYPE: out.rep.hdr.type = SLIM_MSG_LISTEN_REPLY; break;
			case F_SEQ: out.rep.hdr.seq++; break;
			case F_SHORT: len--; out.rep.hdr.size = (uint32_t)len; break;
			case F_LONG: len = sizeof(out.b); out.rep.hdr.size = (uint32_t)len; break;
			case F_OK_NO_FD: out.rep.status = SLIM_STATUS_OK; break;
			case F_FALLBACK_FD: nfds = 1; break;
			case F_OK_TWO_FDS: out.rep.status = SLIM_STATUS_OK; nfds = 2; break;
			case F_STATUS: out.rep.status = 7; break;
			case F_STATUS_BIG: out.rep.status = -100000; break;
			case F_FALLBACK: break;
			default: die("router: request with no fault set");
			}
			if (hang_up)
				break;
			send_reply(c, out.b, len, nfds);
		}
		close(c);
	}
	return NULL;
}

static int count_low_fds(void)
{
	/* The shim's own fds live at 768 and up; a leaked fd would be the lowest free one. */
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		die_errno("opendir(/proc/self/fd)");
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && atoi(de->d_name) < 768 && atoi(de->d_name) != dirfd(d))
			n++;
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	prog = "t_router_faults";
	struct sockaddr_in server;
	struct in_addr self;
	bool have_server = false, have_self = false, skip_timeout = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--skip-timeout")) {
			skip_timeout = true;
		} else if (!strcmp(argv[i], "--server") && i + 1 < argc) {
			parse_ipport(argv[++i], &server);
			have_server = true;
		} else if (!strcmp(argv[i], "--self") && i + 1 < argc) {
			parse_ip(argv[++i], &self);
			have_self = true;
		} else {
			die("usage: t_router_faults --server IP:PORT [--self IP] [--skip-timeout]");
		}
	}
	const char *path = getenv("SLIM_ROUTER_SOCKET");
	if (!have_server || !path || !path[0])
		die("needs --server and SLIM_ROUTER_SOCKET in the environment");
	signal(SIGPIPE, SIG_IGN);
	alarm(120);

	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path))
		die("socket path too long");
	strcpy(sun.sun_path, path);
	unlink(path);
	srv = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (srv < 0 || bind(srv, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(srv, 8) != 0)
		die_errno("router socket");
	pthread_t th;
	if (pthread_create(&th, NULL, router, NULL) != 0)
		die("pthread_create");

	int before = count_low_fds();
	int faults = 0;
	for (int f = 0; f < F_COUNT; f++) {
		if (f == F_SILENCE && skip_timeout)
			continue;
		atomic_store(&current, f);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die_errno("socket");
		errno = 12345;
		if (connect(fd, (struct sockaddr *)&server, sizeof(server)) != 0)
			die("fault %s: connect: %s", names[f], strerror(errno));
		if (errno != 12345)
			die("fault %s: connect() changed errno on success", names[f]);
		if (is_host_socket(fd))
			die("fault %s: a host socket came out of a broken router", names[f]);
		struct sockaddr_in me;
		set_io_timeouts(fd, 10);
		client_send(fd, (unsigned)f + 1, 100, &server, have_self ? &self : NULL, &me);
		client_check(fd, (unsigned)f + 1, 100, &server, &me);
		close(fd);
		faults++;
	}
	/* One more: this process is also the router, holding its end of the channel that the last,
	 * proper FALLBACK left open. */
	int after = count_low_fds();
	if (after != before + 1)
		die("%d fds before the faults, %d after (1 more expected): the shim leaked", before,
		    after);
	/* Every fault but a proper FALLBACK closes the channel; each next call reconnects. */
	int want = faults; /* the first connection plus one per closing fault */
	if (atomic_load(&connections) != want)
		die("the router saw %d connections, expected %d", atomic_load(&connections), want);
	printf("OK %d faults, %d router connections\n", faults, atomic_load(&connections));
	unlink(path);
	_exit(0);
}
