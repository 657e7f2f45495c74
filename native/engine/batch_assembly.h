// Batch assembly: gathering the inputs of a batch's requests into the one contiguous buffer
// per input a runtime wants, padded to the batch's longest item. Separate from the lane so
// it can be benchmarked against plain memcpy (benchmarks/native/bench_engine_core.cc).
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/input_layout.h"

namespace cascadeserve {

// Copies rows[i][0 .. row_elems) to dst[i * row_elems ..] for i in [0, row_count).
// dst must hold row_count * row_elems floats and not overlap any row. No allocation.
void GatherRows(const float* const* rows, int64_t row_count, int64_t row_elems, float* dst);

// Gathers one input of a batch: items[i] points at item i's bytes of this input, at its own
// length lengths[i] (lengths may be null when the input has no dynamic axis). Writes
// row_count items of length batch_length to dst, back to back: per item and per outer index,
// its lengths[i] * inner elements followed by (batch_length - lengths[i]) * inner pad
// values, so dst is written once, front to back. Requires lengths[i] <= batch_length; dst
// holds row_count * input.ItemBytes(batch_length) bytes. No allocation.
void GatherPadded(const InputLayout& input, const uint8_t* const* items, const int32_t* lengths,
                  int64_t row_count, int32_t batch_length, uint8_t* dst);

// Writes `count` copies of the input's pad value at dst (memset when it is all zero bytes).
void FillPad(const InputLayout& input, int64_t count, uint8_t* dst);

}  // namespace cascadeserve
