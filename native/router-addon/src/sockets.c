/* Synchronous socket syscalls on bare fds: the router makes the host TCP sockets it passes to
   shims with these. Each checks its arguments, makes one syscall and throws errno as Node does. */
#include "sockets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57 /* Linux 4.12; older libc headers lack the name */
#endif

static napi_value undefined(napi_env env) {
  napi_value v = NULL;
  napi_get_undefined(env, &v);
  return v;
}

static bool get_ipv4(napi_env env, napi_value ip, napi_value port, struct sockaddr_in *addr) {
  char text[INET_ADDRSTRLEN];
  size_t len;
  int64_t p;
  if (!get_string(env, ip, "ip", text, sizeof text, &len) || !get_int(env, port, "port", 0, 65535, &p))
    return false;
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_port = htons((uint16_t)p);
  if (inet_pton(AF_INET, text, &addr->sin_addr) != 1) { /* dotted quad only */
    napi_throw_type_error(env, "ERR_INVALID_IP_ADDRESS", "ip must be a dotted-quad IPv4 address");
    return false;
  }
  return true;
}

/* tcpSocket(nonblock, cloexec) -> fd: AF_INET SOCK_STREAM */
napi_value tcp_socket(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  bool nonblock, cloexec;
  if (!get_args(env, info, argv, 2) || !get_bool(env, argv[0], "nonblock", &nonblock) ||
      !get_bool(env, argv[1], "cloexec", &cloexec))
    return NULL;
  int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0) | (cloexec ? SOCK_CLOEXEC : 0), 0);
  if (fd < 0) {
    throw_errno(env, "socket", errno);
    return NULL;
  }
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    return NULL;
  }
  return result;
}

/* setsockoptRaw(fd, level, name, Buffer): the bytes as the kernel takes them (int, timeval…). */
napi_value setsockopt_raw(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd;
  int64_t level, name;
  void *data;
  size_t len;
  if (!get_args(env, info, argv, 4) || !get_fd(env, argv[0], &fd) ||
      !get_int(env, argv[1], "level", 0, INT_MAX, &level) || !get_int(env, argv[2], "name", 0, INT_MAX, &name) ||
      !get_bytes(env, argv[3], "value", &data, &len))
    return NULL;
  if (len > INT_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "value too long");
    return NULL;
  }
  if (setsockopt(fd, (int)level, (int)name, data, (socklen_t)len) != 0) throw_errno(env, "setsockopt", errno);
  return undefined(env);
}

/* getsockoptInt(fd, level, name) -> int (SO_ERROR reads and clears the pending error) */
napi_value getsockopt_int(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  int fd, value = 0;
  int64_t level, name;
  socklen_t len = sizeof value;
  if (!get_args(env, info, argv, 3) || !get_fd(env, argv[0], &fd) ||
      !get_int(env, argv[1], "level", 0, INT_MAX, &level) || !get_int(env, argv[2], "name", 0, INT_MAX, &name))
    return NULL;
  if (getsockopt(fd, (int)level, (int)name, &value, &len) != 0) {
    throw_errno(env, "getsockopt", errno);
    return NULL;
  }
  /* The few byte-sized options (some IP ones) fill less: zero-initialised, so still right on LE. */
  if (napi_create_int32(env, value, &result) != napi_ok) return NULL;
  return result;
}

/* connectIPv4(fd, ip, port) -> 'connected' | 'in-progress'. A blocking socket blocks this thread
   until the handshake ends: only for loopback or tests; the router uses non-blocking sockets. */
napi_value connect_ipv4(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  int fd;
  struct sockaddr_in addr;
  if (!get_args(env, info, argv, 3) || !get_fd(env, argv[0], &fd) || !get_ipv4(env, argv[1], argv[2], &addr))
    return NULL;
  const char *state = "connected";
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    /* EINTR: the kernel goes on with the handshake, as for EINPROGRESS; never call connect again. */
    if (errno != EINPROGRESS && errno != EINTR) {
      throw_errno(env, "connect", errno);
      return NULL;
    }
    state = "in-progress";
  }
  if (napi_create_string_utf8(env, state, NAPI_AUTO_LENGTH, &result) != napi_ok) return NULL;
  return result;
}

/* bindIPv4(fd, ip, port); port 0 picks an ephemeral port (read it with localAddress). */
napi_value bind_ipv4(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  struct sockaddr_in addr;
  if (!get_args(env, info, argv, 3) || !get_fd(env, argv[0], &fd) || !get_ipv4(env, argv[1], argv[2], &addr))
    return NULL;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) throw_errno(env, "bind", errno);
  return undefined(env);
}

/* listenFd(fd, backlog) */
napi_value listen_fd(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  int64_t backlog;
  if (!get_args(env, info, argv, 2) || !get_fd(env, argv[0], &fd) ||
      !get_int(env, argv[1], "backlog", 0, INT_MAX, &backlog))
    return NULL;
  if (listen(fd, (int)backlog) != 0) throw_errno(env, "listen", errno);
  return undefined(env);
}

/* localAddress(fd) -> { ip, port } (getsockname of an AF_INET socket) */
napi_value local_address(napi_env env, napi_callback_info info) {
  napi_value argv[1], result, ip, port;
  int fd;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char text[INET_ADDRSTRLEN];
  if (!get_args(env, info, argv, 1) || !get_fd(env, argv[0], &fd)) return NULL;
  memset(&ss, 0, sizeof ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    throw_errno(env, "getsockname", errno);
    return NULL;
  }
  if (ss.ss_family != AF_INET || len < sizeof(struct sockaddr_in)) {
    throw_errno(env, "getsockname", EAFNOSUPPORT);
    return NULL;
  }
  struct sockaddr_in sin;
  memcpy(&sin, &ss, sizeof sin);
  inet_ntop(AF_INET, &sin.sin_addr, text, sizeof text);
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &ip) != napi_ok ||
      napi_create_uint32(env, ntohs(sin.sin_port), &port) != napi_ok ||
      napi_set_named_property(env, result, "ip", ip) != napi_ok ||
      napi_set_named_property(env, result, "port", port) != napi_ok)
    return NULL;
  return result;
}

/* socketCookie(fd) -> bigint: SO_COOKIE, the socket's id for its lifetime, the same through dup
   and SCM_RIGHTS (a shim recovering after exec asks the router about a socket by it). */
napi_value socket_cookie(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  int fd;
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (!get_args(env, info, argv, 1) || !get_fd(env, argv[0], &fd)) return NULL;
  if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0) {
    throw_errno(env, "getsockopt", errno);
    return NULL;
  }
  if (napi_create_bigint_uint64(env, cookie, &result) != napi_ok) return NULL;
  return result;
}

/* closeFd(fd) */
napi_value close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, argv, 1) || !get_fd(env, argv[0], &fd)) return NULL;
  /* On Linux the fd is gone even when close() says EINTR: retrying could close someone else's. */
  if (close(fd) != 0 && errno != EINTR) throw_errno(env, "close", errno);
  return undefined(env);
}
