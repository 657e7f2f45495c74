#include "engine/batch_assembly.h"

#include <cstring>

namespace cascadeserve {

void GatherRows(const float* const* rows, int64_t row_count, int64_t row_elems, float* dst) {
  const size_t row_bytes = static_cast<size_t>(row_elems) * sizeof(float);
  for (int64_t i = 0; i < row_count; ++i) {
    std::memcpy(dst + i * row_elems, rows[i], row_bytes);
  }
}

}  // namespace cascadeserve
