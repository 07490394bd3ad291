/* Sockets made inside another network namespace. */
#ifndef SLIM_ROUTER_ADDON_NETNS_H
#define SLIM_ROUTER_ADDON_NETNS_H

#include <node_api.h>
#include <stdbool.h>

enum { NETNS_PATH_MAX = 4096 };

/* socket(domain, type, protocol) created in the network namespace at path (/proc/PID/ns/net, a
   bind-mounted namespace file), or in this thread's own when path is NULL. The socket keeps that
   namespace for its whole life. Returns the fd or -errno. */
int socket_in_netns(const char *path, int domain, int type, int protocol);

/* A netns path argument: a string (copied into buf) or null/undefined (*has = false). */
bool get_netns_path(napi_env env, napi_value v, char *buf, bool *has);

#endif
