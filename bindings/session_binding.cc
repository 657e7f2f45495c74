#include "session_binding.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "common/cpu_share.h"

namespace cascadeserve::bindings {

struct RunArgs {
  std::vector<TensorView> inputs;
  std::vector<int> output_indices;
  std::vector<Napi::Reference<Napi::Value>> keep_alive;  // used by the off-thread path only
};

// One run off the JavaScript thread: Execute on another thread, then Settle on the JavaScript
// thread. `args.keep_alive` holds the input (and output) buffers while the run uses them.
class OffThreadRun : public SettleNode {
 public:
  OffThreadRun(Napi::Env env, std::shared_ptr<OrtSession> session)
      : deferred_(Napi::Promise::Deferred::New(env)), session_(std::move(session)) {}
  virtual ~OffThreadRun() = default;
  Napi::Promise Promise() { return deferred_.Promise(); }
  virtual void Execute() = 0;
  virtual void Settle(Napi::Env env) = 0;
  // The environment is going away with the run still queued: its references are left to it.
  void Abandon() {
    for (auto& ref : args.keep_alive) ref.SuppressDestruct();
    owner.SuppressDestruct();
  }

  RunArgs args;
  Napi::ObjectReference owner;  // the SessionHandle, kept alive while its thread runs this
  SessionHandle* handle = nullptr;  // owner's native side (set in Dispatch)
  bool on_caller_cpu = false;   // posted to run on the caller's CPU (set in Dispatch)
  double cpu_fraction = -1;     // then, if timed: the share of that CPU the run got (ThreadCpuShare)

 protected:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<OrtSession> session_;
  Status status_;
  double compute_us_ = 0;
};

namespace {

// Off-thread runs of every session in flight in this process (all environments): started and
// not yet delivered.
std::atomic<int> runs_in_flight{0};

Napi::Array TensorInfoArray(Napi::Env env, const std::vector<TensorInfo>& infos) {
  Napi::Array arr = Napi::Array::New(env, infos.size());
  for (size_t i = 0; i < infos.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", infos[i].name);
    o.Set("type", static_cast<int>(infos[i].type));
    Napi::Array shape = Napi::Array::New(env, infos[i].shape.size());
    for (size_t d = 0; d < infos[i].shape.size(); ++d) shape.Set(d, Napi::Number::New(env, double(infos[i].shape[d])));
    o.Set("shape", shape);
    arr.Set(i, o);
  }
  return arr;
}

class CreateSessionWorker : public Napi::AsyncWorker {
 public:
  CreateSessionWorker(Napi::Env env, std::shared_ptr<OrtRuntime> runtime, std::string path, SessionOptions options)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)),
        runtime_(std::move(runtime)), path_(std::move(path)), options_(options) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { status_ = OrtSession::Create(runtime_, path_, options_, &session_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!CanRunJavaScript(env)) return;  // the environment is going away; the session with it
    if (!status_.ok()) {
      deferred_.Reject(StatusToError(env, status_).Value());
      return;
    }
    Napi::Object handle = GetAddonData(env).session_ctor.New({});
    SessionHandle::Unwrap(handle)->Adopt(std::shared_ptr<OrtSession>(std::move(session_)));
    deferred_.Resolve(handle);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<OrtRuntime> runtime_;
  std::string path_;
  SessionOptions options_;
  Status status_;
  std::unique_ptr<OrtSession> session_;
};

// Outputs as a flat array [type0, dims0, buffer0, type1, ...] in the order asked for:
// indexed sets only, no property names to intern on every call.
Napi::Array OutputsToJs(Napi::Env env, const std::vector<OwnedTensor>& outputs) {
  Napi::Array result = Napi::Array::New(env, outputs.size() * 3);
  for (size_t i = 0; i < outputs.size(); ++i) {
    const OwnedTensor& t = outputs[i];
    Napi::Array dims = Napi::Array::New(env, t.dims.size());
    for (size_t d = 0; d < t.dims.size(); ++d) dims.Set(static_cast<uint32_t>(d), Napi::Number::New(env, double(t.dims[d])));
    // A copy rather than an external buffer: outputs are small and external buffers are
    // refused where the V8 sandbox is on.
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, t.byte_length);
    if (buf.IsEmpty()) return result;  // the environment is being terminated (CanRunJavaScript)
    if (t.byte_length > 0) std::memcpy(buf.Data(), t.data, t.byte_length);
    result.Set(static_cast<uint32_t>(i * 3), Napi::Number::New(env, static_cast<int>(t.type)));
    result.Set(static_cast<uint32_t>(i * 3 + 1), dims);
    result.Set(static_cast<uint32_t>(i * 3 + 2), buf);
  }
  return result;
}



