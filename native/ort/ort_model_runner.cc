#include "ort/ort_model_runner.h"

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
                              const OrtLaneSpec& lane, std::unique_ptr<OrtModelRunner>* out) {
  SessionOptions options;
  options.intra_op_threads = lane.intra_op_threads;
  options.graph_optimization_level = lane.graph_optimization_level;
  options.provider = lane.provider;
  options.cuda_device_id = lane.device_id;
  options.cuda_compute_stream = lane.cuda_compute_stream;
  std::unique_ptr<OrtModelRunner> r(new OrtModelRunner());
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
  r->classes_ = model.classes;
  *out = std::move(r);
  return Status::Ok();
}

Status OrtModelRunner::Run(const float* input, int64_t rows, float* output) {
  return session_->RunFloatRows(input, rows, item_dims_, output_index_, output, classes_);
}

RunnerFactory MakeOrtRunnerFactory(std::shared_ptr<OrtRuntime> runtime, std::vector<OrtModelSpec> models,
                                   std::vector<OrtLaneSpec> lanes) {
  return [runtime = std::move(runtime), models = std::move(models), lanes = std::move(lanes)](
             int model_index, int lane_index, std::unique_ptr<ModelRunner>* out) -> Status {
    if (model_index < 0 || static_cast<size_t>(model_index) >= models.size() || lane_index < 0 ||
        static_cast<size_t>(lane_index) >= lanes.size()) {
      return Status::InvalidArgument("runner factory: model or lane index out of range");
    }
    std::unique_ptr<OrtModelRunner> runner;
    CS_RETURN_IF_ERROR(OrtModelRunner::Create(runtime, models[model_index], lanes[lane_index], &runner));
    *out = std::move(runner);
    return Status::Ok();
  };
}

}  // namespace cascadeserve
