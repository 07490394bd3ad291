#include "util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

void throw_errno(napi_env env, const char *syscall, int err) {
  /* libuv's names are the ones Node uses for err.code everywhere else. */
  char name[64], desc[128], message[256];
  uv_err_name_r(-err, name, sizeof name);
  uv_strerror_r(-err, desc, sizeof desc);
  snprintf(message, sizeof message, "%s %s (%s)", syscall, name, desc);
  napi_value code, msg, error, errno_value, syscall_value;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
      napi_create_error(env, code, msg, &error) != napi_ok ||
      napi_create_int32(env, -err, &errno_value) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value) != napi_ok ||
      napi_set_named_property(env, error, "errno", errno_value) != napi_ok ||
      napi_set_named_property(env, error, "syscall", syscall_value) != napi_ok) {
    return; /* a failed napi call left its own exception pending */
  }
  napi_throw(env, error);
}

bool get_args(napi_env env, napi_callback_info info, napi_value *argv, size_t argc) {
  size_t got = argc;
  if (napi_get_cb_info(env, info, &got, argv, NULL, NULL) != napi_ok) return false;
  if (got < argc) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "too few arguments");
    return false;
  }
  return true;
}

static bool type_error(napi_env env, const char *what, const char *expected) {
  char message[160];
  snprintf(message, sizeof message, "%s must be %s", what, expected);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return false;
}

bool get_int(napi_env env, napi_value v, const char *what, int64_t min, int64_t max, int64_t *out) {
  /* Read as a double first: napi_get_value_int64 would silently truncate 1.5 or wrap 2^64. */
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return type_error(env, what, "a number");
  if (!(d >= (double)min && d <= (double)max) || d != trunc(d)) {
    char message[160];
    snprintf(message, sizeof message, "%s must be an integer in [%lld, %lld]", what, (long long)min,
             (long long)max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool get_fd(napi_env env, napi_value v, int *out) {
  int64_t fd;
  if (!get_int(env, v, "fd", 0, INT_MAX, &fd)) return false;
  *out = (int)fd;
  return true;
}

bool get_bool(napi_env env, napi_value v, const char *what, bool *out) {
  return napi_get_value_bool(env, v, out) == napi_ok || type_error(env, what, "a boolean");
}

bool get_string(napi_env env, napi_value v, const char *what, char *buf, size_t cap, size_t *len) {
  size_t need;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &need) != napi_ok) return type_error(env, what, "a string");
  if (need >= cap) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "string too long");
    return false;
  }
  if (napi_get_value_string_utf8(env, v, buf, cap, len) != napi_ok) return false;
  if (strlen(buf) != *len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "string must not contain NUL");
    return false;
  }
  return true;
}

bool get_bytes(napi_env env, napi_value v, const char *what, void **data, size_t *len) {
  bool is_buffer = false;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer) return type_error(env, what, "a Buffer");
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

bool get_function(napi_env env, napi_value v, const char *what) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_function) return type_error(env, what, "a function");
  return true;
}

void call_js(napi_env env, napi_async_context async, napi_ref fn, size_t argc, const napi_value *argv) {
  napi_value func, recv, ignored, error;
  if (napi_get_reference_value(env, fn, &func) != napi_ok || func == NULL ||
      napi_get_global(env, &recv) != napi_ok) /* make_callback wants an object */
    return;
  if (napi_make_callback(env, async, recv, func, argc, argv, &ignored) == napi_ok) return;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &error) == napi_ok)
    napi_fatal_exception(env, error);
}
