/* The router's Unix SOCK_SEQPACKET server and its connections, served on Node's libuv loop. */
#ifndef SLIM_ROUTER_ADDON_SEQPACKET_H
#define SLIM_ROUTER_ADDON_SEQPACKET_H

#include <node_api.h>

napi_value seqpacket_listen(napi_env env, napi_callback_info info);
napi_value seqpacket_close(napi_env env, napi_callback_info info);
napi_value seqpacket_start(napi_env env, napi_callback_info info);
napi_value seqpacket_send(napi_env env, napi_callback_info info);

#endif
