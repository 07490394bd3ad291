/* The router's Unix SOCK_SEQPACKET server and its connections (Node has no SEQPACKET, no
   SO_PEERCRED, no SCM_RIGHTS). Everything runs on the Node thread: a uv_poll_t per socket tells
   when to accept or recvmsg, and nothing ever blocks.

   A `chan` is a listening server or one accepted connection. JS holds it through an external;
   the C side keeps a strong reference to that external while the socket is served (JS may drop
   its handle; a live peer must not be cut by the GC). A chan is freed when both the external is
   finalized and libuv has finished closing the poll handle, in whichever order they happen.
   While the handle is open an async cleanup hook is registered, so that a worker's teardown
   closes it and waits for libuv before Node unloads this module. */
#include "seqpacket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "util.h"

#define SCM_MAX_FD 253            /* the kernel's limit on fds in one message (include/net/scm.h) */
#define MAX_MESSAGE (1 << 20)     /* bound on maxMessage: each connection keeps a buffer this big */
#define BATCH 64                  /* accepts or messages per readiness, so one peer can't hog the loop */

typedef struct chan {
  uv_poll_t poll;
  napi_env env;
  int fd;                     /* -1 once closed */
  bool is_server;
  bool started;               /* polled, with callbacks and an async context */
  bool js_alive, uv_open;     /* freed when both are false */
  bool emit_close;            /* a connection's 'close' is due when libuv has closed the handle */
  napi_ref self, on_event, on_close;  /* on_event: 'connection' (server) or 'message' */
  napi_async_context async;
  napi_async_cleanup_hook_handle teardown_hook; /* registered while the uv handle is open */
  size_t max_message;
  unsigned max_fds;
  /* server only */
  int spare_fd;               /* given up to accept-and-drop a connection when out of fds */
  dev_t dev;
  ino_t ino;                  /* the socket file bound: close() unlinks only that one */
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  /* connection only */
  char *ctrl;                 /* control buffer, then the message buffer (malloc aligns both) */
  size_t ctrl_len;
} chan;

static void close_fds(const int *fds, size_t n) {
  for (size_t i = 0; i < n; i++) close(fds[i]); /* EINTR still closes on Linux: never retry */
}

static void delete_ref(napi_env env, napi_ref *ref) {
  if (*ref != NULL) napi_delete_reference(env, *ref);
  *ref = NULL;
}

/* Lets go of everything that needs the env; after this the chan can outlive it. */
static void release_js(chan *c) {
  delete_ref(c->env, &c->self);
  delete_ref(c->env, &c->on_event);
  delete_ref(c->env, &c->on_close);
  if (c->started) napi_async_destroy(c->env, c->async);
  c->started = false;
}

static void free_if_unused(chan *c) {
  if (c->js_alive || c->uv_open) return;
  free(c->ctrl);
  free(c);
}

static void on_uv_closed(uv_handle_t *handle) {
  chan *c = handle->data;
  if (c->emit_close) {
    napi_handle_scope scope;
    if (napi_open_handle_scope(c->env, &scope) == napi_ok) {
      call_js(c->env, c->async, c->on_close, 0, NULL);
      napi_close_handle_scope(c->env, scope);
    }
    c->emit_close = false;
    release_js(c);
  }
  /* Only now may a worker's env (and with it this code) go away. */
  if (c->teardown_hook != NULL) napi_remove_async_cleanup_hook(c->teardown_hook);
  c->teardown_hook = NULL;
  c->uv_open = false;
  free_if_unused(c);
}

/* Stops serving: no more callbacks except a connection's one 'close' (when emit is true), which
   comes from libuv's close callback, so always asynchronously. With emit false nothing may call
   into JS: the GC or the env's teardown got here. */
static void chan_close(chan *c, bool emit) {
  if (c->fd < 0) return;
  uv_poll_stop(&c->poll); /* before close(): libuv must not watch a number the kernel may reuse */
  close(c->fd);
  c->fd = -1;
  if (c->is_server) {
    struct stat st;
    if (c->spare_fd >= 0) close(c->spare_fd);
    /* The file may be another router's by now (it removed ours as stale): leave that alone. */
    if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino) unlink(c->path);
  }
  c->emit_close = emit && c->started && !c->is_server;
  if (c->emit_close) {
    delete_ref(c->env, &c->self);     /* keep on_close and the async context until it's emitted */
    delete_ref(c->env, &c->on_event);
  } else {
    release_js(c);
  }
  uv_close((uv_handle_t *)&c->poll, on_uv_closed);
}

/* Node is tearing the env down (exit, end of a worker): close quietly, never call JS again. An
   async cleanup hook, because a worker's env and this module's code must stay until libuv has
   run on_uv_closed (which removes the hook); a plain one segfaulted there. */
