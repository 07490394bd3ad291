/* The kernel's socket tables (sock_diag netlink), read and changed synchronously. */
#ifndef SLIM_ROUTER_ADDON_DIAG_H
#define SLIM_ROUTER_ADDON_DIAG_H

#include <linux/inet_diag.h>
#include <node_api.h>
#include <stdint.h>

/* A NETLINK_SOCK_DIAG socket in the namespace at netns (NULL: this thread's), with a receive
   timeout. Returns the fd or -errno. */
int diag_open(const char *netns);

/* Sends one sock_diag request (type SOCK_DIAG_BY_FAMILY or SOCK_DESTROY) to the kernel.
   Returns 0 or -errno. */
int diag_send(int fd, uint16_t type, uint16_t flags, uint32_t seq, const struct inet_diag_req_v2 *req);

napi_value listening_sockets(napi_env env, napi_callback_info info);
napi_value tcp_connections(napi_env env, napi_callback_info info);
napi_value destroy_tcp(napi_env env, napi_callback_info info);

#endif
