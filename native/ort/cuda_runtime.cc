#include "ort/cuda_runtime.h"

#include <dlfcn.h>

namespace cascadeserve {

namespace {
constexpr unsigned int kCudaStreamNonBlocking = 0x01;  // cudaStreamNonBlocking
constexpr unsigned int kCudaHostAllocPortable = 0x01;  // cudaHostAllocPortable
}  // namespace

Status CudaRuntime::Open(std::shared_ptr<CudaRuntime>* out) {
  std::shared_ptr<CudaRuntime> rt(new CudaRuntime());
  std::string errors;
  for (const char* name : {"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"}) {
    rt->handle_ = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (rt->handle_ != nullptr) break;
    const char* err = dlerror();
    errors += std::string(errors.empty() ? "" : "; ") + (err ? err : name);
  }
  if (rt->handle_ == nullptr) {
    return Status::Unavailable("CUDA lane: the CUDA runtime library (libcudart) could not be loaded: " + errors);
  }
  rt->stream_create_ = reinterpret_cast<StreamCreateFn>(dlsym(rt->handle_, "cudaStreamCreateWithFlags"));
  rt->stream_destroy_ = reinterpret_cast<StreamDestroyFn>(dlsym(rt->handle_, "cudaStreamDestroy"));
  rt->host_alloc_ = reinterpret_cast<HostAllocFn>(dlsym(rt->handle_, "cudaHostAlloc"));
  rt->free_host_ = reinterpret_cast<FreeHostFn>(dlsym(rt->handle_, "cudaFreeHost"));
  rt->error_string_ = reinterpret_cast<ErrorStringFn>(dlsym(rt->handle_, "cudaGetErrorString"));
  if (!rt->stream_create_ || !rt->stream_destroy_ || !rt->host_alloc_ || !rt->free_host_ || !rt->error_string_) {
    return Status::Unavailable("CUDA lane: libcudart lacks cudaStreamCreateWithFlags, cudaHostAlloc or friends");
  }
  *out = std::move(rt);
  return Status::Ok();
}

std::string CudaRuntime::Describe(int code) const {
  return std::to_string(code) + " (" + (error_string_ ? error_string_(code) : "?") + ")";
}

Status CudaRuntime::CreateStream(void** stream) const {
  int rc = stream_create_(stream, kCudaStreamNonBlocking);
  if (rc != 0) return Status::RuntimeError("cudaStreamCreateWithFlags failed: " + Describe(rc));
  return Status::Ok();
}

void CudaRuntime::DestroyStream(void* stream) const {
  if (stream != nullptr) stream_destroy_(stream);
}

Status CudaRuntime::AllocPinned(size_t bytes, void** ptr) const {
  int rc = host_alloc_(ptr, bytes, kCudaHostAllocPortable);
  if (rc != 0) return Status::RuntimeError("cudaHostAlloc of " + std::to_string(bytes) + " bytes failed: " + Describe(rc));
  return Status::Ok();
}

void CudaRuntime::FreePinned(void* ptr) const {
  if (ptr != nullptr) free_host_(ptr);
}

PinnedBuffer::~PinnedBuffer() { cuda_->FreePinned(data_); }

Status PinnedBuffer::Reserve(size_t bytes) {
  if (bytes <= capacity_) return Status::Ok();
  void* fresh = nullptr;
  CS_RETURN_IF_ERROR(cuda_->AllocPinned(bytes, &fresh));
  cuda_->FreePinned(data_);
  data_ = fresh;
  capacity_ = bytes;
  return Status::Ok();
}

}  // namespace cascadeserve
