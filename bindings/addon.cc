// Entry point of the native addon: registers the flat binding surface that
// bindings/binding.ts declares as a typed interface.
#include <napi.h>

#include "addon.h"
#include "common/status.h"
#include "engine_binding.h"
#include "enum_table.h"
#include "errors.h"
#include "session_binding.h"

namespace cascadeserve::bindings {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted by Node at environment teardown

  Napi::Function runtime = RuntimeHandle::Define(env);
  data->runtime_ctor = Napi::Persistent(runtime);
  Napi::Function session = SessionHandle::Define(env);
  data->session_ctor = Napi::Persistent(session);

  Napi::Function engine = EngineHandle::Define(env);
  data->engine_ctor = Napi::Persistent(engine);

  exports.Set("RuntimeHandle", runtime);
  exports.Set("EngineHandle", engine);
  exports.Set("createEngine", Napi::Function::New(env, CreateEngine, "createEngine"));
  exports.Set("engineNowUs", Napi::Function::New(env, EngineNowUs, "engineNowUs"));
  exports.Set("yieldThread", Napi::Function::New(env, YieldThread, "yieldThread"));
  exports.Set("SessionHandle", session);
  exports.Set("createSession", Napi::Function::New(env, CreateSession, "createSession"));
  exports.Set("compiledApiVersion", Napi::Number::New(env, OrtRuntime::compiled_api_version()));
  exports.Set("enums", EnumTables(env));
  return exports;
}

}  // namespace cascadeserve::bindings

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return cascadeserve::bindings::Init(env, exports);
}

NODE_API_MODULE(cascadeserve, InitAddon)