// Reads run(inputIndices: Int32Array, types: Int32Array, ranks: Int32Array, dims: Float64Array,
// datas: TypedArray[], outputIndices: Int32Array): columns, so that no property name is read
// per call. False (with a JS exception pending) on bad types.
bool ReadRunArgs(const Napi::CallbackInfo& info, bool keep_alive, RunArgs* args) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray() ||
      !info[3].IsTypedArray() || !info[4].IsArray() || !info[5].IsTypedArray()) {
    Napi::TypeError::New(env, "run(inputIndices, types, ranks, dims, datas, outputIndices): wrong argument types")
        .ThrowAsJavaScriptException();
    return false;
  }
  Napi::Int32Array indices = info[0].As<Napi::Int32Array>();
  Napi::Int32Array types = info[1].As<Napi::Int32Array>();
  Napi::Int32Array ranks = info[2].As<Napi::Int32Array>();
  Napi::Float64Array dims = info[3].As<Napi::Float64Array>();
  Napi::Array datas = info[4].As<Napi::Array>();
  Napi::Int32Array outs = info[5].As<Napi::Int32Array>();
  const size_t n = indices.ElementLength();
  if (types.ElementLength() != n || ranks.ElementLength() != n || datas.Length() != n) {
    Napi::TypeError::New(env, "run: input columns differ in length").ThrowAsJavaScriptException();
    return false;
  }
  args->inputs.resize(n);
  size_t d = 0;
  for (size_t i = 0; i < n; ++i) {
    Napi::Value data = datas.Get(static_cast<uint32_t>(i));
    if (!data.IsTypedArray() || d + static_cast<size_t>(ranks[i]) > dims.ElementLength()) {
      Napi::TypeError::New(env, "run: inputs[" + std::to_string(i) + "] is malformed").ThrowAsJavaScriptException();
      return false;
    }
    Napi::TypedArray ta = data.As<Napi::TypedArray>();
    TensorView& view = args->inputs[i];
    view.index = indices[i];
    view.type = static_cast<ElementType>(types[i]);
    view.dims.assign(dims.Data() + d, dims.Data() + d + ranks[i]);
    d += static_cast<size_t>(ranks[i]);
    view.data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    view.byte_length = ta.ByteLength();
    if (keep_alive) args->keep_alive.push_back(Napi::Persistent(data));
  }
  args->output_indices.assign(outs.Data(), outs.Data() + outs.ElementLength());
  return true;
}

