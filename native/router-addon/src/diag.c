/* The kernel's TCP socket tables from NETLINK_SOCK_DIAG (inet_diag, what `ss -4t` reads): one
   request, a dump of one or more datagrams, each holding whole netlink messages; every length is
   checked against what was received before anything is read.
   listeningSockets(): the IPv4 listeners of this process's network namespace with their cookies.
   tcpConnections(netns): the other IPv4 TCP sockets of this or another network namespace. */
#include "diag.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "netns.h"
#include "util.h"

enum {
  /* One datagram of the dump. The kernel sizes dump parts to the reader's buffer, at most 32 KiB. */
  RECV_BUFFER = 32768,
  /* A dump the kernel marks inconsistent (NLM_F_DUMP_INTR: the table changed under it) is redone
     this many times before giving up with EAGAIN. */
  MAX_ATTEMPTS = 3,
  /* The kernel answers at once; a silent one must not hang the Node thread. */
  RECV_TIMEOUT_SECONDS = 5,
};

/* The kernel's TCP_NEW_SYN_RECV (include/net/tcp_states.h), not in the UAPI headers. */
enum { NEW_SYN_RECV = 12 };

/* What one pass over the dump ended with; negative values are -errno. */
enum { DUMP_DONE = 0, DUMP_MORE = 1, DUMP_INTERRUPTED = 2, DUMP_NAPI_FAILED = 3 };

struct dump {
  napi_env env;
  napi_value list;  /* the JS array being filled */
  uint32_t count;
  uint32_t seq;
  bool interrupted;
  uint32_t states;  /* 1 << TCP_xxx for each state asked for */
  int (*add)(struct dump *d, const struct inet_diag_msg *m);
};

