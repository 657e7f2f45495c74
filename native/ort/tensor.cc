#include "ort/tensor.h"

#include <onnxruntime_c_api.h>

namespace cascadeserve {

#define CS_PIN_TYPE(ours, theirs) \
  static_assert(static_cast<int>(ElementType::ours) == static_cast<int>(theirs), #ours)
CS_PIN_TYPE(kFloat32, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT);
CS_PIN_TYPE(kUint8, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8);
CS_PIN_TYPE(kInt8, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8);
CS_PIN_TYPE(kUint16, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16);
CS_PIN_TYPE(kInt16, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16);
CS_PIN_TYPE(kInt32, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32);
CS_PIN_TYPE(kInt64, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64);
CS_PIN_TYPE(kString, ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING);
CS_PIN_TYPE(kBool, ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL);
CS_PIN_TYPE(kFloat16, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16);
CS_PIN_TYPE(kFloat64, ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE);
CS_PIN_TYPE(kUint32, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32);
CS_PIN_TYPE(kUint64, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64);
#undef CS_PIN_TYPE

size_t ElementSize(ElementType type) {
  switch (type) {
    case ElementType::kFloat32: return 4;
    case ElementType::kUint8: return 1;
    case ElementType::kInt8: return 1;
    case ElementType::kUint16: return 2;
    case ElementType::kInt16: return 2;
    case ElementType::kInt32: return 4;
    case ElementType::kInt64: return 8;
    case ElementType::kBool: return 1;
    case ElementType::kFloat16: return 2;
    case ElementType::kFloat64: return 8;
    case ElementType::kUint32: return 4;
    case ElementType::kUint64: return 8;
    default: return 0;
  }
}

const char* ElementTypeName(ElementType type) {
  switch (type) {
    case ElementType::kFloat32: return "float32";
    case ElementType::kUint8: return "uint8";
    case ElementType::kInt8: return "int8";
    case ElementType::kUint16: return "uint16";
    case ElementType::kInt16: return "int16";
    case ElementType::kInt32: return "int32";
    case ElementType::kInt64: return "int64";
    case ElementType::kString: return "string";
    case ElementType::kBool: return "bool";
    case ElementType::kFloat16: return "float16";
    case ElementType::kFloat64: return "float64";
    case ElementType::kUint32: return "uint32";
    case ElementType::kUint64: return "uint64";
    default: return "undefined";
  }
}

int64_t ElementCount(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

}  // namespace cascadeserve