static void on_env_teardown(napi_async_cleanup_hook_handle hook, void *arg) {
  chan *c = arg;
  (void)hook;
  c->emit_close = false;
  chan_close(c, false);
  release_js(c);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  chan *c = data;
  (void)env;
  (void)hint;
  c->js_alive = false;
  chan_close(c, false); /* only an unstarted connection is still open here (started ones are held) */
  free_if_unused(c);
}

/* The chan behind an external made here; anything else is a TypeError, never a wild pointer. */
static const napi_type_tag CHAN_TAG = {0x736c696d726f7574ULL, 0x65726368616e0001ULL};

static chan *get_chan(napi_env env, napi_value v) {
  bool tagged = false;
  void *c = NULL;
  if (napi_check_object_type_tag(env, v, &CHAN_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &c) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a router-addon handle");
    return NULL;
  }
  return c;
}

/* A new chan and the external that JS holds it by; takes ownership of fd (closed on failure). */
static chan *chan_new(napi_env env, int fd, bool is_server, napi_value *external) {
  uv_loop_t *loop;
  chan *c = calloc(1, sizeof *c);
  if (c == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok) {
    free(c);
    close(fd);
    if (c == NULL) throw_errno(env, "calloc", ENOMEM);
    return NULL;
  }
  c->env = env;
  c->fd = fd;
  c->spare_fd = -1;
  c->is_server = is_server;
  int err = uv_poll_init(loop, &c->poll, fd);
  if (err != 0) {
    close(fd);
    free(c);
    throw_errno(env, "uv_poll_init", -err);
    return NULL;
  }
  c->poll.data = c;
  c->uv_open = true;
  napi_add_async_cleanup_hook(env, on_env_teardown, c, &c->teardown_hook);
  if (napi_create_external(env, c, on_finalize, NULL, external) != napi_ok) {
    chan_close(c, false); /* on_uv_closed frees: js_alive is false */
    return NULL;
  }
  c->js_alive = true;
  if (napi_type_tag_object(env, *external, &CHAN_TAG) != napi_ok) {
    chan_close(c, false); /* the finalizer frees */
    return NULL;
  }
  return c;
}

static void on_readable(uv_poll_t *handle, int status, int events);

static bool chan_start(chan *c, napi_value external, napi_value on_event, napi_value on_close) {
  napi_env env = c->env;
  napi_value resource, name;
  if (napi_create_reference(env, external, 1, &c->self) != napi_ok ||
      napi_create_reference(env, on_event, 1, &c->on_event) != napi_ok ||
      (on_close != NULL && napi_create_reference(env, on_close, 1, &c->on_close) != napi_ok) ||
      napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_utf8(env, c->is_server ? "SlimSeqpacketServer" : "SlimSeqpacketConnection",
                              NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &c->async) != napi_ok) {
    chan_close(c, false);
    return false;
  }
  c->started = true;
  /* UV_DISCONNECT (EPOLLRDHUP) too: a peer's exit shows even if it never sent anything. */
  int err = uv_poll_start(&c->poll, c->is_server ? UV_READABLE : UV_READABLE | UV_DISCONNECT, on_readable);
  if (err != 0) {
    chan_close(c, false);
    throw_errno(env, "uv_poll_start", -err);
    return false;
  }
  return true;
}

/* --- server ------------------------------------------------------------------------------------ */

/* Out of fds, the listening socket stays readable and the loop would spin: accept the waiting
   peer with the spare fd's slot and hang up on it (libuv's own trick for TCP servers). */
static bool drop_one(chan *s) {
  if (s->spare_fd < 0) return false;
  close(s->spare_fd);
  int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd >= 0) close(fd);
  s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd >= 0;
}

/* Hands one accepted socket to JS: onConnection(external, pid, uid, gid). */
static void server_deliver(chan *s, int fd) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  /* Identity comes from the kernel, read once: the pid/uid/gid that called connect(). */
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    close(fd);
    return;
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) {
    close(fd);
    return;
  }
  napi_value argv[4];
  chan *c = chan_new(s->env, fd, false, &argv[0]);
  if (c != NULL) {
    c->max_message = s->max_message;
    c->max_fds = s->max_fds;
    if (napi_create_int32(s->env, cred.pid, &argv[1]) == napi_ok &&
        napi_create_uint32(s->env, cred.uid, &argv[2]) == napi_ok &&
        napi_create_uint32(s->env, cred.gid, &argv[3]) == napi_ok)
      call_js(s->env, s->async, s->on_event, 4, argv);
    /* If JS did not start it, the GC finalizes the external and that closes the socket. */
  } else {
    napi_value ignored;
    napi_get_and_clear_last_exception(s->env, &ignored);
  }
  napi_close_handle_scope(s->env, scope);
}