int diag_open(const char *netns) {
  int fd = socket_in_netns(netns, AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return fd;
  struct timeval tv = {.tv_sec = RECV_TIMEOUT_SECONDS, .tv_usec = 0};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

int diag_send(int fd, uint16_t type, uint16_t flags, uint32_t seq, const struct inet_diag_req_v2 *req) {
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = type;
  msg.nlh.nlmsg_flags = flags;
  msg.nlh.nlmsg_seq = seq;
  msg.req = *req;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK}; /* nl_pid 0: the kernel */
  for (;;) {
    ssize_t n = sendto(fd, &msg, sizeof msg, 0, (struct sockaddr *)&kernel, sizeof kernel);
    if (n == (ssize_t)sizeof msg) return 0;
    if (n >= 0) return -EPROTO;
    if (errno != EINTR) return -errno;
  }
}

static int send_request(int fd, uint32_t seq, uint32_t states) {
  struct inet_diag_req_v2 req;
  memset(&req, 0, sizeof req);
  req.sdiag_family = AF_INET;
  req.sdiag_protocol = IPPROTO_TCP;
  req.idiag_states = states;
  req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE; /* no particular socket */
  req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  return diag_send(fd, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, &req);
}

/* Appends { ip, port, cookie } for one listener. */
static int add_listener(struct dump *d, const struct inet_diag_msg *m) {
  char text[INET_ADDRSTRLEN];
  struct in_addr addr;
  memcpy(&addr, &m->id.idiag_src[0], sizeof addr); /* AF_INET: the first word, network order */
  if (inet_ntop(AF_INET, &addr, text, sizeof text) == NULL) return -errno;
  uint64_t cookie = (uint64_t)m->id.idiag_cookie[0] | (uint64_t)m->id.idiag_cookie[1] << 32;
  napi_value entry, ip, port, big;
  if (napi_create_object(d->env, &entry) != napi_ok ||
      napi_create_string_utf8(d->env, text, NAPI_AUTO_LENGTH, &ip) != napi_ok ||
      napi_create_uint32(d->env, ntohs(m->id.idiag_sport), &port) != napi_ok ||
      napi_create_bigint_uint64(d->env, cookie, &big) != napi_ok ||
      napi_set_named_property(d->env, entry, "ip", ip) != napi_ok ||
      napi_set_named_property(d->env, entry, "port", port) != napi_ok ||
      napi_set_named_property(d->env, entry, "cookie", big) != napi_ok ||
      napi_set_element(d->env, d->list, d->count, entry) != napi_ok)
    return DUMP_NAPI_FAILED;
  d->count++;
  return DUMP_MORE;
}

/* One netlink message: payload is plen bytes, all of them inside the datagram. */
static int handle_message(struct dump *d, const struct nlmsghdr *h, const unsigned char *payload, size_t plen) {
  if (h->nlmsg_seq != d->seq) return DUMP_MORE; /* not an answer to this request */
  if (h->nlmsg_flags & NLM_F_DUMP_INTR) d->interrupted = true;
  switch (h->nlmsg_type) {
  case NLMSG_DONE: {
    /* Since Linux 4.x the kernel puts the dump's own error (0 when it went well) here. */
    int err = 0;
    if (plen >= sizeof err) memcpy(&err, payload, sizeof err);
    if (err < 0) return err;
    return d->interrupted ? DUMP_INTERRUPTED : DUMP_DONE;
  }
  case NLMSG_ERROR: {
    struct nlmsgerr e;
    if (plen < sizeof e) return -EPROTO;
    memcpy(&e, payload, sizeof e);
    return e.error < 0 ? e.error : -EPROTO; /* an ACK (0) was never asked for */
  }
  case SOCK_DIAG_BY_FAMILY: {
    struct inet_diag_msg m;
    if (plen < sizeof m) return -EPROTO;
    memcpy(&m, payload, sizeof m); /* attributes may follow: not asked for, not read */
    if (m.idiag_family != AF_INET || m.idiag_state >= 32 || !(d->states & (1u << m.idiag_state))) return DUMP_MORE;
    return d->add(d, &m);
  }
  default:
    return DUMP_MORE; /* NLMSG_NOOP and anything newer: nothing for us */
  }
}

/* Every message in one received datagram of len bytes. */
static int handle_datagram(struct dump *d, const unsigned char *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    struct nlmsghdr h;
    if (len - off < sizeof h) return -EPROTO;
    memcpy(&h, buf + off, sizeof h);
    if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len - off) return -EPROTO;
    int r = handle_message(d, &h, buf + off + NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN);
    if (r != DUMP_MORE) return r;
    size_t step = NLMSG_ALIGN(h.nlmsg_len); /* the last message may lack its padding */
    off = step > len - off ? len : off + step;
  }
  return DUMP_MORE;
}

/* One request and its whole dump, appended to d->list. */
static int dump_once(int fd, struct dump *d) {
  _Static_assert(RECV_BUFFER % sizeof(uint64_t) == 0, "whole words");
  uint64_t words[RECV_BUFFER / sizeof(uint64_t)]; /* aligned for nlmsghdr */
  int r = send_request(fd, d->seq, d->states);
  if (r != 0) return r;
  for (;;) {
    struct sockaddr_nl from;
    struct iovec iov = {.iov_base = words, .iov_len = sizeof words};
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    memset(&from, 0, sizeof from);
    ssize_t n = recvmsg(fd, &msg, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
    }
    if (msg.msg_flags & MSG_TRUNC) return -EMSGSIZE; /* cannot happen with a 32 KiB buffer */
    if (msg.msg_namelen < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0)
      continue; /* not from the kernel */
    r = handle_datagram(d, (const unsigned char *)words, (size_t)n);
    if (r != DUMP_MORE) return r;
  }
}

/* Fills a JS array with one dump of the namespace (NULL: this thread's), retried while the kernel
   says the table changed under it. Returns the array, or NULL with an exception pending. */
