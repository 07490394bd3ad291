/* The kernel's socket tables (sock_diag netlink), read and changed synchronously. */
#ifndef SLIM_ROUTER_ADDON_DIAG_H
#define SLIM_ROUTER_ADDON_DIAG_H

#include <node_api.h>

/* A NETLINK_SOCK_DIAG socket in the namespace at netns (NULL: this thread's), with a receive
   timeout. Returns the fd or -errno. */
int diag_open(const char *netns);

napi_value listening_sockets(napi_env env, napi_callback_info info);
napi_value tcp_connections(napi_env env, napi_callback_info info);
napi_value destroy_tcp(napi_env env, napi_callback_info info);

#endif
