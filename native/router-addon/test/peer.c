/* Test peer for the router addon: plays a shim (well-behaved or hostile) on a SOCK_SEQPACKET path.

   usage: peer PATH COMMAND...   (commands run in order; the connection opens on first use)
     cred             print "cred PID UID GID" (this process, as SO_PEERCRED should report it)
     connect          just open the connection
     send:TEXT        send TEXT
     expect:TEXT      receive one message: it must be TEXT, with no fds
     use-tcp:TEXT     receive one message with one fd, a connected TCP socket: write TEXT+"\n"
                      through it, print "tcp-reply LINE" for the line that comes back
     echo-fds         receive one message with fds and send it straight back with the same fds
     send-pipe:TEXT   send "pipe" with the read end of a pipe that holds TEXT (write end closed)
     pattern:N        send N bytes, byte i = (i * 131 + 7) & 255 (binary, NULs included)
     hostile:LEN:K    send LEN bytes with K fds, all the write end of one pipe; keep only the read
                      end; print "fds-closed" once the receiver closed every copy, or "fds-open"
     empty            send a zero-length message
     eof              wait until the other side closes the connection; print "eof"
     many:N           open N connections, send "many" on each, expect "ok" on each, close all
     flood:N          open N connections and send "many" on each; print "flood SERVED DROPPED" for
                      those answered "ok" and those hung up on; keep them all open until exit
     sleep:MS         sleep
     quit             _exit(0) at once: a peer that disappears mid-conversation
     mkstale:FILE     bind a SOCK_SEQPACKET socket at FILE and close it: a stale socket file
   Fails (exit 1, reason on stderr) on anything unexpected; every wait is bounded (5 s). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 5000
#define MAX_FDS 16

static const char *path;
static int conn = -1;

static void fail(const char *what) {
  fprintf(stderr, "peer: %s: %s\n", what, errno ? strerror(errno) : "unexpected");
  exit(1);
}

static int connect_to(const char *p) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(p) >= sizeof addr.sun_path) fail("path too long");
  strcpy(addr.sun_path, p);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) fail("connect");
  return fd;
}

static int channel(void) {
  if (conn < 0) conn = connect_to(path);
  return conn;
}

static void wait_readable(int fd, const char *what) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int n = poll(&p, 1, TIMEOUT_MS);
  if (n == 0) errno = ETIMEDOUT;
  if (n <= 0) fail(what);
}

static void send_with_fds(int fd, const void *data, size_t len, const int *fds, size_t nfds) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
  } ctrl;
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > MAX_FDS) fail("too many fds for the peer");
  if (nfds > 0) {
    memset(&ctrl, 0, sizeof ctrl);
    msg.msg_control = ctrl.buf;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(h), fds, nfds * sizeof(int));
  }
  if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)len) fail("sendmsg");
}

/* One message into buf (NUL-terminated); its fds into fds. Returns the length; 0 is end of file. */
static ssize_t receive(int fd, char *buf, size_t cap, int *fds, size_t *nfds) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
  } ctrl;
  struct iovec iov = {.iov_base = buf, .iov_len = cap - 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf, .msg_controllen = sizeof ctrl.buf};
  wait_readable(fd, "waiting for a message");
  ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) fail("recvmsg");
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) fail("message truncated");
  buf[n] = '\0';
  *nfds = 0;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h != NULL; h = CMSG_NXTHDR(&msg, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count && *nfds < MAX_FDS; i++)
      memcpy(&fds[(*nfds)++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
  }
  return n;
}

static void expect(const char *text) {
  char buf[8192];
  int fds[MAX_FDS];
  size_t nfds;
  ssize_t n = receive(channel(), buf, sizeof buf, fds, &nfds);
  if (n == 0) fail("end of file instead of a message");
  if (nfds != 0 || strcmp(buf, text) != 0) {
    fprintf(stderr, "peer: expected \"%s\", got \"%s\" with %zu fds\n", text, buf, nfds);
    exit(1);
  }
}

static void use_tcp(const char *text) {
  char buf[8192], line[256];
  int fds[MAX_FDS];
  size_t nfds, got = 0;
  if (receive(channel(), buf, sizeof buf, fds, &nfds) <= 0 || nfds != 1) fail("expected one fd");
  int tcp = fds[0];
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(tcp, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) fail("not a stream socket");
  size_t tlen = strlen(text);
  if (write(tcp, text, tlen) != (ssize_t)tlen || write(tcp, "\n", 1) != 1) fail("write to the TCP socket");
  while (got < sizeof line - 1 && (got == 0 || line[got - 1] != '\n')) {
    wait_readable(tcp, "waiting for the TCP reply");
    ssize_t n = read(tcp, line + got, sizeof line - 1 - got);
    if (n <= 0) fail("read from the TCP socket");
    got += (size_t)n;
  }
  line[got - 1] = '\0';
  printf("tcp-reply %s\n", line);
  close(tcp);
}

static void echo_fds(void) {
  char buf[8192];
  int fds[MAX_FDS];
  size_t nfds;
  ssize_t n = receive(channel(), buf, sizeof buf, fds, &nfds);
  if (n <= 0) fail("expected a message");
  send_with_fds(channel(), buf, (size_t)n, fds, nfds);
  for (size_t i = 0; i < nfds; i++) close(fds[i]);
  printf("echoed %zu\n", nfds);
}

static void send_pipe(const char *text) {
  int p[2];
  size_t len = strlen(text);
  if (pipe2(p, O_CLOEXEC) != 0 || write(p[1], text, len) != (ssize_t)len) fail("pipe");
  close(p[1]);
  send_with_fds(channel(), "pipe", 4, &p[0], 1);
  close(p[0]);
}

