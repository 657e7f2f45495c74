// Per-environment instance data: the addon keeps no process-global state, because the
// planner loads it in several Piscina worker threads at once.
#pragma once

#include <napi.h>

namespace cascadeserve::bindings {

struct AddonData {
  Napi::FunctionReference runtime_ctor;
  Napi::FunctionReference session_ctor;
  Napi::FunctionReference engine_ctor;
};

inline AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace cascadeserve::bindings
