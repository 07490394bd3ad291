/* Secure mode: the router writes the maps the loader pinned (kernel-module/), one bpf(2) call per
   update, without libbpf. Keys and values are the C structs' bytes (kernel-module/include/
   slim_secure.h); the TypeScript side builds them. */
#include "bpfmap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#define MAX_PATH 4096
#define MAX_VALUE 65536

static long sys_bpf(int cmd, union bpf_attr *attr) {
  return syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

/* CPUs a per-CPU map has a value slot for: the kernel's "possible" mask, e.g. "0-3" or "0,2-5". */
static int possible_cpus(void) {
  char buf[256];
  int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  int highest = -1;
  for (char *p = buf; *p && *p != '\n';) {
    char *end;
    long a = strtol(p, &end, 10), b = a;
    if (end == p) return -1;
    if (*end == '-') b = strtol(end + 1, &end, 10);
    if (b > highest) highest = (int)b;
    p = *end == ',' ? end + 1 : end;
  }
  return highest + 1;
}

/* The key and value sizes the kernel will read or write for this map: buffers must match them
   exactly (the kernel trusts the map's sizes, not ours). */
static bool map_sizes(napi_env env, int fd, size_t *key_size, size_t *value_size) {
  struct bpf_map_info mi;
  union bpf_attr attr;
  memset(&mi, 0, sizeof mi);
  memset(&attr, 0, sizeof attr);
  attr.info.bpf_fd = (uint32_t)fd;
  attr.info.info_len = sizeof mi;
  attr.info.info = (uint64_t)(uintptr_t)&mi;
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) != 0) {
    throw_errno(env, "bpf(BPF_OBJ_GET_INFO_BY_FD)", errno);
    return false;
  }
  *key_size = mi.key_size;
  *value_size = mi.value_size;
  if (mi.type == BPF_MAP_TYPE_PERCPU_ARRAY || mi.type == BPF_MAP_TYPE_PERCPU_HASH ||
      mi.type == BPF_MAP_TYPE_LRU_PERCPU_HASH) {
    int cpus = possible_cpus();
    if (cpus <= 0) {
      throw_errno(env, "possible CPUs", EINVAL);
      return false;
    }
    *value_size = ((mi.value_size + 7) / 8 * 8) * (size_t)cpus;
  }
  return true;
}

static bool sizes_match(napi_env env, size_t got, size_t want, const char *what) {
  if (got == want) return true;
  char message[96];
  snprintf(message, sizeof message, "%s must be %zu bytes for this map, not %zu", what, want, got);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
  return false;
}

static napi_value undefined(napi_env env) {
  napi_value v = NULL;
  napi_get_undefined(env, &v);
  return v;
}

/* bpfObjGet(path) -> fd (O_CLOEXEC by the kernel) of a pinned map. */
napi_value bpf_obj_get(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  char path[MAX_PATH];
  size_t len;
  if (!get_args(env, info, argv, 1) || !get_string(env, argv[0], "path", path, sizeof path, &len)) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.pathname = (uint64_t)(uintptr_t)path;
  long fd = sys_bpf(BPF_OBJ_GET, &attr);
  if (fd < 0) {
    throw_errno(env, "bpf(BPF_OBJ_GET)", errno);
    return NULL;
  }
  if (napi_create_int32(env, (int32_t)fd, &result) != napi_ok) {
    close((int)fd);
    return NULL;
  }
  return result;
}

/* bpfMapUpdate(mapFd, key, value): BPF_ANY (create or replace). */
napi_value bpf_map_update(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  void *key, *value;
  size_t klen, vlen;
  size_t ksize, vsize;
  if (!get_args(env, info, argv, 3) || !get_fd(env, argv[0], &fd) || !get_bytes(env, argv[1], "key", &key, &klen) ||
      !get_bytes(env, argv[2], "value", &value, &vlen) || !map_sizes(env, fd, &ksize, &vsize) ||
      !sizes_match(env, klen, ksize, "key") || !sizes_match(env, vlen, vsize, "value"))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = (uint32_t)fd;
  attr.key = (uint64_t)(uintptr_t)key;
  attr.value = (uint64_t)(uintptr_t)value;
  attr.flags = BPF_ANY;
  if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) != 0) throw_errno(env, "bpf(BPF_MAP_UPDATE_ELEM)", errno);
  return undefined(env);
}

/* bpfMapDelete(mapFd, key) -> true if there was an entry. */
napi_value bpf_map_delete(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  int fd;
  void *key;
  size_t klen;
  size_t ksize, vsize;
  if (!get_args(env, info, argv, 2) || !get_fd(env, argv[0], &fd) || !get_bytes(env, argv[1], "key", &key, &klen) ||
      !map_sizes(env, fd, &ksize, &vsize) || !sizes_match(env, klen, ksize, "key"))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = (uint32_t)fd;
  attr.key = (uint64_t)(uintptr_t)key;
  bool found = true;
  if (sys_bpf(BPF_MAP_DELETE_ELEM, &attr) != 0) {
    if (errno != ENOENT) {
      throw_errno(env, "bpf(BPF_MAP_DELETE_ELEM)", errno);
      return NULL;
    }
    found = false;
  }
  if (napi_get_boolean(env, found, &result) != napi_ok) return NULL;
  return result;
}

/* bpfMapLookup(mapFd, key) -> Buffer (the value; per-CPU maps: one 8-byte-aligned slot per
   possible CPU) | null */
napi_value bpf_map_lookup(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  int fd;
  void *key, *data;
  size_t klen, ksize, vsize;
  if (!get_args(env, info, argv, 2) || !get_fd(env, argv[0], &fd) || !get_bytes(env, argv[1], "key", &key, &klen) ||
      !map_sizes(env, fd, &ksize, &vsize) || !sizes_match(env, klen, ksize, "key"))
    return NULL;
  if (vsize > MAX_VALUE) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "map value too large");
    return NULL;
  }
  if (napi_create_buffer(env, vsize, &data, &result) != napi_ok) return NULL;
  memset(data, 0, vsize);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = (uint32_t)fd;
  attr.key = (uint64_t)(uintptr_t)key;
  attr.value = (uint64_t)(uintptr_t)data;
  if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr) != 0) {
    if (errno != ENOENT) {
      throw_errno(env, "bpf(BPF_MAP_LOOKUP_ELEM)", errno);
      return NULL;
    }
    napi_get_null(env, &result);
  }
  return result;
}
