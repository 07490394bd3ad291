/* bpf(2) on pinned maps (secure mode): open by path, update, delete, look up. */
#ifndef SLIM_ROUTER_ADDON_BPFMAP_H
#define SLIM_ROUTER_ADDON_BPFMAP_H

#include <node_api.h>

napi_value bpf_obj_get(napi_env env, napi_callback_info info);
napi_value bpf_map_update(napi_env env, napi_callback_info info);
napi_value bpf_map_delete(napi_env env, napi_callback_info info);
napi_value bpf_map_lookup(napi_env env, napi_callback_info info);

#endif
