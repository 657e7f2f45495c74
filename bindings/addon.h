// Per-environment instance data: the addon keeps no process-global state, so that each
// Node environment loading it (the main thread, each worker thread) gets its own
// constructors.
#pragma once

#include <napi.h>

#include <memory>

namespace cascadeserve::bindings {

class SettleQueue;

struct AddonData {
  Napi::FunctionReference runtime_ctor;
  Napi::FunctionReference session_ctor;
  Napi::FunctionReference engine_ctor;
  std::shared_ptr<SettleQueue> settle_queue;  // finished session runs back to this thread (settle_queue.h)
};

inline AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace cascadeserve::bindings