static char *filled(size_t len, int pattern) {
  char *data = malloc(len > 0 ? len : 1);
  if (data == NULL) fail("malloc");
  for (size_t i = 0; i < len; i++) data[i] = pattern ? (char)((i * 131 + 7) & 255) : 'x';
  return data;
}

/* The receiver must close every fd of a message it refuses: the read end sees EOF only when no
   write end is left open anywhere. */
static void hostile(size_t len, size_t k) {
  int p[2], fds[MAX_FDS];
  char *data = filled(len, 0);
  if (pipe2(p, O_CLOEXEC) != 0) fail("pipe");
  for (size_t i = 0; i < k; i++) fds[i] = p[1];
  send_with_fds(channel(), data, len, fds, k);
  free(data);
  close(p[1]);
  struct pollfd pfd = {.fd = p[0], .events = POLLIN};
  char c;
  int closed = poll(&pfd, 1, TIMEOUT_MS) == 1 && read(p[0], &c, 1) == 0;
  printf(closed ? "fds-closed\n" : "fds-open\n");
  close(p[0]);
}

static void wait_eof(void) {
  char buf[8192];
  wait_readable(channel(), "waiting for end of file");
  ssize_t n = recvmsg(channel(), &(struct msghdr){.msg_iov = &(struct iovec){buf, sizeof buf}, .msg_iovlen = 1}, 0);
  if (n < 0 && errno != ECONNRESET) fail("recvmsg");
  if (n > 0) {
    fprintf(stderr, "peer: a message (%zd bytes) instead of end of file\n", n);
    exit(1);
  }
  printf("eof\n");
}

static void many(size_t n) {
  int *fds = calloc(n, sizeof(int));
  char buf[64];
  int rfds[MAX_FDS];
  size_t nfds;
  if (fds == NULL) fail("calloc");
  for (size_t i = 0; i < n; i++) {
    fds[i] = connect_to(path);
    send_with_fds(fds[i], "many", 4, NULL, 0);
  }
  for (size_t i = 0; i < n; i++) {
    if (receive(fds[i], buf, sizeof buf, rfds, &nfds) <= 0 || strcmp(buf, "ok") != 0) fail("many: no ok");
  }
  for (size_t i = 0; i < n; i++) close(fds[i]);
  free(fds);
  printf("many %zu\n", n);
}

static void flood(size_t n) {
  size_t served = 0, dropped = 0;
  char buf[64];
  for (size_t i = 0; i < n; i++) {
    int fd = connect_to(path); /* kept open until exit: the receiver stays out of fds */
    if (sendmsg(fd, &(struct msghdr){.msg_iov = &(struct iovec){"many", 4}, .msg_iovlen = 1}, MSG_NOSIGNAL) != 4) {
      dropped++;
      continue;
    }
    wait_readable(fd, "flood: waiting for an answer");
    ssize_t got = recv(fd, buf, sizeof buf, 0);
    if (got == 2 && memcmp(buf, "ok", 2) == 0) served++;
    else if (got == 0 || (got < 0 && errno == ECONNRESET)) dropped++;
    else fail("flood: unexpected answer");
  }
  printf("flood %zu %zu\n", served, dropped);
}

static void mkstale(const char *file) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(file) >= sizeof addr.sun_path) fail("path too long");
  strcpy(addr.sun_path, file);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) fail("bind");
  close(fd);
}

static size_t number(const char *s) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || end == s || (*end != '\0' && *end != ':')) fail("bad number");
  return v;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: peer PATH COMMAND...\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  path = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *cmd = argv[i], *arg = strchr(cmd, ':');
    arg = arg ? arg + 1 : "";
    errno = 0;
    if (strcmp(cmd, "cred") == 0) {
      printf("cred %d %u %u\n", (int)getpid(), (unsigned)getuid(), (unsigned)getgid());
    } else if (strcmp(cmd, "connect") == 0) {
      channel();
    } else if (strncmp(cmd, "send:", 5) == 0) {
      send_with_fds(channel(), arg, strlen(arg), NULL, 0);
    } else if (strncmp(cmd, "expect:", 7) == 0) {
      expect(arg);
    } else if (strncmp(cmd, "use-tcp:", 8) == 0) {
      use_tcp(arg);
    } else if (strcmp(cmd, "echo-fds") == 0) {
      echo_fds();
    } else if (strncmp(cmd, "send-pipe:", 10) == 0) {
      send_pipe(arg);
    } else if (strncmp(cmd, "pattern:", 8) == 0) {
      size_t n = number(arg);
      char *data = filled(n, 1);
      send_with_fds(channel(), data, n, NULL, 0);
      free(data);
    } else if (strncmp(cmd, "hostile:", 8) == 0) {
      const char *k = strchr(arg, ':');
      if (k == NULL) fail("hostile:LEN:K");
      hostile(number(arg), number(k + 1));
    } else if (strcmp(cmd, "empty") == 0) {
      send_with_fds(channel(), "", 0, NULL, 0);
    } else if (strcmp(cmd, "eof") == 0) {
      wait_eof();
    } else if (strncmp(cmd, "flood:", 6) == 0) {
      flood(number(arg));
    } else if (strncmp(cmd, "many:", 5) == 0) {
      many(number(arg));
    } else if (strncmp(cmd, "sleep:", 6) == 0) {
      nanosleep(&(struct timespec){.tv_sec = (time_t)(number(arg) / 1000),
                                   .tv_nsec = (long)(number(arg) % 1000) * 1000000L},
                NULL);
    } else if (strcmp(cmd, "quit") == 0) {
      _exit(0);
    } else if (strncmp(cmd, "mkstale:", 8) == 0) {
      mkstale(arg);
    } else {
      fprintf(stderr, "peer: unknown command %s\n", cmd);
      return 2;
    }
  }
  if (conn >= 0) close(conn);
  return 0;
}
