#include "session_binding.h"

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace cascadeserve::bindings {

namespace {

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

Napi::Array OutputsToJs(Napi::Env env, const std::vector<OwnedTensor>& outputs) {
  Napi::Array result = Napi::Array::New(env, outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const OwnedTensor& t = outputs[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.name);
    o.Set("type", static_cast<int>(t.type));
    Napi::Array dims = Napi::Array::New(env, t.dims.size());
    for (size_t d = 0; d < t.dims.size(); ++d) dims.Set(d, Napi::Number::New(env, double(t.dims[d])));
    o.Set("dims", dims);
    // A copy rather than an external buffer: outputs are small and external buffers are
    // refused where the V8 sandbox is on.
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, t.byte_length);
    if (t.byte_length > 0) std::memcpy(buf.Data(), t.data, t.byte_length);
    o.Set("buffer", buf);
    result.Set(i, o);
  }
  return result;
}

struct RunArgs {
  std::vector<TensorView> inputs;
  std::vector<std::string> output_names;
  std::vector<Napi::Reference<Napi::Value>> keep_alive;  // used by the off-thread path only
};

// Reads run(inputs, outputNames) arguments; false (with a JS exception pending) on bad types.
bool ReadRunArgs(const Napi::CallbackInfo& info, bool keep_alive, RunArgs* args) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray()) {
    Napi::TypeError::New(env, "run(inputs, outputNames): expected two arrays").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Array inputs = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < inputs.Length(); ++i) {
    Napi::Object in = inputs.Get(i).As<Napi::Object>();
    Napi::Value data = in.Get("data");
    if (!data.IsTypedArray()) {
      Napi::TypeError::New(env, "inputs[" + std::to_string(i) + "].data must be a typed array").ThrowAsJavaScriptException();
      return false;
    }
    Napi::TypedArray ta = data.As<Napi::TypedArray>();
    TensorView view;
    view.name = in.Get("name").As<Napi::String>().Utf8Value();
    view.type = static_cast<ElementType>(in.Get("type").As<Napi::Number>().Int32Value());
    Napi::Array dims = in.Get("dims").As<Napi::Array>();
    for (uint32_t d = 0; d < dims.Length(); ++d) view.dims.push_back(dims.Get(d).As<Napi::Number>().Int64Value());
    view.data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    view.byte_length = ta.ByteLength();
    args->inputs.push_back(std::move(view));
    if (keep_alive) args->keep_alive.push_back(Napi::Persistent(data));
  }
  Napi::Array names = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < names.Length(); ++i) args->output_names.push_back(names.Get(i).As<Napi::String>().Utf8Value());
  return true;
}

class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<OrtSession> session)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), session_(std::move(session)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  // Holds references that keep the input buffers alive while the run reads them off-thread.
  RunArgs args;

  void Execute() override {
    auto start = std::chrono::steady_clock::now();
    status_ = session_->Run(args.inputs, args.output_names, &outputs_);
    compute_us_ = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  }
  void OnOK() override {
    Napi::Env env = Env();
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
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<OrtSession> session_;
  Status status_;
  std::vector<OwnedTensor> outputs_;
  double compute_us_ = 0;
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
                      InstanceMethod<&SessionHandle::TimeRawRuns>("timeRawRuns"),
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

Napi::Value SessionHandle::Release(const Napi::CallbackInfo& info) {
  // Runs in flight hold their own reference; the model is freed when the last one ends.
  session_.reset();
  return info.Env().Undefined();
}

// run(inputs: {name, type, dims, data: TypedArray}[], outputNames: string[]) -> Promise
Napi::Value SessionHandle::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_TYPE_IF(!session_, env, "session is released");
  auto* worker = new RunWorker(env, session_);
  if (!ReadRunArgs(info, /*keep_alive=*/true, &worker->args)) {
    delete worker;
    return {};
  }
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// runSync(inputs, outputNames) -> outputs. For models so cheap that a thread hop costs more
// than the run itself; the facade decides when (ts/runtime/session.ts).
Napi::Value SessionHandle::RunSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_TYPE_IF(!session_, env, "session is released");
  RunArgs args;
  if (!ReadRunArgs(info, /*keep_alive=*/false, &args)) return {};
  std::vector<OwnedTensor> outputs;
  CS_THROW_IF_ERROR(env, session_->Run(args.inputs, args.output_names, &outputs));
  return OutputsToJs(env, outputs);
}

// timeRawRuns(inputs, [], iterations) -> microseconds per C API Run; benchmarks only.
Napi::Value SessionHandle::TimeRawRuns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_TYPE_IF(!session_, env, "session is released");
  CS_THROW_TYPE_IF(info.Length() < 3 || !info[2].IsNumber(), env, "timeRawRuns(inputs, outputNames, iterations)");
  RunArgs args;
  if (!ReadRunArgs(info, /*keep_alive=*/false, &args)) return {};
  double us = 0;
  CS_THROW_IF_ERROR(env, session_->TimeRawRuns(args.inputs, info[2].As<Napi::Number>().Int32Value(), &us));
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
