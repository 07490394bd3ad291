/* slim_router_addon: what the router needs from the kernel that Node cannot do itself. The
   typed API is native/router-addon/index.ts; these names are private to it. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <sys/socket.h>

#include "bpfmap.h"
#include "diag.h"
#include "seqpacket.h"
#include "sockets.h"

static const struct {
  const char *name;
  napi_callback fn;
} FUNCTIONS[] = {
    {"listen", seqpacket_listen},        /* SOCK_SEQPACKET server: accept4 + SO_PEERCRED */
    {"start", seqpacket_start},          /* a connection: recvmsg + SCM_RIGHTS, on the loop */
    {"send", seqpacket_send},            /* sendmsg + SCM_RIGHTS */
    {"close", seqpacket_close},          /* server or connection */
    {"tcpSocket", tcp_socket},           /* socket(AF_INET, SOCK_STREAM) */
    {"setsockoptRaw", setsockopt_raw},   /* setsockopt */
    {"getsockoptInt", getsockopt_int},   /* getsockopt */
    {"connectIPv4", connect_ipv4},       /* connect */
    {"bindIPv4", bind_ipv4},             /* bind */
    {"listenFd", listen_fd},             /* listen */
    {"localAddress", local_address},     /* getsockname */
    {"socketCookie", socket_cookie},     /* getsockopt SO_COOKIE */
    {"closeFd", close_fd},               /* close */
    {"listeningSockets", listening_sockets}, /* NETLINK_SOCK_DIAG dump of IPv4 TCP listeners */
    {"tcpConnections", tcp_connections}, /* the same for connections, in any network namespace */
    {"destroyTcp", destroy_tcp},         /* SOCK_DESTROY by inet_diag_sockid, in any namespace */
    {"bpfObjGet", bpf_obj_get},          /* bpf(BPF_OBJ_GET): a pinned map (secure mode) */
    {"bpfMapUpdate", bpf_map_update},    /* bpf(BPF_MAP_UPDATE_ELEM) */
    {"bpfMapDelete", bpf_map_delete},    /* bpf(BPF_MAP_DELETE_ELEM) */
    {"bpfMapLookup", bpf_map_lookup},    /* bpf(BPF_MAP_LOOKUP_ELEM) */
};

/* The option numbers the router passes to setsockoptRaw/getsockoptInt, from the real headers. */
static const struct {
  const char *name;
  int value;
} CONSTANTS[] = {
    {"SOL_SOCKET", SOL_SOCKET},   {"SO_ERROR", SO_ERROR},         {"SO_REUSEADDR", SO_REUSEADDR},
    {"SO_REUSEPORT", SO_REUSEPORT}, {"SO_KEEPALIVE", SO_KEEPALIVE}, {"SO_RCVBUF", SO_RCVBUF},
    {"SO_SNDBUF", SO_SNDBUF},     {"SO_RCVTIMEO", SO_RCVTIMEO},   {"SO_SNDTIMEO", SO_SNDTIMEO},
    {"SO_LINGER", SO_LINGER},     {"SO_TYPE", SO_TYPE},           {"IPPROTO_IP", IPPROTO_IP},
    {"IP_TOS", IP_TOS},           {"IPPROTO_TCP", IPPROTO_TCP},   {"TCP_NODELAY", TCP_NODELAY},
    {"TCP_KEEPIDLE", TCP_KEEPIDLE}, {"TCP_KEEPINTVL", TCP_KEEPINTVL}, {"TCP_KEEPCNT", TCP_KEEPCNT},
    {"TCP_USER_TIMEOUT", TCP_USER_TIMEOUT}, {"TCP_FASTOPEN_CONNECT", TCP_FASTOPEN_CONNECT},
};

static napi_value init(napi_env env, napi_value exports) {
  napi_value value, constants;
  for (size_t i = 0; i < sizeof FUNCTIONS / sizeof FUNCTIONS[0]; i++) {
    if (napi_create_function(env, FUNCTIONS[i].name, NAPI_AUTO_LENGTH, FUNCTIONS[i].fn, NULL, &value) != napi_ok ||
        napi_set_named_property(env, exports, FUNCTIONS[i].name, value) != napi_ok)
      return NULL;
  }
  if (napi_create_object(env, &constants) != napi_ok) return NULL;
  for (size_t i = 0; i < sizeof CONSTANTS / sizeof CONSTANTS[0]; i++) {
    if (napi_create_int32(env, CONSTANTS[i].value, &value) != napi_ok ||
        napi_set_named_property(env, constants, CONSTANTS[i].name, value) != napi_ok)
      return NULL;
  }
  if (napi_set_named_property(env, exports, "constants", constants) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