static void server_accept(chan *s) {
  for (int i = 0; i < BATCH && s->fd >= 0; i++) {
    int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      server_deliver(s, fd);
    } else if (errno == EINTR || errno == ECONNABORTED) {
      continue;
    } else if ((errno == EMFILE || errno == ENFILE) && drop_one(s)) {
      continue;
    } else {
      return; /* EAGAIN: all taken; anything else: the next readiness tries again */
    }
  }
}

/* A socket file nobody listens on was left by a router that died: remove it. A live one (another
   router) or anything that is not a socket is not ours to delete: bind then fails EADDRINUSE. The
   probe shows up at a live server as a connection that closes at once. */
static void remove_stale(const struct sockaddr_un *addr) {
  struct stat st;
  if (lstat(addr->sun_path, &st) != 0 || !S_ISSOCK(st.st_mode)) return;
  int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) return;
  if (connect(probe, (const struct sockaddr *)addr, sizeof *addr) != 0 && errno == ECONNREFUSED)
    unlink(addr->sun_path);
  close(probe);
}

/* listen(path, mode, maxMessage, maxFds, onConnection) -> external */
napi_value seqpacket_listen(napi_env env, napi_callback_info info) {
  napi_value argv[5], external;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t path_len;
  int64_t mode, max_message, max_fds;
  if (!get_args(env, info, argv, 5)) return NULL;
  if (!get_string(env, argv[0], "path", addr.sun_path, sizeof addr.sun_path, &path_len) ||
      !get_int(env, argv[1], "mode", 0, 07777, &mode) ||
      !get_int(env, argv[2], "maxMessage", 1, MAX_MESSAGE, &max_message) ||
      !get_int(env, argv[3], "maxFdsPerMessage", 0, SCM_MAX_FD, &max_fds) ||
      !get_function(env, argv[4], "onConnection"))
    return NULL;
  if (path_len == 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "path must not be empty");
    return NULL;
  }

  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, "socket", errno);
    return NULL;
  }
  remove_stale(&addr);
  const char *failed = NULL;
  struct stat st;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    failed = "bind";
  } else if (lstat(addr.sun_path, &st) != 0) {
    failed = "stat";
  } else if (chmod(addr.sun_path, (mode_t)mode) != 0) { /* before listen(): none can connect yet */
    failed = "chmod";
  } else if (listen(fd, SOMAXCONN) != 0) {
    failed = "listen";
  }
  if (failed != NULL) {
    int err = errno;
    if (strcmp(failed, "bind") != 0) unlink(addr.sun_path);
    close(fd);
    throw_errno(env, failed, err);
    return NULL;
  }

  chan *s = chan_new(env, fd, true, &external);
  if (s == NULL) {
    unlink(addr.sun_path);
    return NULL;
  }
  memcpy(s->path, addr.sun_path, sizeof s->path);
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  s->max_message = (size_t)max_message;
  s->max_fds = (unsigned)max_fds;
  s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return chan_start(s, external, argv[4], NULL) ? external : NULL;
}

/* --- connections ------------------------------------------------------------------------------- */

/* start(external, onMessage, onClose): begins reading. Separate from accept so JS can attach its
   listeners first: nothing is read before it. */
napi_value seqpacket_start(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  chan *c;
  if (!get_args(env, info, argv, 3) || (c = get_chan(env, argv[0])) == NULL) return NULL;
  if (!get_function(env, argv[1], "onMessage") || !get_function(env, argv[2], "onClose")) return NULL;
  if (c->is_server || c->started || c->fd < 0) {
    napi_throw_error(env, "ERR_INVALID_STATE", "not an unstarted connection");
    return NULL;
  }
  size_t cap = (size_t)c->max_fds * sizeof(int);
  c->ctrl_len = c->max_fds > 0 ? CMSG_SPACE(cap) : 0;
  c->ctrl = malloc(c->ctrl_len + c->max_message);
  if (c->ctrl == NULL) {
    throw_errno(env, "malloc", ENOMEM);
    return NULL;
  }
  chan_start(c, argv[0], argv[1], argv[2]);
  return NULL;
}

/* close(external): server or connection; a second close does nothing. */
napi_value seqpacket_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  chan *c;
  if (!get_args(env, info, argv, 1) || (c = get_chan(env, argv[0])) == NULL) return NULL;
  chan_close(c, true);
  return NULL;
}

