/* Shared by the addon's parts: argument checks, errno errors, calling JS from libuv callbacks. */
#ifndef SLIM_ROUTER_ADDON_UTIL_H
#define SLIM_ROUTER_ADDON_UTIL_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Throws Error(code = 'ECONNREFUSED', errno = -111, syscall = 'connect'), as Node's own errors. */
void throw_errno(napi_env env, const char *syscall, int err);

/* Each fetches argument i (of argc) and throws TypeError/RangeError when it is not what's asked. */
bool get_args(napi_env env, napi_callback_info info, napi_value *argv, size_t argc);
bool get_int(napi_env env, napi_value v, const char *what, int64_t min, int64_t max, int64_t *out);
bool get_fd(napi_env env, napi_value v, int *out);
bool get_bool(napi_env env, napi_value v, const char *what, bool *out);
/* NUL-terminated copy into buf (size cap); rejects longer strings and embedded NULs. */
bool get_string(napi_env env, napi_value v, const char *what, char *buf, size_t cap, size_t *len);
bool get_bytes(napi_env env, napi_value v, const char *what, void **data, size_t *len);
bool get_function(napi_env env, napi_value v, const char *what);

/* Calls fn from a libuv callback (the caller holds a handle scope). Goes through
   napi_make_callback so microtasks and async_hooks behave as after any Node I/O callback; a throw
   becomes an 'uncaughtException', as it would from a net.Socket listener. */
void call_js(napi_env env, napi_async_context async, napi_ref fn, size_t argc, const napi_value *argv);

#endif
