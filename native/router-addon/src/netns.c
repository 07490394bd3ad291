/* socket_in_netns(): the calling thread enters the namespace, makes the socket, and goes back at
   once. Only this thread moves (setns on a thread of a multi-threaded process is allowed for
   network namespaces); libuv's pool threads never see it. Needs CAP_SYS_ADMIN (setns) and, for a
   process of another user, ptrace access to open /proc/PID/ns/net. */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

int socket_in_netns(const char *path, int domain, int type, int protocol) {
  if (path == NULL) {
    int fd = socket(domain, type, protocol);
    return fd < 0 ? -errno : fd;
  }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) return -errno;
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    int err = errno;
    close(target);
    return -err;
  }
  int result;
  if (setns(target, CLONE_NEWNET) != 0) {
    result = -errno; /* EINVAL: not a network namespace; EPERM: no CAP_SYS_ADMIN */
  } else {
    int fd = socket(domain, type, protocol);
    result = fd < 0 ? -errno : fd;
    if (setns(home, CLONE_NEWNET) != 0) {
      /* Every later socket of the daemon would be made in a container's namespace: stopping is
         the only safe answer (the plugin manager restarts the daemon). */
      fprintf(stderr, "slim router-addon: cannot return to the daemon's network namespace (errno %d); aborting\n", errno);
      abort();
    }
  }
  close(home);
  close(target);
  return result;
}

bool get_netns_path(napi_env env, napi_value v, char *buf, bool *has) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return false;
  if (type == napi_null || type == napi_undefined) {
    *has = false;
    return true;
  }
  size_t len;
  if (!get_string(env, v, "netns", buf, NETNS_PATH_MAX, &len)) return false;
  if (len == 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "netns must not be empty");
    return false;
  }
  *has = true;
  return true;
}
