#include "engine/batch_assembly.h"

#include <cstring>

namespace cascadeserve {

void GatherRows(const float* const* rows, int64_t row_count, int64_t row_elems, float* dst) {
  const size_t row_bytes = static_cast<size_t>(row_elems) * sizeof(float);
  for (int64_t i = 0; i < row_count; ++i) {
    std::memcpy(dst + i * row_elems, rows[i], row_bytes);
  }
}

namespace {

// The element size as a compile-time constant, so that each store is one instruction.
template <size_t kBytes>
void FillPattern(const uint8_t* pattern, int64_t count, uint8_t* dst) {
  for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * kBytes, pattern, kBytes);
}

}  // namespace

void FillPad(const InputLayout& input, int64_t count, uint8_t* dst) {
  if (count <= 0) return;
  if (input.pad_is_zero) {
    std::memset(dst, 0, static_cast<size_t>(count) * input.elem_bytes);
    return;
  }
  switch (input.elem_bytes) {
    case 1: std::memset(dst, input.pad_bytes[0], static_cast<size_t>(count)); break;
    case 2: FillPattern<2>(input.pad_bytes, count, dst); break;
    case 4: FillPattern<4>(input.pad_bytes, count, dst); break;
    default: FillPattern<8>(input.pad_bytes, count, dst); break;
  }
}

void GatherPadded(const InputLayout& input, const uint8_t* const* items, const int32_t* lengths,
                  int64_t row_count, int32_t batch_length, uint8_t* dst) {
  if (input.dynamic_axis < 0) {
    const size_t item_bytes = input.ItemBytes(0);
    for (int64_t i = 0; i < row_count; ++i) std::memcpy(dst + i * item_bytes, items[i], item_bytes);
    return;
  }
  const size_t slice_bytes = static_cast<size_t>(input.inner) * input.elem_bytes;  // one position
  for (int64_t i = 0; i < row_count; ++i) {
    const uint8_t* src = items[i];
    const int32_t length = lengths[i];
    const size_t kept_bytes = static_cast<size_t>(length) * slice_bytes;
    const int64_t pad_elems = static_cast<int64_t>(batch_length - length) * input.inner;
    for (int64_t o = 0; o < input.outer; ++o) {
      std::memcpy(dst, src, kept_bytes);
      dst += kept_bytes;
      src += kept_bytes;
      FillPad(input, pad_elems, dst);
      dst += static_cast<size_t>(pad_elems) * input.elem_bytes;
    }
  }
}

}  // namespace cascadeserve
