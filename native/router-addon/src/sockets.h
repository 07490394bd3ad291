/* Synchronous socket syscalls the router needs and Node does not offer on a bare fd. */
#ifndef SLIM_ROUTER_ADDON_SOCKETS_H
#define SLIM_ROUTER_ADDON_SOCKETS_H

#include <node_api.h>

napi_value tcp_socket(napi_env env, napi_callback_info info);
napi_value setsockopt_raw(napi_env env, napi_callback_info info);
napi_value getsockopt_int(napi_env env, napi_callback_info info);
napi_value connect_ipv4(napi_env env, napi_callback_info info);
napi_value bind_ipv4(napi_env env, napi_callback_info info);
napi_value listen_fd(napi_env env, napi_callback_info info);
napi_value local_address(napi_env env, napi_callback_info info);
napi_value socket_cookie(napi_env env, napi_callback_info info);
napi_value close_fd(napi_env env, napi_callback_info info);

#endif
