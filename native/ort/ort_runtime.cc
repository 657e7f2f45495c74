#include "ort/ort_runtime.h"

#include <dlfcn.h>

#include <algorithm>

namespace cascadeserve {

namespace {
using GetApiBaseFn = const OrtApiBase* (*)();
}  // namespace

Status OrtRuntime::Create(const std::string& library_path, std::shared_ptr<OrtRuntime>* out) {
  std::shared_ptr<OrtRuntime> rt(new OrtRuntime());
  rt->library_path_ = library_path;
  // RTLD_LOCAL: a second runtime (another build) may be loaded beside this one.
  rt->handle_ = dlopen(library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (rt->handle_ == nullptr) {
    const char* err = dlerror();
    return Status::InvalidArgument("cannot load ONNX Runtime library '" + library_path +
                                   "': " + (err ? err : "unknown dlopen error"));
  }
  auto get_api_base = reinterpret_cast<GetApiBaseFn>(dlsym(rt->handle_, "OrtGetApiBase"));
  if (get_api_base == nullptr) {
    return Status::InvalidArgument("'" + library_path +
                                   "' is not an ONNX Runtime library: it has no OrtGetApiBase");
  }
  const OrtApiBase* base = get_api_base();
  rt->version_ = base->GetVersionString();
  rt->api_ = base->GetApi(ORT_API_VERSION);
  if (rt->api_ == nullptr) {
    return Status::Unavailable("ONNX Runtime " + rt->version_ + " at '" + library_path +
                               "' does not offer C API version " +
                               std::to_string(ORT_API_VERSION) +
                               ", the version this addon was compiled for (ONNX Runtime 1." +
                               std::to_string(ORT_API_VERSION) +
                               " headers); use ONNX Runtime 1." + std::to_string(ORT_API_VERSION) +
                               " or newer");
  }
  // Errors reach callers as Status messages; ONNX Runtime's own log would print them twice.
  CS_RETURN_IF_ERROR(rt->Check(
      rt->api_->CreateEnv(ORT_LOGGING_LEVEL_FATAL, "cascadeserve", &rt->env_), "CreateEnv"));
  char** names = nullptr;
  int count = 0;
  CS_RETURN_IF_ERROR(rt->Check(rt->api_->GetAvailableProviders(&names, &count),
                               "GetAvailableProviders"));
  for (int i = 0; i < count; ++i) rt->providers_.emplace_back(names[i]);
  rt->api_->ReleaseAvailableProviders(names, count);
  *out = std::move(rt);
  return Status::Ok();
}

OrtRuntime::~OrtRuntime() {
  if (env_ != nullptr) api_->ReleaseEnv(env_);
  // The library is deliberately not dlclose'd: ONNX Runtime keeps thread-local state and
  // atexit handlers that would point into unmapped code.
}

bool OrtRuntime::HasProvider(const std::string& name) const {
  return std::find(providers_.begin(), providers_.end(), name) != providers_.end();
}

Status OrtRuntime::Check(OrtStatus* status, const std::string& context) const {
  if (status == nullptr) return Status::Ok();
  std::string message = api_->GetErrorMessage(status);
  OrtErrorCode code = api_->GetErrorCode(status);
  api_->ReleaseStatus(status);
  std::string text = context.empty() ? message : context + ": " + message;
  switch (code) {
    case ORT_INVALID_ARGUMENT:
    case ORT_NO_SUCHFILE:
    case ORT_NO_MODEL:
    case ORT_INVALID_PROTOBUF:
    case ORT_INVALID_GRAPH:
      return Status::InvalidArgument(text);
    case ORT_NOT_IMPLEMENTED:
      return Status::Unavailable(text);
    default:
      return Status::RuntimeError(text);
  }
}

}  // namespace cascadeserve
