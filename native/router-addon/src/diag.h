/* The kernel's socket tables (sock_diag netlink), read synchronously. */
#ifndef SLIM_ROUTER_ADDON_DIAG_H
#define SLIM_ROUTER_ADDON_DIAG_H

#include <node_api.h>

napi_value listening_sockets(napi_env env, napi_callback_info info);

#endif
