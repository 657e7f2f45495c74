// InputLayout: how an item's inputs are laid out, in a Request and in a batch.
//
// Every model of an engine takes the same items (a cascade passes them from stage to stage),
// so the layout is the engine's, not a model's. An input has an element type, an item shape
// with at most one dynamic axis (-1) and a pad value. An item of length L holds input k as
// [outer][L][inner] elements (outer = product of the dims before the dynamic axis, inner =
// product after); without a dynamic axis it holds `outer` elements and L is ignored.
// A Request stores its inputs back to back, each at its own length (engine/request.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace cascadeserve {

// Element types an engine input may have. The values are ONNX's element type numbers
// (pinned in bindings/enum_table.cc and ts/contracts/enums.ts kDatatypeCodes), so that a
// runtime passes them on unchanged. Do not renumber.
enum class TensorElement : int {
  kFloat32 = 1,
  kUint8 = 2,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
};

bool IsValidTensorElement(int value);
size_t TensorElementSize(TensorElement type);  // bytes per element
const char* TensorElementName(TensorElement type);

// IEEE 754 binary16 <-> binary32 (round to nearest even; NaN and infinities kept).
uint16_t FloatToHalfBits(float value);
float HalfBitsToFloat(uint16_t bits);

// What a caller declares about one input (engine_config.h EngineConfig::inputs).
struct InputSpec {
  std::string name;
  TensorElement type = TensorElement::kFloat32;
  std::vector<int64_t> item_dims;  // one item, no batch axis; -1 marks the dynamic axis
  double pad_value = 0.0;          // converted to `type` (integers truncated, BOOL != 0)
};

// One input, compiled from its InputSpec.
struct InputLayout {
  TensorElement type = TensorElement::kFloat32;
  size_t elem_bytes = 4;
  std::vector<int64_t> item_dims;
  int dynamic_axis = -1;  // index into item_dims, -1 = none
  int64_t outer = 1;      // elements before the dynamic axis (all of them when there is none)
  int64_t inner = 1;      // elements after the dynamic axis
  // The pad value's bytes in `type` (the first elem_bytes bytes of pad_bytes are used).
  uint8_t pad_bytes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  bool pad_is_zero = true;

  int64_t ItemElems(int32_t length) const { return dynamic_axis < 0 ? outer : outer * length * inner; }
  size_t ItemBytes(int32_t length) const { return static_cast<size_t>(ItemElems(length)) * elem_bytes; }
};

struct ItemLayout {
  std::vector<InputLayout> inputs;
  bool dynamic = false;  // some input has a dynamic axis: items carry their own length

  // Bytes of one item of length `length` (all inputs), and where input k starts in it.
  size_t ItemBytes(int32_t length) const;
  size_t InputOffset(size_t k, int32_t length) const;
};

// Validates the specs (fields named "inputs[k]...") and compiles them. At least one input;
// positive dims except at most one -1 per input, at the same index in every dynamic input.
Status CompileItemLayout(const std::vector<InputSpec>& specs, ItemLayout* out);

}  // namespace cascadeserve
