#include "ort/ort_model_runner.h"

#include <algorithm>
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
  CS_RETURN_IF_ERROR(OrtSession::Create(std::move(runtime), model.path, options, &r->session_));

  const std::string where = "model '" + model.name + "' (" + model.path + ")";
  const auto& inputs = r->session_->inputs();
  std::string model_inputs;
  for (const auto& i : inputs) model_inputs += (model_inputs.empty() ? "" : ", ") + i.name;
  if (inputs.size() != model.inputs.size()) {
    std::string want;
    for (const auto& i : model.inputs) want += (want.empty() ? "" : ", ") + i.name;
    return Status::InvalidArgument(where + ": expected " + std::to_string(model.inputs.size()) + " input(s) (" + want +
                                   "), the model has: " + model_inputs);
  }
  for (const OrtInputSpec& spec : model.inputs) {
    size_t index = 0;
    while (index < inputs.size() && inputs[index].name != spec.name) ++index;
    if (index == inputs.size()) {
      return Status::InvalidArgument(where + ": has no input named '" + spec.name + "'; the model has: " + model_inputs);
    }
    const TensorInfo& info = inputs[index];
    bool dims_ok = info.shape.size() == spec.item_dims.size() + 1;
    for (size_t a = 0; dims_ok && a < spec.item_dims.size(); ++a) {
      const int64_t mine = spec.item_dims[a];
      const int64_t theirs = info.shape[a + 1];
      dims_ok = mine == -1 ? theirs == -1 : (theirs == -1 || theirs == mine);
    }
    if (static_cast<int>(info.type) != static_cast<int>(spec.type) || !dims_ok) {
      return Status::InvalidArgument(where + ": input '" + spec.name + "' is " + ElementTypeName(info.type) + " " +
                                     DimsText(info.shape) + ", expected " +
                                     ElementTypeName(static_cast<ElementType>(spec.type)) + " [N]+" + DimsText(spec.item_dims) +
                                     " (-1: a dynamic axis)");
    }
    r->session_input_.push_back(static_cast<int>(index));
    const bool fixed = std::find(spec.item_dims.begin(), spec.item_dims.end(), -1) == spec.item_dims.end();
    r->fixed_item_dims_.push_back(fixed ? spec.item_dims : std::vector<int64_t>());
  }
  const auto& outputs = r->session_->outputs();
  bool found = false;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].name != model.output_name) continue;
    found = true;
    r->output_index_ = i;
    const bool fp32 = outputs[i].type == ElementType::kFloat32;
    if ((!fp32 && outputs[i].type != ElementType::kFloat16) || !DimsMatch(outputs[i].shape, {model.classes})) {
      return Status::InvalidArgument(where + ": output '" + model.output_name + "' is " +
                                     ElementTypeName(outputs[i].type) + " " + DimsText(outputs[i].shape) +
                                     ", expected float32 or float16 [N," + std::to_string(model.classes) + "]");
    }
    r->output_fp16_ = !fp32;
  }
  if (!found) return Status::InvalidArgument(where + ": has no output named '" + model.output_name + "'");
  const OrtInputSpec& first = model.inputs[0];
  bool fixed = true;
  for (int64_t d : first.item_dims) fixed = fixed && d > 0;
  r->float_rows_ = model.inputs.size() == 1 && first.type == TensorElement::kFloat32 && fixed && !r->output_fp16_;
  r->item_dims_ = first.item_dims;
  r->classes_ = model.classes;
  if (cuda_lane && r->float_rows_) r->pinned_input_ = std::make_unique<PinnedBuffer>(cuda_lane->cuda);
  *out = std::move(r);
  return Status::Ok();
}

Status OrtModelRunner::RunFloatRows(const BatchTensor& input, int64_t rows, float* output) {
  const float* data = static_cast<const float*>(input.data);
  if (pinned_input_) {
    // Staged in page-locked memory so that the host-to-device copy is a fast DMA.
    CS_RETURN_IF_ERROR(pinned_input_->Reserve(input.byte_length));
    std::memcpy(pinned_input_->data(), data, input.byte_length);
    data = static_cast<const float*>(pinned_input_->data());
  }
  return session_->RunFloatRows(data, rows, item_dims_, output_index_, output, classes_);
}

Status OrtModelRunner::Run(const BatchTensor* inputs, int input_count, int64_t rows, float* output) {
  if (input_count != static_cast<int>(session_input_.size())) {
    return Status::InvalidArgument("the model takes " + std::to_string(session_input_.size()) + " inputs, got " +
                                   std::to_string(input_count));
  }
  if (float_rows_) return RunFloatRows(inputs[0], rows, output);
  input_views_.resize(static_cast<size_t>(input_count));
  for (int k = 0; k < input_count; ++k) {
    TensorView& view = input_views_[k];
    view.index = session_input_[k];
    view.type = static_cast<ElementType>(inputs[k].type);
    // A fixed-shape input takes the model's own item shape (same elements, e.g. [784] or
    // [1,28,28]); a dynamic one the batch's, whose dynamic axis is the batch's length.
    const std::vector<int64_t>& own = fixed_item_dims_[k];
    if (own.empty()) {
      view.dims.assign(inputs[k].dims, inputs[k].dims + inputs[k].rank);
    } else {
      view.dims.assign(1, rows);
      view.dims.insert(view.dims.end(), own.begin(), own.end());
    }
    view.data = inputs[k].data;
    view.byte_length = inputs[k].byte_length;
  }
  const size_t out_elems = static_cast<size_t>(rows * classes_);
  output_views_.resize(1);
  TensorView& out = output_views_[0];
  out.index = static_cast<int>(output_index_);
  out.dims.assign({rows, classes_});
  if (output_fp16_) {
    if (half_output_.size() < out_elems) half_output_.resize(out_elems);
    out.type = ElementType::kFloat16;
    out.data = half_output_.data();
    out.byte_length = out_elems * sizeof(uint16_t);
  } else {
    out.type = ElementType::kFloat32;
    out.data = output;
    out.byte_length = out_elems * sizeof(float);
  }
  CS_RETURN_IF_ERROR(session_->RunInto(input_views_, output_views_));
  if (output_fp16_) {
    for (size_t i = 0; i < out_elems; ++i) output[i] = HalfBitsToFloat(half_output_[i]);
  }
  return Status::Ok();
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