// Reads the output columns of runInto (after the six input columns): outputIndices,
// types, ranks, dims, datas of caller-allocated output buffers.
bool ReadOutputColumns(const Napi::CallbackInfo& info, size_t first, bool keep_alive, RunArgs* args,
                       std::vector<TensorView>* outputs) {
  Napi::Env env = info.Env();
  if (info.Length() < first + 4 || !info[first].IsTypedArray() || !info[first + 1].IsTypedArray() ||
      !info[first + 2].IsTypedArray() || !info[first + 3].IsArray()) {
    Napi::TypeError::New(env, "runInto: output columns have wrong types").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Int32Array types = info[first].As<Napi::Int32Array>();
  Napi::Int32Array ranks = info[first + 1].As<Napi::Int32Array>();
  Napi::Float64Array dims = info[first + 2].As<Napi::Float64Array>();
  Napi::Array datas = info[first + 3].As<Napi::Array>();
  const size_t n = args->output_indices.size();
  if (types.ElementLength() != n || ranks.ElementLength() != n || datas.Length() != n) {
    Napi::TypeError::New(env, "runInto: output columns differ in length").ThrowAsJavaScriptException();
    return false;
  }
  outputs->resize(n);
  size_t d = 0;
  for (size_t i = 0; i < n; ++i) {
    Napi::Value data = datas.Get(static_cast<uint32_t>(i));
    if (!data.IsTypedArray() || d + static_cast<size_t>(ranks[i]) > dims.ElementLength()) {
      Napi::TypeError::New(env, "runInto: outputs[" + std::to_string(i) + "] is malformed").ThrowAsJavaScriptException();
      return false;
    }
    Napi::TypedArray ta = data.As<Napi::TypedArray>();
    TensorView& view = (*outputs)[i];
    view.index = args->output_indices[i];
    view.type = static_cast<ElementType>(types[i]);
    view.dims.assign(dims.Data() + d, dims.Data() + d + ranks[i]);
    d += static_cast<size_t>(ranks[i]);
    view.data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    view.byte_length = ta.ByteLength();
    if (keep_alive) args->keep_alive.push_back(Napi::Persistent(data));
  }
  return true;
}

// runInto: outputs written into caller-allocated buffers; resolves to the compute time.
class RunIntoJob : public OffThreadRun {
 public:
  using OffThreadRun::OffThreadRun;
  std::vector<TensorView> outputs;

  void Execute() override {
    auto start = std::chrono::steady_clock::now();
    status_ = session_->RunInto(args.inputs, outputs);
    compute_us_ = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  }
  void Settle(Napi::Env env) override {
    if (!status_.ok()) {
      deferred_.Reject(StatusToError(env, status_).Value());
      return;
    }
    deferred_.Resolve(Napi::Number::New(env, compute_us_));
  }
};

// run: outputs allocated by ONNX Runtime, copied into JavaScript buffers when settled.
class RunJob : public OffThreadRun {
 public:
  using OffThreadRun::OffThreadRun;

  void Execute() override {
    auto start = std::chrono::steady_clock::now();
    status_ = session_->Run(args.inputs, args.output_indices, &outputs_);
    compute_us_ = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  }
  void Settle(Napi::Env env) override {
    if (!status_.ok()) {
      deferred_.Reject(StatusToError(env, status_).Value());
      return;
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("outputs", OutputsToJs(env, outputs_));
    result.Set("computeUs", compute_us_);
    deferred_.Resolve(result);
  }

 private:
  std::vector<OwnedTensor> outputs_;
};

// A run on libuv's thread pool: used while the session's own thread is taken (several runs of
// one session at once still run in parallel, as ONNX Runtime allows).
class PoolRunWorker : public Napi::AsyncWorker {
 public:
  PoolRunWorker(Napi::Env env, std::unique_ptr<OffThreadRun> run) : Napi::AsyncWorker(env), run_(std::move(run)) {
    runs_in_flight.fetch_add(1, std::memory_order_relaxed);
  }
  ~PoolRunWorker() override { runs_in_flight.fetch_sub(1, std::memory_order_relaxed); }
  void Execute() override { run_->Execute(); }
  void OnOK() override {
    if (CanRunJavaScript(Env())) run_->Settle(Env());
    else run_->Abandon();  // the environment is going away
  }

 private:
  std::unique_ptr<OffThreadRun> run_;
};

}  // namespace

SessionOptions ReadSessionOptions(const Napi::Object& o) {
  SessionOptions options;
  if (o.Has("intraOpThreads")) options.intra_op_threads = o.Get("intraOpThreads").As<Napi::Number>().Int32Value();
  if (o.Has("graphOptimizationLevel"))
    options.graph_optimization_level = o.Get("graphOptimizationLevel").As<Napi::Number>().Int32Value();
  if (o.Has("executionProvider"))
    options.provider = o.Get("executionProvider").As<Napi::String>().Utf8Value() == "cuda" ? ExecutionProvider::kCuda
                                                                                            : ExecutionProvider::kCpu;
  if (o.Has("deviceId")) options.cuda_device_id = o.Get("deviceId").As<Napi::Number>().Int32Value();
  return options;
}

// ---- RuntimeHandle ----

Napi::Function RuntimeHandle::Define(Napi::Env env) {
  return DefineClass(env, "RuntimeHandle",
                     {InstanceAccessor<&RuntimeHandle::Version>("version"),
                      InstanceAccessor<&RuntimeHandle::LibraryPath>("libraryPath"),
                      InstanceAccessor<&RuntimeHandle::Providers>("providers")});
}

RuntimeHandle::RuntimeHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RuntimeHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "RuntimeHandle(libraryPath): libraryPath must be a string").ThrowAsJavaScriptException();
    return;
  }
  Status st = OrtRuntime::Create(info[0].As<Napi::String>().Utf8Value(), &runtime_);
  if (!st.ok()) StatusToError(env, st).ThrowAsJavaScriptException();
}

Napi::Value RuntimeHandle::Version(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("runtime", runtime_->version());
  o.Set("apiVersion", OrtRuntime::compiled_api_version());
  return o;
}

Napi::Value RuntimeHandle::LibraryPath(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), runtime_->library_path());
}

Napi::Value RuntimeHandle::Providers(const Napi::CallbackInfo& info) {
  const auto& providers = runtime_->available_providers();
  Napi::Array arr = Napi::Array::New(info.Env(), providers.size());
  for (size_t i = 0; i < providers.size(); ++i) arr.Set(i, providers[i]);
  return arr;
}

