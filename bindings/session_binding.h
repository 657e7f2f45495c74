// N-API surface of the runtime wrapper: RuntimeHandle (an opened ONNX Runtime library) and
// SessionHandle (one model). Off-thread runs execute on the session's own RunThread, or on
// libuv's thread pool while that thread is taken; one crossing per run.
#pragma once

#include <napi.h>

#include <memory>

#include "ort/ort_runtime.h"
#include "ort/ort_session.h"
#include "common/cpu_share.h"
#include "ort/run_thread.h"
#include "settle_queue.h"

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

class OffThreadRun;

class SessionHandle : public Napi::ObjectWrap<SessionHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SessionHandle(const Napi::CallbackInfo& info);
  ~SessionHandle() override;
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
  Napi::Value ShareCallerCpu(const Napi::CallbackInfo& info);
  Napi::Value LastRunOnCallerCpu(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  // Starts `run` off the JavaScript thread: on run_thread_ when it has no run of this session
  // (the common case: a caller that awaits each run), else on libuv's thread pool.
  void Dispatch(Napi::Env env, std::unique_ptr<OffThreadRun> run);
  static void SettleOnJsThread(Napi::Env env, SettleNode* node);
  static void AbandonRun(SettleNode* node);

  std::shared_ptr<OrtSession> session_;
  // The way back from run_thread_; outlives it (the destructor joins the thread first).
  std::shared_ptr<SettleQueue> settle_queue_;
  std::unique_ptr<RunThread> run_thread_;  // created by the first off-thread run
  bool run_thread_busy_ = false;           // JS thread only: a run posted to run_thread_ is not settled yet
  bool share_caller_cpu_ = false;          // JS thread only: set by shareCallerCpu
  bool last_run_on_caller_cpu_ = false;    // JS thread only
  CpuShareBackoff share_backoff_;          // JS thread only: asked in Dispatch, told in SettleOnJsThread
  uint64_t shared_runs_ = 0;               // JS thread only: runs posted to share the caller's CPU
  static constexpr uint64_t kCpuShareSampleEvery = 4;
};

// createSession(runtime, path, options) -> Promise<SessionHandle>
Napi::Value CreateSession(const Napi::CallbackInfo& info);
// Reads SessionOptions from a plain object; validated in TypeScript before.
SessionOptions ReadSessionOptions(const Napi::Object& options);

}  // namespace cascadeserve::bindings
