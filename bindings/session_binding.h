// N-API surface of the runtime wrapper: RuntimeHandle (an opened ONNX Runtime library) and
// SessionHandle (one model). Runs execute on libuv's thread pool; one crossing per run.
#pragma once

#include <napi.h>

#include <memory>

#include "ort/ort_runtime.h"
#include "ort/ort_session.h"

namespace cascadeserve::bindings {

class RuntimeHandle : public Napi::ObjectWrap<RuntimeHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit RuntimeHandle(const Napi::CallbackInfo& info);
  const std::shared_ptr<OrtRuntime>& runtime() const { return runtime_; }

 private:
  Napi::Value Version(const Napi::CallbackInfo& info);
  Napi::Value LibraryPath(const Napi::CallbackInfo& info);
  Napi::Value Providers(const Napi::CallbackInfo& info);
  std::shared_ptr<OrtRuntime> runtime_;
};

class SessionHandle : public Napi::ObjectWrap<SessionHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SessionHandle(const Napi::CallbackInfo& info);
  // Finishes construction with a session created off the JS thread.
  void Adopt(std::shared_ptr<OrtSession> session) { session_ = std::move(session); }

 private:
  Napi::Value Inputs(const Napi::CallbackInfo& info);
  Napi::Value Outputs(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value RunSync(const Napi::CallbackInfo& info);
  Napi::Value RunInto(const Napi::CallbackInfo& info);
  Napi::Value RunSyncInto(const Napi::CallbackInfo& info);
  Napi::Value TimeRawRuns(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  std::shared_ptr<OrtSession> session_;
};

// createSession(runtime, path, options) -> Promise<SessionHandle>
Napi::Value CreateSession(const Napi::CallbackInfo& info);
// Reads SessionOptions from a plain object; validated in TypeScript before.
SessionOptions ReadSessionOptions(const Napi::Object& options);

}  // namespace cascadeserve::bindings