// ---- SessionHandle ----

Napi::Function SessionHandle::Define(Napi::Env env) {
  return DefineClass(env, "SessionHandle",
                     {InstanceAccessor<&SessionHandle::Inputs>("inputs"),
                      InstanceAccessor<&SessionHandle::Outputs>("outputs"),
                      InstanceMethod<&SessionHandle::Run>("run"),
                      InstanceMethod<&SessionHandle::RunSync>("runSync"),
                      InstanceMethod<&SessionHandle::RunInto>("runInto"),
                      InstanceMethod<&SessionHandle::RunSyncInto>("runSyncInto"),
                      InstanceMethod<&SessionHandle::TimeRawRuns>("timeRawRuns"),
                      InstanceMethod<&SessionHandle::ShareCallerCpu>("shareCallerCpu"),
                      InstanceMethod<&SessionHandle::LastRunOnCallerCpu>("lastRunOnCallerCpu"),
                      InstanceMethod<&SessionHandle::Release>("release")});
}

SessionHandle::SessionHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionHandle>(info) {}

Napi::Value SessionHandle::Inputs(const Napi::CallbackInfo& info) {
  CS_THROW_TYPE_IF(!session_, info.Env(), "session is released");
  return TensorInfoArray(info.Env(), session_->inputs());
}

Napi::Value SessionHandle::Outputs(const Napi::CallbackInfo& info) {
  CS_THROW_TYPE_IF(!session_, info.Env(), "session is released");
  return TensorInfoArray(info.Env(), session_->outputs());
}

SessionHandle::~SessionHandle() {
  // Finalized only when no run of run_thread_ is pending (each holds this handle): the thread
  // is idle or spinning, and joins at once.
  run_thread_.reset();
}

void SessionHandle::Dispatch(Napi::Env env, std::unique_ptr<OffThreadRun> run) {
  if (run_thread_busy_) {
    (new PoolRunWorker(env, std::move(run)))->Queue();
    return;
  }
  if (!run_thread_) {
    settle_queue_ = SettleQueue::ForEnv(env, &SessionHandle::SettleOnJsThread, &SessionHandle::AbandonRun);
    if (!settle_queue_) return;  // the JavaScript exception is pending
    run_thread_ = std::make_unique<RunThread>();
  }
  run->owner = Napi::Persistent(Value());
  run->handle = this;
  settle_queue_->Expect();  // a pending run keeps the process alive, as a queued libuv work item does
  run_thread_busy_ = true;
  // The caller's CPU only while no other run of any session is in flight, so that two runs
  // never queue on one CPU beside an idle one.
  const bool alone = runs_in_flight.fetch_add(1, std::memory_order_relaxed) == 0;
  const int caller_cpu = share_caller_cpu_ && alone && CpuShareAvailable() && share_backoff_.ShouldShare() ? CallingCpu() : -1;
  run->on_caller_cpu = caller_cpu >= 0;
  OffThreadRun* raw = run.release();
  SettleQueue* settle = settle_queue_.get();
  // One shared run in kCpuShareSampleEvery is timed for CpuShareBackoff: reading a thread's CPU
  // time is a system call, twice per run.
  const bool timed = caller_cpu >= 0 && (shared_runs_++ % kCpuShareSampleEvery) == 0;
  run_thread_->Post([raw, timed] {
                      if (!timed) return raw->Execute();
                      const ThreadCpuShare share;
                      raw->Execute();
                      raw->cpu_fraction = share.Fraction();
                    },
                    [raw, settle] {
                      runs_in_flight.fetch_sub(1, std::memory_order_relaxed);
                      // Fails only while the environment shuts down; the run is then abandoned.
                      if (!settle->Push(raw)) raw->Abandon();
                    },
                    caller_cpu);
}

// shareCallerCpu(on): whether runs on the session's thread may run on the calling thread's
// CPU (native/common/cpu_share.h: while no other run is in flight, unless CpuShareBackoff says
// the caller's CPU was busy, and where CpuShareAvailable()).
Napi::Value SessionHandle::ShareCallerCpu(const Napi::CallbackInfo& info) {
  // As<Boolean>, not ToBoolean: a coercion may run JavaScript, which a terminating worker refuses.
  share_caller_cpu_ = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
  return info.Env().Undefined();
}

// lastRunOnCallerCpu() -> whether the latest run settled from the session's thread ran there.
Napi::Value SessionHandle::LastRunOnCallerCpu(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), last_run_on_caller_cpu_);
}