/* Collects the fds of every SCM_RIGHTS header; returns how many (at most cap). */
static size_t received_fds(struct msghdr *msg, int *fds, size_t cap) {
  size_t n = 0;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(msg); h != NULL; h = CMSG_NXTHDR(msg, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS || h->cmsg_len < CMSG_LEN(0)) continue;
    size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count && n < cap; i++) memcpy(&fds[n++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
  }
  return n;
}

/* onMessage(Buffer, fds[]); false if the values could not be made (the fds are then still ours). */
static bool conn_deliver(chan *c, size_t len, const int *fds, size_t nfds) {
  napi_env env = c->env;
  napi_handle_scope scope;
  napi_value argv[2], fd_value;
  void *ignored;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return false;
  bool ok = napi_create_buffer_copy(env, len, c->ctrl + c->ctrl_len, &ignored, &argv[0]) == napi_ok &&
            napi_create_array_with_length(env, nfds, &argv[1]) == napi_ok;
  for (size_t i = 0; ok && i < nfds; i++)
    ok = napi_create_int32(env, fds[i], &fd_value) == napi_ok &&
         napi_set_element(env, argv[1], (uint32_t)i, fd_value) == napi_ok;
  if (ok) call_js(env, c->async, c->on_event, 2, argv); /* from here JS owns the fds */
  napi_close_handle_scope(env, scope);
  return ok;
}

/* One recvmsg = one message. Anything a well-behaved shim never sends (too big, too many fds, an
   empty message) closes the connection, and the fds that came with it are closed, not leaked. */
static void conn_read(chan *c) {
  /* Every received fd takes sizeof(int) of the control buffer: this bounds how many can arrive. */
  int fds[CMSG_SPACE(SCM_MAX_FD * sizeof(int)) / sizeof(int)];
  for (int i = 0; i < BATCH && c->fd >= 0; i++) {
    struct iovec iov = {.iov_base = c->ctrl + c->ctrl_len, .iov_len = c->max_message};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c->ctrl_len ? c->ctrl : NULL,
                         .msg_controllen = c->ctrl_len};
    ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    size_t nfds = n < 0 ? 0 : received_fds(&msg, fds, sizeof fds / sizeof fds[0]);
    /* > max_fds without MSG_CTRUNC is possible: CMSG_SPACE pads an odd count to a spare slot. */
    if (n <= 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || nfds > c->max_fds ||
        !conn_deliver(c, (size_t)n, fds, nfds)) {
      close_fds(fds, nfds);
      chan_close(c, true); /* EOF, error (ECONNRESET...), or a hostile message */
      return;
    }
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  chan *c = handle->data;
  (void)events;
  if (status < 0) {
    chan_close(c, true); /* EPOLLERR: libuv has already stopped watching */
  } else if (c->is_server) {
    server_accept(c);
  } else {
    conn_read(c); /* also on UV_DISCONNECT: queued messages first, then recvmsg() returns 0 */
  }
}

/* send(external, Buffer, fds[]): one sendmsg, fds as SCM_RIGHTS (the kernel dups them: the
   caller still owns and should close its own). Never blocks: a full peer gives EAGAIN. */
napi_value seqpacket_send(napi_env env, napi_callback_info info) {
  napi_value argv[3], item;
  chan *c;
  void *data;
  size_t len;
  uint32_t nfds;
  bool is_array = false;
  union {
    struct cmsghdr align; /* CMSG_FIRSTHDR needs the buffer aligned for a cmsghdr */
    char buf[CMSG_SPACE(SCM_MAX_FD * sizeof(int))];
  } ctrl;
  if (!get_args(env, info, argv, 3) || (c = get_chan(env, argv[0])) == NULL) return NULL;
  if (!get_bytes(env, argv[1], "message", &data, &len)) return NULL;
  if (napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fds must be an array");
    return NULL;
  }
  if (napi_get_array_length(env, argv[2], &nfds) != napi_ok) return NULL;
  if (nfds > SCM_MAX_FD) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "at most 253 fds per message");
    return NULL;
  }
  if (len == 0) { /* the receiving side cannot tell an empty message from end of file */
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "message must not be empty");
    return NULL;
  }
  if (c->is_server || c->fd < 0) {
    throw_errno(env, "sendmsg", c->is_server ? ENOTCONN : EBADF);
    return NULL;
  }
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    memset(&ctrl, 0, sizeof ctrl);
    msg.msg_control = ctrl.buf;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    for (uint32_t i = 0; i < nfds; i++) {
      int fd;
      if (napi_get_element(env, argv[2], i, &item) != napi_ok || !get_fd(env, item, &fd)) return NULL;
      memcpy(CMSG_DATA(h) + i * sizeof(int), &fd, sizeof fd);
    }
  }
  ssize_t n;
  do n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) throw_errno(env, "sendmsg", errno);
  return NULL;
}
