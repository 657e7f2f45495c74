// Batch assembly: gathering the inputs of a batch's requests into the one contiguous buffer
// a runtime wants. Separate from the lane so it can be benchmarked against plain memcpy
// (benchmarks/native/bench_engine_core.cc).
#pragma once

#include <cstdint>

namespace cascadeserve {

// Copies rows[i][0 .. row_elems) to dst[i * row_elems ..] for i in [0, row_count).
// dst must hold row_count * row_elems floats and not overlap any row. No allocation.
void GatherRows(const float* const* rows, int64_t row_count, int64_t row_elems, float* dst);

}  // namespace cascadeserve
