// ModelRunner: the one seam between the engine core and an inference runtime.
//
// The engine never sees ONNX Runtime (or any runtime) types: native/ort/ implements this
// interface, tests implement it with deterministic fakes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "common/status.h"
#include "engine/input_layout.h"

namespace cascadeserve {

// One input of a batch: rows items back to back, contiguous, row-major.
struct BatchTensor {
  const void* data = nullptr;
  size_t byte_length = 0;
  TensorElement type = TensorElement::kFloat32;
  // The batch's shape, batch axis first: [rows, item dims], the dynamic axis (if any) at the
  // batch's length (its longest item; shorter ones are padded).
  const int64_t* dims = nullptr;
  int rank = 0;
};

// Runs one model on a batch of rows.
//
// Threading: a runner is created on the thread that calls Engine::Create and is then owned
// by exactly one lane; after the lane's thread starts, Run is called only from that thread,
// never concurrently, so implementations need no locking of their own. It is destroyed
// after the lane's thread has been joined.
class ModelRunner {
 public:
  virtual ~ModelRunner() = default;

  // inputs: one per engine input (EngineConfig::inputs order), valid for the call only.
  // output: rows * output_elems floats to be filled completely; owned by the lane (a runner
  // whose model answers in FP16 converts). A non-OK status fails only this batch's requests
  // (kRuntimeError carrying the message); the lane keeps serving. Must not throw.
  virtual Status Run(const BatchTensor* inputs, int input_count, int64_t rows, float* output) = 0;
};

// Creates the runner of model `model_index` for lane `lane_index` (indices into
// EngineConfig::models and EngineConfig::lanes). Called by Engine::Create on its caller's
// thread, once per (model, hosting lane) pair, before any lane starts. On success *out owns
// the runner; on failure Create returns the status and no lane is started.
using RunnerFactory =
    std::function<Status(int model_index, int lane_index, std::unique_ptr<ModelRunner>* out)>;

}  // namespace cascadeserve