void SessionHandle::SettleOnJsThread(Napi::Env env, SettleNode* node) {
  std::unique_ptr<OffThreadRun> owned(static_cast<OffThreadRun*>(node));
  SessionHandle* handle = owned->handle;
  handle->run_thread_busy_ = false;
  handle->last_run_on_caller_cpu_ = owned->on_caller_cpu;
  if (owned->cpu_fraction >= 0) handle->share_backoff_.Observe(owned->cpu_fraction);
  owned->Settle(env);
}

// The environment is going away with the run still queued: its references are left to it.
void SessionHandle::AbandonRun(SettleNode* node) { static_cast<OffThreadRun*>(node)->Abandon(); }

Napi::Value SessionHandle::Release(const Napi::CallbackInfo& info) {
  // Runs in flight hold their own reference; the model is freed when the last one ends.
  session_.reset();
  return info.Env().Undefined();
}

// run(...columns) -> Promise<{outputs, computeUs}>
Napi::Value SessionHandle::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_TYPE_IF(!session_, env, "session is released");
  auto run = std::make_unique<RunJob>(env, session_);
  if (!ReadRunArgs(info, /*keep_alive=*/true, &run->args)) return {};
  Napi::Promise promise = run->Promise();
  Dispatch(env, std::move(run));
  return promise;
}

// runSync(...columns) -> outputs. For models so cheap that a thread hop costs more
// than the run itself; the facade decides when (ts/runtime/session.ts).
Napi::Value SessionHandle::RunSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_TYPE_IF(!session_, env, "session is released");
  RunArgs args;
  if (!ReadRunArgs(info, /*keep_alive=*/false, &args)) return {};
  std::vector<OwnedTensor> outputs;
  CS_THROW_IF_ERROR(env, session_->Run(args.inputs, args.output_indices, &outputs));
  return OutputsToJs(env, outputs);
}

// runInto(...input columns, outputIndices, outTypes, outRanks, outDims, outDatas) -> Promise<computeUs>
Napi::Value SessionHandle::RunInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_TYPE_IF(!session_, env, "session is released");
  auto run = std::make_unique<RunIntoJob>(env, session_);
  if (!ReadRunArgs(info, /*keep_alive=*/true, &run->args) ||
      !ReadOutputColumns(info, 6, /*keep_alive=*/true, &run->args, &run->outputs)) {
    return {};
  }
  Napi::Promise promise = run->Promise();
  Dispatch(env, std::move(run));
  return promise;
}

// runSyncInto(same arguments) -> undefined, on the calling thread.
Napi::Value SessionHandle::RunSyncInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_TYPE_IF(!session_, env, "session is released");
  RunArgs args;
  std::vector<TensorView> outputs;
  if (!ReadRunArgs(info, /*keep_alive=*/false, &args) || !ReadOutputColumns(info, 6, false, &args, &outputs)) return {};
  CS_THROW_IF_ERROR(env, session_->RunInto(args.inputs, outputs));
  return env.Undefined();
}

// timeRawRuns(...run's columns, iterations) -> microseconds per C API Run; benchmarks only.
Napi::Value SessionHandle::TimeRawRuns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_TYPE_IF(!session_, env, "session is released");
  CS_THROW_TYPE_IF(info.Length() < 7 || !info[6].IsNumber(), env, "timeRawRuns(...columns, iterations)");
  RunArgs args;
  if (!ReadRunArgs(info, /*keep_alive=*/false, &args)) return {};
  double us = 0;
  CS_THROW_IF_ERROR(env, session_->TimeRawRuns(args.inputs, info[6].As<Napi::Number>().Int32Value(), &us));
  return Napi::Number::New(env, us);
}

Napi::Value CreateSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_TYPE_IF(info.Length() < 3 || !info[0].IsObject() || !info[1].IsString() || !info[2].IsObject(), env,
                   "createSession(runtime, path, options): wrong arguments");
  Napi::Object rt_obj = info[0].As<Napi::Object>();
  CS_THROW_TYPE_IF(!rt_obj.InstanceOf(GetAddonData(env).runtime_ctor.Value()), env,
                   "createSession: runtime must be a RuntimeHandle");
  RuntimeHandle* rt = RuntimeHandle::Unwrap(rt_obj);
  auto* worker = new CreateSessionWorker(env, rt->runtime(), info[1].As<Napi::String>().Utf8Value(),
                                         ReadSessionOptions(info[2].As<Napi::Object>()));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace cascadeserve::bindings
