// OrtRuntime: one ONNX Runtime shared library opened with dlopen, its C API table and one
// OrtEnv. Loading at run time (not linking) keeps the addon free of a link-time dependency and
// lets a user point it at another build (a GPU one, say).
//
// Ownership: shared by every OrtSession created from it (std::shared_ptr); the library stays
// open until the last session is gone. Thread safety: the API table and env are immutable
// after Create and safe to use from any thread, as ONNX Runtime documents.
#pragma once

#include <onnxruntime_c_api.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace cascadeserve {

class OrtRuntime {
 public:
  // Opens `library_path`, checks that it offers C API version ORT_API_VERSION (the headers'
  // version) and creates the environment. Fails with a message naming the path and both
  // versions when the library is too old.
  static Status Create(const std::string& library_path, std::shared_ptr<OrtRuntime>* out);
  ~OrtRuntime();

  OrtRuntime(const OrtRuntime&) = delete;
  OrtRuntime& operator=(const OrtRuntime&) = delete;

  const OrtApi& api() const { return *api_; }
  OrtEnv* env() const { return env_; }
  const std::string& library_path() const { return library_path_; }
  const std::string& version() const { return version_; }
  // Names as ONNX Runtime reports them, e.g. "CPUExecutionProvider".
  const std::vector<std::string>& available_providers() const { return providers_; }
  bool HasProvider(const std::string& name) const;
  static int compiled_api_version() { return ORT_API_VERSION; }

  // Converts an OrtStatus* into a Status (taking ownership of it). `context` prefixes the
  // runtime's own message, which is always kept.
  Status Check(OrtStatus* status, const std::string& context) const;

 private:
  OrtRuntime() = default;

  void* handle_ = nullptr;
  const OrtApi* api_ = nullptr;
  OrtEnv* env_ = nullptr;
  std::string library_path_;
  std::string version_;
  std::vector<std::string> providers_;
};

}  // namespace cascadeserve
