// Tensors as they cross between native/ and its callers: element types mirrored from ONNX
// (values equal ONNXTensorElementDataType, pinned by static_asserts in tensor.cc and mirrored
// in ts/runtime/element-type.ts), borrowed input views and owned outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cascadeserve {

enum class ElementType : int {
  kUndefined = 0,
  kFloat32 = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUint32 = 12,
  kUint64 = 13,
};

// Bytes per element; 0 for types this project does not pass as raw buffers (string).
size_t ElementSize(ElementType type);
const char* ElementTypeName(ElementType type);

struct TensorInfo {
  std::string name;
  ElementType type = ElementType::kUndefined;
  std::vector<int64_t> shape;  // -1 for a dynamic dimension
};

// An input the caller owns; it must stay valid until the run completes. `index` is the
// model input it feeds (OrtSession::inputs() order), so that runs never compare names.
struct TensorView {
  int index = 0;
  ElementType type = ElementType::kUndefined;
  std::vector<int64_t> dims;
  const void* data = nullptr;
  size_t byte_length = 0;
};

// An output owned by ONNX Runtime's OrtValue; `release` frees it (kept type-erased so callers
// need no ONNX Runtime header). Move-only.
struct OwnedTensor {
  int index = 0;  // model output index (OrtSession::outputs() order)
  ElementType type = ElementType::kUndefined;
  std::vector<int64_t> dims;
  void* data = nullptr;
  size_t byte_length = 0;
  std::shared_ptr<void> owner;  // keeps `data` alive
};

int64_t ElementCount(const std::vector<int64_t>& dims);

}  // namespace cascadeserve
