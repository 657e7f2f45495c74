#include "ort/ort_model_runner.h"

#include <cstring>
#include <mutex>

namespace cascadeserve {

namespace {

std::string DimsText(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

// A model dimension matches when it is dynamic (-1) or equal.
bool DimsMatch(const std::vector<int64_t>& model_dims, const std::vector<int64_t>& want) {
  if (model_dims.size() != want.size() + 1) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (model_dims[i + 1] != -1 && model_dims[i + 1] != want[i]) return false;
  }
  return true;
}

}  // namespace

Status OrtModelRunner::Create(std::shared_ptr<OrtRuntime> runtime, const OrtModelSpec& model,
                              const OrtLaneSpec& lane, std::shared_ptr<CudaLaneResources> cuda_lane,
                              std::unique_ptr<OrtModelRunner>* out) {
  SessionOptions options;
  options.intra_op_threads = lane.intra_op_threads;
  options.graph_optimization_level = lane.graph_optimization_level;
  options.provider = lane.provider;
  options.cuda_device_id = lane.device_id;
  options.cuda_compute_stream = cuda_lane ? cuda_lane->stream : nullptr;
  std::unique_ptr<OrtModelRunner> r(new OrtModelRunner());
  r->cuda_lane_ = cuda_lane;
  if (cuda_lane) r->pinned_input_ = std::make_unique<PinnedBuffer>(cuda_lane->cuda);
  CS_RETURN_IF_ERROR(OrtSession::Create(std::move(runtime), model.path, options, &r->session_));

  const std::string where = "model '" + model.name + "' (" + model.path + ")";
  const auto& inputs = r->session_->inputs();
  if (inputs.size() != 1 || inputs[0].name != model.input_name) {
    std::string names;
    for (const auto& i : inputs) names += (names.empty() ? "" : ", ") + i.name;
    return Status::InvalidArgument(where + ": expected exactly one input named '" + model.input_name +
                                   "', the model has: " + names);
  }
  if (inputs[0].type != ElementType::kFloat32 || !DimsMatch(inputs[0].shape, model.item_dims)) {
    return Status::InvalidArgument(where + ": input '" + model.input_name + "' is " +
                                   ElementTypeName(inputs[0].type) + " " + DimsText(inputs[0].shape) +
                                   ", expected float32 [N]+" + DimsText(model.item_dims));
  }
  const auto& outputs = r->session_->outputs();
  bool found = false;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].name != model.output_name) continue;
    found = true;
    r->output_index_ = i;
    if (outputs[i].type != ElementType::kFloat32 || !DimsMatch(outputs[i].shape, {model.classes})) {
      return Status::InvalidArgument(where + ": output '" + model.output_name + "' is " +
                                     ElementTypeName(outputs[i].type) + " " + DimsText(outputs[i].shape) +
                                     ", expected float32 [N," + std::to_string(model.classes) + "]");
    }
  }
  if (!found) return Status::InvalidArgument(where + ": has no output named '" + model.output_name + "'");
  r->item_dims_ = model.item_dims;
  r->item_elems_ = ElementCount(model.item_dims);
  r->classes_ = model.classes;
  *out = std::move(r);
  return Status::Ok();
}

Status OrtModelRunner::Run(const float* input, int64_t rows, float* output) {
  if (pinned_input_) {
    // Staged in page-locked memory so that the host-to-device copy is a fast DMA.
    const size_t bytes = static_cast<size_t>(rows * item_elems_) * sizeof(float);
    CS_RETURN_IF_ERROR(pinned_input_->Reserve(bytes));
    std::memcpy(pinned_input_->data(), input, bytes);
    input = static_cast<const float*>(pinned_input_->data());
  }
  return session_->RunFloatRows(input, rows, item_dims_, output_index_, output, classes_);
}

RunnerFactory MakeOrtRunnerFactory(std::shared_ptr<OrtRuntime> runtime, std::vector<OrtModelSpec> models,
                                   std::vector<OrtLaneSpec> lanes) {
  // Per-lane CUDA resources, created on first use; the factory runs on one thread (Engine::Create).
  auto cuda_lanes = std::make_shared<std::vector<std::shared_ptr<CudaLaneResources>>>(lanes.size());
  return [runtime = std::move(runtime), models = std::move(models), lanes = std::move(lanes), cuda_lanes](
             int model_index, int lane_index, std::unique_ptr<ModelRunner>* out) -> Status {
    if (model_index < 0 || static_cast<size_t>(model_index) >= models.size() || lane_index < 0 ||
        static_cast<size_t>(lane_index) >= lanes.size()) {
      return Status::InvalidArgument("runner factory: model or lane index out of range");
    }
    const OrtLaneSpec& lane = lanes[lane_index];
    std::shared_ptr<CudaLaneResources>& cuda_lane = (*cuda_lanes)[lane_index];
    if (lane.provider == ExecutionProvider::kCuda && !cuda_lane) {
      if (!runtime->HasProvider("CUDAExecutionProvider")) {
        return Status::Unavailable("lanes[" + std::to_string(lane_index) +
                                   "]: execution provider 'cuda' is not available in ONNX Runtime " +
                                   runtime->version() + " loaded from '" + runtime->library_path() +
                                   "'; point CASCADESERVE_ORT_LIBRARY at a build with CUDA");
      }
      auto resources = std::make_shared<CudaLaneResources>();
      Status st = CudaRuntime::Open(&resources->cuda);
      if (st.ok()) st = resources->cuda->CreateStream(&resources->stream);
      if (!st.ok()) {
        return Status::Unavailable("lanes[" + std::to_string(lane_index) + "] (cuda): " + st.message() +
                                   "; a CUDA lane needs CUDA, a GPU and an ONNX Runtime build with the "
                                   "CUDA provider (CASCADESERVE_ORT_LIBRARY)");
      }
      cuda_lane = std::move(resources);
    }
    std::unique_ptr<OrtModelRunner> runner;
    CS_RETURN_IF_ERROR(OrtModelRunner::Create(runtime, models[model_index], lane, cuda_lane, &runner));
    *out = std::move(runner);
    return Status::Ok();
  };
}

}  // namespace cascadeserve
