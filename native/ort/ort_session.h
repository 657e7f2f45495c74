// OrtSession: one loaded model. Created once (loading is slow). Run and RunFloatRows may be
// called from several threads at once (ONNX Runtime's Run is thread-safe); the engine still
// gives each lane its own session so that lanes never share an intra-op thread pool.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ort/ort_runtime.h"
#include "ort/tensor.h"

namespace cascadeserve {

enum class ExecutionProvider : int { kCpu = 0, kCuda = 1 };

struct SessionOptions {
  int intra_op_threads = 1;            // 1: the lane's own thread does all the work
  int graph_optimization_level = 99;   // 0 none, 1 basic, 2 extended, 99 all
  ExecutionProvider provider = ExecutionProvider::kCpu;
  int cuda_device_id = 0;
  void* cuda_compute_stream = nullptr;  // cudaStream_t of the owning lane, or null
};

class OrtSession {
 public:
  static Status Create(std::shared_ptr<OrtRuntime> runtime, const std::string& model_path,
                       const SessionOptions& options, std::unique_ptr<OrtSession>* out);
  ~OrtSession();
  OrtSession(const OrtSession&) = delete;
  OrtSession& operator=(const OrtSession&) = delete;

  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  const OrtRuntime& runtime() const { return *runtime_; }

  // General run: inputs by model input index (views into caller memory, valid until
  // return; each index at most once, every model input given), the outputs listed in
  // `output_indices` (all when empty), allocated by ONNX Runtime.
  Status Run(const std::vector<TensorView>& inputs, const std::vector<int>& output_indices,
             std::vector<OwnedTensor>* outputs);

  // Run with outputs the caller allocated (shapes known in advance): ONNX Runtime writes into
  // `outputs[i].data` directly, so no output is allocated or copied. A shape that does not
  // match what the model produces fails with ONNX Runtime's message.
  Status RunInto(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs);

  // The raw runtime's cost, for benchmarks: `iterations` calls of the C API's Run on inputs
  // made into OrtValues once, outputs allocated and released by ONNX Runtime as usual.
  Status TimeRawRuns(const std::vector<TensorView>& inputs, int iterations, double* us_per_run);

  // Hot path for the engine: the first input gets `rows` x item_dims float32 from `input`;
  // output `output_index` (float32, rows x output_row_elems) is written into `output`
  // without a copy. The caller guarantees the sizes.
  Status RunFloatRows(const float* input, int64_t rows, const std::vector<int64_t>& item_dims,
                      size_t output_index, float* output, int64_t output_row_elems);

 private:
  OrtSession() = default;
  Status ReadIoInfo();

  std::shared_ptr<OrtRuntime> runtime_;
  ::OrtSession* session_ = nullptr;
  OrtMemoryInfo* cpu_memory_ = nullptr;
  std::vector<TensorInfo> inputs_;
  std::vector<TensorInfo> outputs_;
  std::vector<const char*> input_name_ptrs_;
  std::vector<const char*> output_name_ptrs_;
};

}  // namespace cascadeserve
