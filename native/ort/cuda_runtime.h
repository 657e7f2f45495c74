// CudaRuntime: the few CUDA runtime calls a CUDA lane needs (a stream, pinned host memory),
// resolved with dlopen from libcudart at run time. The addon neither links CUDA nor includes
// its headers, so it builds and runs on machines without CUDA; a CUDA lane there fails at
// engine construction with a message saying what is missing.
//
// Thread safety: the function table is immutable after Open; CUDA's own calls are thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/status.h"

namespace cascadeserve {

class CudaRuntime {
 public:
  // Tries libcudart.so, then the versioned names of CUDA 13, 12 and 11.
  static Status Open(std::shared_ptr<CudaRuntime>* out);
  ~CudaRuntime() = default;

  // A non-blocking stream (cudaStreamNonBlocking) for one lane; `*stream` is a cudaStream_t.
  Status CreateStream(void** stream) const;
  void DestroyStream(void* stream) const;
  // Page-locked host memory, so that copies of batch inputs to the device run at full speed.
  Status AllocPinned(size_t bytes, void** ptr) const;
  void FreePinned(void* ptr) const;

 private:
  CudaRuntime() = default;
  using StreamCreateFn = int (*)(void**, unsigned int);
  using StreamDestroyFn = int (*)(void*);
  using HostAllocFn = int (*)(void**, size_t, unsigned int);
  using FreeHostFn = int (*)(void*);
  using ErrorStringFn = const char* (*)(int);
  std::string Describe(int code) const;

  void* handle_ = nullptr;
  StreamCreateFn stream_create_ = nullptr;
  StreamDestroyFn stream_destroy_ = nullptr;
  HostAllocFn host_alloc_ = nullptr;
  FreeHostFn free_host_ = nullptr;
  ErrorStringFn error_string_ = nullptr;
};

// Pinned staging memory for one runner's batch input; grows on demand (rarely: only when a
// gear raises the batch size) and is freed with the runner.
class PinnedBuffer {
 public:
  explicit PinnedBuffer(std::shared_ptr<CudaRuntime> cuda) : cuda_(std::move(cuda)) {}
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  Status Reserve(size_t bytes);
  void* data() const { return data_; }

 private:
  std::shared_ptr<CudaRuntime> cuda_;
  void* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace cascadeserve