static napi_value run_dump(napi_env env, const char *netns, uint32_t states, int (*add)(struct dump *, const struct inet_diag_msg *)) {
  int fd = diag_open(netns);
  if (fd < 0) {
    throw_errno(env, netns ? "setns" : "socket", -fd);
    return NULL;
  }
  struct dump d = {.env = env, .states = states, .add = add};
  int r = DUMP_INTERRUPTED;
  for (uint32_t attempt = 1; attempt <= MAX_ATTEMPTS && r == DUMP_INTERRUPTED; attempt++) {
    d.seq = attempt;
    d.count = 0;
    d.interrupted = false;
    if (napi_create_array(env, &d.list) != napi_ok) {
      r = DUMP_NAPI_FAILED;
      break;
    }
    r = dump_once(fd, &d);
  }
  close(fd);
  if (r == DUMP_DONE) return d.list;
  if (r == DUMP_INTERRUPTED) throw_errno(env, "sock_diag", EAGAIN);
  else if (r < 0) throw_errno(env, "sock_diag", -r);
  /* DUMP_NAPI_FAILED: the failed napi call left its own exception pending */
  return NULL;
}

/* listeningSockets() -> [{ ip, port, cookie }] */
napi_value listening_sockets(napi_env env, napi_callback_info info) {
  (void)info;
  return run_dump(env, NULL, 1u << TCP_LISTEN, add_listener);
}

static bool set_string(napi_env env, napi_value obj, const char *key, const char *text) {
  napi_value v;
  return napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v) == napi_ok && napi_set_named_property(env, obj, key, v) == napi_ok;
}

static bool set_uint(napi_env env, napi_value obj, const char *key, uint32_t n) {
  napi_value v;
  return napi_create_uint32(env, n, &v) == napi_ok && napi_set_named_property(env, obj, key, v) == napi_ok;
}

/* Appends { src, sport, dst, dport, state, cookie, id } for one connection; id is the kernel's
   inet_diag_sockid as is, what destroyTcp() takes back. */
static int add_connection(struct dump *d, const struct inet_diag_msg *m) {
  char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
  struct in_addr a;
  memcpy(&a, &m->id.idiag_src[0], sizeof a);
  if (inet_ntop(AF_INET, &a, src, sizeof src) == NULL) return -errno;
  memcpy(&a, &m->id.idiag_dst[0], sizeof a);
  if (inet_ntop(AF_INET, &a, dst, sizeof dst) == NULL) return -errno;
  uint64_t cookie = (uint64_t)m->id.idiag_cookie[0] | (uint64_t)m->id.idiag_cookie[1] << 32;
  napi_value entry, big, id;
  if (napi_create_object(d->env, &entry) != napi_ok || !set_string(d->env, entry, "src", src) ||
      !set_uint(d->env, entry, "sport", ntohs(m->id.idiag_sport)) || !set_string(d->env, entry, "dst", dst) ||
      !set_uint(d->env, entry, "dport", ntohs(m->id.idiag_dport)) || !set_uint(d->env, entry, "state", m->idiag_state) ||
      napi_create_bigint_uint64(d->env, cookie, &big) != napi_ok ||
      napi_set_named_property(d->env, entry, "cookie", big) != napi_ok ||
      napi_create_buffer_copy(d->env, sizeof m->id, &m->id, NULL, &id) != napi_ok ||
      napi_set_named_property(d->env, entry, "id", id) != napi_ok ||
      napi_set_element(d->env, d->list, d->count, entry) != napi_ok)
    return DUMP_NAPI_FAILED;
  d->count++;
  return DUMP_MORE;
}

/* tcpConnections(netns: string | null, withListeners: boolean) -> [{ src, sport, dst, dport, state, cookie, id }]:
   every IPv4 TCP socket but TIME_WAIT and CLOSE (listeners only when asked). */
napi_value tcp_connections(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, argv, 2)) return NULL;
  char path[NETNS_PATH_MAX];
  bool has_path, listeners;
  if (!get_netns_path(env, argv[0], path, &has_path) || !get_bool(env, argv[1], "withListeners", &listeners)) return NULL;
  uint32_t states = ((1u << TCP_CLOSING) << 1) - 1; /* TCP_ESTABLISHED (1) .. TCP_CLOSING (11) */
  states &= ~((1u << TCP_TIME_WAIT) | (1u << TCP_CLOSE) | 1u);
  if (!listeners) states &= ~(1u << TCP_LISTEN);
  states |= 1u << NEW_SYN_RECV; /* request sockets, in kernels that report them as such */
  return run_dump(env, has_path ? path : NULL, states, add_connection);
}
