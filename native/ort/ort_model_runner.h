// OrtModelRunner: the engine's ModelRunner (engine/model_runner.h) over an OrtSession. Each
// (model, lane) pair gets its own session, so a lane never shares an intra-op thread pool.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/model_runner.h"
#include "ort/cuda_runtime.h"
#include "ort/ort_session.h"

namespace cascadeserve {

// One engine input as this model names it (the engine's inputs, in order).
struct OrtInputSpec {
  std::string name;
  TensorElement type = TensorElement::kFloat32;
  std::vector<int64_t> item_dims;  // one item's shape, without the batch dimension; -1 = dynamic
};

struct OrtModelSpec {
  std::string name;
  std::string path;
  std::vector<OrtInputSpec> inputs;  // every model input, in the engine's input order
  std::string output_name;           // the FP32 or FP16 output holding logits or probabilities
  int64_t classes = 0;               // elements per output row
};

struct OrtLaneSpec {
  ExecutionProvider provider = ExecutionProvider::kCpu;
  int device_id = 0;
  int intra_op_threads = 1;
  int graph_optimization_level = 99;
};

// What a CUDA lane owns: its stream (handed to ONNX Runtime's CUDA provider as the compute
// stream of every session on the lane). Created with the lane's first runner.
struct CudaLaneResources {
  std::shared_ptr<CudaRuntime> cuda;
  void* stream = nullptr;
  ~CudaLaneResources() {
    if (cuda) cuda->DestroyStream(stream);
  }
};

class OrtModelRunner : public ModelRunner {
 public:
  // Loads the model for one lane and checks it against the spec: the model has exactly the
  // spec's inputs (by name, element type, and non-batch dimensions: a dynamic axis of the spec
  // must be dynamic in the model), and the named output is FP32 or FP16 [N, classes].
  // `cuda_lane` is set for runners of a CUDA lane: a single FP32 input is staged in pinned
  // memory (typed inputs go as they are; ONNX Runtime copies them).
  static Status Create(std::shared_ptr<OrtRuntime> runtime, const OrtModelSpec& model,
                       const OrtLaneSpec& lane, std::shared_ptr<CudaLaneResources> cuda_lane,
                       std::unique_ptr<OrtModelRunner>* out);
  Status Run(const BatchTensor* inputs, int input_count, int64_t rows, float* output) override;

 private:
  OrtModelRunner() = default;
  // The zoo's path, as fast as before typed inputs: one FP32 input without a dynamic axis and
  // an FP32 output go through OrtSession::RunFloatRows.
  Status RunFloatRows(const BatchTensor& input, int64_t rows, float* output);
  std::shared_ptr<CudaLaneResources> cuda_lane_;  // keeps the stream alive longer than the session
  std::unique_ptr<OrtSession> session_;
  std::unique_ptr<PinnedBuffer> pinned_input_;
  bool float_rows_ = false;         // RunFloatRows applies
  std::vector<int64_t> item_dims_;  // the single input's (float_rows_ only)
  std::vector<int> session_input_;  // engine input k feeds session input session_input_[k]
  std::vector<std::vector<int64_t>> fixed_item_dims_;  // per input: its item dims, empty if dynamic
  size_t output_index_ = 0;
  bool output_fp16_ = false;
  int64_t classes_ = 0;
  // Reused across runs (the lane calls Run from one thread only).
  std::vector<TensorView> input_views_;
  std::vector<TensorView> output_views_;
  std::vector<uint16_t> half_output_;
};

// The factory Engine::Create calls once per (model, hosting lane). CUDA lanes get their stream
// with their first runner; a runtime without a usable CUDA provider fails there, clearly.
RunnerFactory MakeOrtRunnerFactory(std::shared_ptr<OrtRuntime> runtime, std::vector<OrtModelSpec> models,
                                   std::vector<OrtLaneSpec> lanes);

}  // namespace cascadeserve
