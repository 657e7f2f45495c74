#include "engine/input_layout.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace cascadeserve {

bool IsValidTensorElement(int value) {
  switch (static_cast<TensorElement>(value)) {
    case TensorElement::kFloat32:
    case TensorElement::kUint8:
    case TensorElement::kInt32:
    case TensorElement::kInt64:
    case TensorElement::kBool:
    case TensorElement::kFloat16:
      return true;
  }
  return false;
}

size_t TensorElementSize(TensorElement type) {
  switch (type) {
    case TensorElement::kFloat32: return 4;
    case TensorElement::kUint8: return 1;
    case TensorElement::kInt32: return 4;
    case TensorElement::kInt64: return 8;
    case TensorElement::kBool: return 1;
    case TensorElement::kFloat16: return 2;
  }
  return 0;
}

const char* TensorElementName(TensorElement type) {
  switch (type) {
    case TensorElement::kFloat32: return "FP32";
    case TensorElement::kUint8: return "UINT8";
    case TensorElement::kInt32: return "INT32";
    case TensorElement::kInt64: return "INT64";
    case TensorElement::kBool: return "BOOL";
    case TensorElement::kFloat16: return "FP16";
  }
  return "undefined";
}

uint16_t FloatToHalfBits(float value) {
  uint32_t x;
  std::memcpy(&x, &value, sizeof x);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) return static_cast<uint16_t>(sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u : 0u));
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds past 65504: infinity
  if (abs < 0x38800000u) {
    // Subnormal half (or zero): value = mantissa * 2^-24.
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
    const uint32_t exponent = abs >> 23;
    const uint32_t mantissa = (abs & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - exponent;  // 14..24
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((abs - 0x38000000u) >> 13);  // rebias 127 -> 15
  const uint32_t rest = abs & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

float HalfBitsToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  uint32_t mantissa = bits & 0x3FFu;
  uint32_t x;
  if (exponent == 0x1F) {
    x = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {
    x = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    x = sign;
  } else {
    // Subnormal half: normalize.
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400u) == 0);
    x = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mantissa & 0x3FFu) << 13);
  }
  float out;
  std::memcpy(&out, &x, sizeof out);
  return out;
}

size_t ItemLayout::ItemBytes(int32_t length) const {
  size_t bytes = 0;
  for (const InputLayout& input : inputs) bytes += input.ItemBytes(length);
  return bytes;
}

size_t ItemLayout::InputOffset(size_t k, int32_t length) const {
  size_t offset = 0;
  for (size_t j = 0; j < k; ++j) offset += inputs[j].ItemBytes(length);
  return offset;
}

namespace {

template <typename T>
void StorePad(T value, InputLayout* layout) {
  std::memcpy(layout->pad_bytes, &value, sizeof value);
}

// The pad value in the input's type; TypeScript has checked that it fits.
void EncodePad(double pad, InputLayout* layout) {
  switch (layout->type) {
    case TensorElement::kFloat32: StorePad(static_cast<float>(pad), layout); break;
    case TensorElement::kFloat16: StorePad(FloatToHalfBits(static_cast<float>(pad)), layout); break;
    case TensorElement::kInt64: StorePad(static_cast<int64_t>(pad), layout); break;
    case TensorElement::kInt32: StorePad(static_cast<int32_t>(pad), layout); break;
    case TensorElement::kUint8: StorePad(static_cast<uint8_t>(pad), layout); break;
    case TensorElement::kBool: StorePad(static_cast<uint8_t>(pad != 0.0 ? 1 : 0), layout); break;
  }
  uint64_t bits = 0;
  std::memcpy(&bits, layout->pad_bytes, sizeof bits);  // bytes past elem_bytes stay 0
  layout->pad_is_zero = bits == 0;
}

}  // namespace

Status CompileItemLayout(const std::vector<InputSpec>& specs, ItemLayout* out) {
  if (specs.empty()) return Status::InvalidArgument("inputs: at least one input is required");
  ItemLayout layout;
  int shared_axis = -1;
  constexpr int64_t kMaxElems = std::numeric_limits<int32_t>::max();
  for (size_t k = 0; k < specs.size(); ++k) {
    const InputSpec& spec = specs[k];
    const std::string field = "inputs[" + std::to_string(k) + "]";
    if (!IsValidTensorElement(static_cast<int>(spec.type))) {
      return Status::InvalidArgument(field + ".type: not an element type the engine takes (" +
                                     std::to_string(static_cast<int>(spec.type)) + ")");
    }
    if (spec.item_dims.empty()) return Status::InvalidArgument(field + ".item_dims: must not be empty");
    if (!std::isfinite(spec.pad_value)) return Status::InvalidArgument(field + ".pad_value: must be finite");
    InputLayout input;
    input.type = spec.type;
    input.elem_bytes = TensorElementSize(spec.type);
    input.item_dims = spec.item_dims;
    int64_t static_elems = 1;
    for (size_t a = 0; a < spec.item_dims.size(); ++a) {
      const int64_t d = spec.item_dims[a];
      if (d == -1 && input.dynamic_axis < 0) {
        input.dynamic_axis = static_cast<int>(a);
        continue;
      }
      if (d < 1) {
        return Status::InvalidArgument(field + ".item_dims[" + std::to_string(a) + "]: must be positive or the one -1 (got " +
                                       std::to_string(d) + ")");
      }
      static_elems *= d;
      if (static_elems > kMaxElems) return Status::InvalidArgument(field + ".item_dims: too many elements per item");
      if (input.dynamic_axis < 0) input.outer *= d;
      else input.inner *= d;
    }
    if (input.dynamic_axis >= 0) {
      if (shared_axis >= 0 && shared_axis != input.dynamic_axis) {
        return Status::InvalidArgument(field + ".item_dims: dynamic axis " + std::to_string(input.dynamic_axis) +
                                       " differs from another input's (" + std::to_string(shared_axis) + ")");
      }
      shared_axis = input.dynamic_axis;
      layout.dynamic = true;
    }
    EncodePad(spec.pad_value, &input);
    layout.inputs.push_back(std::move(input));
  }
  *out = std::move(layout);
  return Status::Ok();
}

}  // namespace cascadeserve
