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

struct OrtModelSpec {
  std::string name;
  std::string path;
  std::string input_name;          // the float32 input fed with rows of items
  std::string output_name;         // the float32 output holding logits or probabilities
  std::vector<int64_t> item_dims;  // one item's shape, without the batch dimension
  int64_t classes = 0;             // elements per output row
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
  // Loads the model for one lane and checks it against the spec: the named input and output
  // exist, are float32, and their non-batch dimensions match item_dims and classes.
  // `cuda_lane` is set for runners of a CUDA lane: batch inputs are staged in pinned memory.
  static Status Create(std::shared_ptr<OrtRuntime> runtime, const OrtModelSpec& model,
                       const OrtLaneSpec& lane, std::shared_ptr<CudaLaneResources> cuda_lane,
                       std::unique_ptr<OrtModelRunner>* out);
  Status Run(const float* input, int64_t rows, float* output) override;

 private:
  OrtModelRunner() = default;
  std::shared_ptr<CudaLaneResources> cuda_lane_;  // keeps the stream alive longer than the session
  std::unique_ptr<OrtSession> session_;
  std::unique_ptr<PinnedBuffer> pinned_input_;
  int64_t item_elems_ = 0;
  std::vector<int64_t> item_dims_;
  size_t output_index_ = 0;
  int64_t classes_ = 0;
};

// The factory Engine::Create calls once per (model, hosting lane). CUDA lanes get their stream
// with their first runner; a runtime without a usable CUDA provider fails there, clearly.
RunnerFactory MakeOrtRunnerFactory(std::shared_ptr<OrtRuntime> runtime, std::vector<OrtModelSpec> models,
                                   std::vector<OrtLaneSpec> lanes);

}  // namespace cascadeserve
