/* destroyTcp(netns, ids): SOCK_DESTROY (sock_diag, CONFIG_INET_DIAG_DESTROY) for each IPv4 TCP
   socket named by its inet_diag_sockid, as tcpConnections() returned it (4-tuple, interface and
   cookie: the kernel finds the socket by the tuple and refuses it if the cookie differs). The
   kernel aborts it as tcp_abort() does: a RST to the peer, ECONNABORTED for its owner's next
   call. Sockets already gone are skipped. Returns how many were destroyed. */
#include "diag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns.h"
#include "util.h"

enum { MAX_IDS = 65536 };

static int send_destroy(int fd, uint32_t seq, const struct inet_diag_sockid *id) {
  struct inet_diag_req_v2 req;
  memset(&req, 0, sizeof req);
  req.sdiag_family = AF_INET;
  req.sdiag_protocol = IPPROTO_TCP;
  req.idiag_states = ~0u;
  req.id = *id;
  return diag_send(fd, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, seq, &req);
}

/* The kernel's answer to request seq: 0, or -errno. */
static int read_ack(int fd, uint32_t seq) {
  uint64_t words[1024]; /* an error ack echoes the request: far less than this */
  for (;;) {
    struct sockaddr_nl from;
    socklen_t fromlen = sizeof from;
    memset(&from, 0, sizeof from);
    ssize_t n = recvfrom(fd, words, sizeof words, 0, (struct sockaddr *)&from, &fromlen);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
    }
    if (fromlen < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0) continue;
    const unsigned char *buf = (const unsigned char *)words;
    size_t len = (size_t)n, off = 0;
    while (off < len) {
      struct nlmsghdr h;
      if (len - off < sizeof h) return -EPROTO;
      memcpy(&h, buf + off, sizeof h);
      if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len - off) return -EPROTO;
      if (h.nlmsg_seq == seq && h.nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr e;
        if (h.nlmsg_len - NLMSG_HDRLEN < sizeof e.error) return -EPROTO;
        memcpy(&e.error, buf + off + NLMSG_HDRLEN, sizeof e.error);
        return e.error > 0 ? -EPROTO : e.error;
      }
      size_t step = NLMSG_ALIGN(h.nlmsg_len);
      off = step > len - off ? len : off + step;
    }
  }
}

napi_value destroy_tcp(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, argv, 2)) return NULL;
  char path[NETNS_PATH_MAX];
  bool has_path;
  void *data;
  size_t len;
  if (!get_netns_path(env, argv[0], path, &has_path) || !get_bytes(env, argv[1], "ids", &data, &len)) return NULL;
  const size_t size = sizeof(struct inet_diag_sockid);
  if (len % size != 0 || len / size > MAX_IDS) {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "ids must be whole inet_diag_sockid records (at most 65536)");
    return NULL;
  }
  uint32_t destroyed = 0;
  if (len > 0) {
    int fd = diag_open(has_path ? path : NULL);
    if (fd < 0) {
      throw_errno(env, has_path ? "setns" : "socket", -fd);
      return NULL;
    }
    int failure = 0;
    for (size_t i = 0; i < len / size && failure == 0; i++) {
      struct inet_diag_sockid id;
      memcpy(&id, (const unsigned char *)data + i * size, size);
      uint32_t seq = (uint32_t)i + 1;
      int r = send_destroy(fd, seq, &id);
      if (r == 0) r = read_ack(fd, seq);
      if (r == 0) destroyed++;
      else if (r != -ENOENT) failure = r; /* ENOENT: closed meanwhile */
    }
    close(fd);
    if (failure != 0) {
      throw_errno(env, "sock_destroy", -failure);
      return NULL;
    }
  }
  napi_value result;
  if (napi_create_uint32(env, destroyed, &result) != napi_ok) return NULL;
  return result;
}
