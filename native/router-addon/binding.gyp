{
  "targets": [
    {
      "target_name": "slim_router_addon",
      "sources": ["src/addon.c", "src/bpfmap.c", "src/destroy.c", "src/diag.c", "src/netns.c", "src/seqpacket.c", "src/sockets.c", "src/util.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Werror"],
      "libraries": ["-lm"]
    }
  ]
}
