#include "ort/ort_session.h"

#include <chrono>
#include <cstring>

namespace cascadeserve {

namespace {

// Releases an ONNX Runtime object at scope exit.
template <typename T>
class OrtHandle {
 public:
  explicit OrtHandle(void (*release)(T*)) : release_(release) {}
  ~OrtHandle() {
    if (ptr_ != nullptr) release_(ptr_);
  }
  T** out() { return &ptr_; }
  T* get() const { return ptr_; }

 private:
  void (*release_)(T*);
  T* ptr_ = nullptr;
};

std::string ShapeText(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

Status OrtSession::Create(std::shared_ptr<OrtRuntime> runtime, const std::string& model_path,
                          const SessionOptions& options, std::unique_ptr<OrtSession>* out) {
  const OrtApi& api = runtime->api();
  std::unique_ptr<OrtSession> s(new OrtSession());
  s->runtime_ = runtime;

  if (options.intra_op_threads < 1) {
    return Status::InvalidArgument("intraOpThreads must be at least 1, got " +
                                   std::to_string(options.intra_op_threads));
  }
  GraphOptimizationLevel level;
  switch (options.graph_optimization_level) {
    case 0: level = ORT_DISABLE_ALL; break;
    case 1: level = ORT_ENABLE_BASIC; break;
    case 2: level = ORT_ENABLE_EXTENDED; break;
    case 99: level = ORT_ENABLE_ALL; break;
    default:
      return Status::InvalidArgument("graphOptimizationLevel must be 0, 1, 2 or 99, got " +
                                     std::to_string(options.graph_optimization_level));
  }

  OrtHandle<OrtSessionOptions> so(api.ReleaseSessionOptions);
  CS_RETURN_IF_ERROR(runtime->Check(api.CreateSessionOptions(so.out()), "CreateSessionOptions"));
  CS_RETURN_IF_ERROR(runtime->Check(api.SetIntraOpNumThreads(so.get(), options.intra_op_threads),
                                    "SetIntraOpNumThreads"));
  CS_RETURN_IF_ERROR(runtime->Check(api.SetInterOpNumThreads(so.get(), 1), "SetInterOpNumThreads"));
  CS_RETURN_IF_ERROR(runtime->Check(api.SetSessionExecutionMode(so.get(), ORT_SEQUENTIAL),
                                    "SetSessionExecutionMode"));
  CS_RETURN_IF_ERROR(runtime->Check(api.SetSessionGraphOptimizationLevel(so.get(), level),
                                    "SetSessionGraphOptimizationLevel"));
  CS_RETURN_IF_ERROR(runtime->Check(api.SetSessionLogSeverityLevel(so.get(), ORT_LOGGING_LEVEL_FATAL),
                                    "SetSessionLogSeverityLevel"));
  // Spinning pool threads would steal the cores that the other lanes run on.
  CS_RETURN_IF_ERROR(runtime->Check(
      api.AddSessionConfigEntry(so.get(), "session.intra_op.allow_spinning", "0"),
      "AddSessionConfigEntry"));

  if (options.provider == ExecutionProvider::kCuda) {
    if (!runtime->HasProvider("CUDAExecutionProvider")) {
      std::string have;
      for (const auto& p : runtime->available_providers()) have += (have.empty() ? "" : ", ") + p;
      return Status::Unavailable("execution provider 'cuda' is not available in ONNX Runtime " +
                                 runtime->version() + " loaded from '" + runtime->library_path() +
                                 "' (it offers: " + have +
                                 "); point CASCADESERVE_ORT_LIBRARY at a build with CUDA");
    }
    OrtCUDAProviderOptionsV2* cuda = nullptr;
    Status st = runtime->Check(api.CreateCUDAProviderOptions(&cuda), "CreateCUDAProviderOptions");
    if (st.ok()) {
      std::string device = std::to_string(options.cuda_device_id);
      const char* keys[] = {"device_id"};
      const char* values[] = {device.c_str()};
      st = runtime->Check(api.UpdateCUDAProviderOptions(cuda, keys, values, 1), "UpdateCUDAProviderOptions");
    }
    if (st.ok() && options.cuda_compute_stream != nullptr) {
      st = runtime->Check(api.UpdateCUDAProviderOptionsWithValue(cuda, "user_compute_stream",
                                                                 options.cuda_compute_stream),
                          "UpdateCUDAProviderOptionsWithValue(user_compute_stream)");
    }
    if (st.ok()) {
      st = runtime->Check(api.SessionOptionsAppendExecutionProvider_CUDA_V2(so.get(), cuda),
                          "SessionOptionsAppendExecutionProvider_CUDA_V2");
    }
    if (cuda != nullptr) api.ReleaseCUDAProviderOptions(cuda);
    if (!st.ok()) {
      // The library may list CUDA yet lack its provider libraries, CUDA or a GPU.
      return Status::Unavailable("execution provider 'cuda' could not be enabled in ONNX Runtime " +
                                 runtime->version() + " loaded from '" + runtime->library_path() +
                                 "' (its CUDA provider library, CUDA or a GPU is missing; point "
                                 "CASCADESERVE_ORT_LIBRARY at a CUDA build on a GPU machine): " +
                                 st.message());
    }
  }

  CS_RETURN_IF_ERROR(runtime->Check(
      api.CreateSession(runtime->env(), model_path.c_str(), so.get(), &s->session_),
      "cannot load model '" + model_path + "'"));
  CS_RETURN_IF_ERROR(runtime->Check(
      api.CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &s->cpu_memory_),
      "CreateCpuMemoryInfo"));
  CS_RETURN_IF_ERROR(s->ReadIoInfo());
  *out = std::move(s);
  return Status::Ok();
}

OrtSession::~OrtSession() {
  const OrtApi& api = runtime_->api();
  if (cpu_memory_ != nullptr) api.ReleaseMemoryInfo(cpu_memory_);
  if (session_ != nullptr) api.ReleaseSession(session_);
}

Status OrtSession::ReadIoInfo() {
  const OrtApi& api = runtime_->api();
  OrtAllocator* allocator = nullptr;
  CS_RETURN_IF_ERROR(runtime_->Check(api.GetAllocatorWithDefaultOptions(&allocator),
                                     "GetAllocatorWithDefaultOptions"));
  for (int pass = 0; pass < 2; ++pass) {
    bool is_input = pass == 0;
    size_t count = 0;
    CS_RETURN_IF_ERROR(runtime_->Check(is_input ? api.SessionGetInputCount(session_, &count)
                                                : api.SessionGetOutputCount(session_, &count),
                                       "SessionGetCount"));
    auto& infos = is_input ? inputs_ : outputs_;
    for (size_t i = 0; i < count; ++i) {
      TensorInfo info;
      char* name = nullptr;
      CS_RETURN_IF_ERROR(runtime_->Check(
          is_input ? api.SessionGetInputName(session_, i, allocator, &name)
                   : api.SessionGetOutputName(session_, i, allocator, &name),
          "SessionGetName"));
      info.name = name;
      allocator->Free(allocator, name);

      OrtHandle<OrtTypeInfo> type_info(api.ReleaseTypeInfo);
      CS_RETURN_IF_ERROR(runtime_->Check(
          is_input ? api.SessionGetInputTypeInfo(session_, i, type_info.out())
                   : api.SessionGetOutputTypeInfo(session_, i, type_info.out()),
          "SessionGetTypeInfo"));
      const OrtTensorTypeAndShapeInfo* tensor_info = nullptr;
      CS_RETURN_IF_ERROR(runtime_->Check(api.CastTypeInfoToTensorInfo(type_info.get(), &tensor_info),
                                         "CastTypeInfoToTensorInfo"));
      if (tensor_info == nullptr) {
        return Status::InvalidArgument((is_input ? "input '" : "output '") + info.name +
                                       "' is not a tensor; only tensor inputs and outputs are supported");
      }
      ONNXTensorElementDataType et;
      CS_RETURN_IF_ERROR(runtime_->Check(api.GetTensorElementType(tensor_info, &et), "GetTensorElementType"));
      info.type = static_cast<ElementType>(et);
      size_t rank = 0;
      CS_RETURN_IF_ERROR(runtime_->Check(api.GetDimensionsCount(tensor_info, &rank), "GetDimensionsCount"));
      info.shape.resize(rank);
      CS_RETURN_IF_ERROR(runtime_->Check(api.GetDimensions(tensor_info, info.shape.data(), rank), "GetDimensions"));
      for (auto& d : info.shape) {
        if (d < 0) d = -1;
      }
      infos.push_back(std::move(info));
    }
  }
  for (const auto& i : inputs_) input_name_ptrs_.push_back(i.name.c_str());
  for (const auto& o : outputs_) output_name_ptrs_.push_back(o.name.c_str());
  return Status::Ok();
}

Status OrtSession::Run(const std::vector<TensorView>& inputs, const std::vector<int>& output_indices,
                       std::vector<OwnedTensor>* outputs) {
  const OrtApi& api = runtime_->api();
  const size_t n_in = inputs.size();
  if (n_in != inputs_.size()) {
    return Status::InvalidArgument("the model takes " + std::to_string(inputs_.size()) + " inputs, got " +
                                   std::to_string(n_in));
  }
  // Validated in TypeScript; these guards only keep bad calls from reaching ONNX Runtime.
  for (const auto& in : inputs) {
    if (in.index < 0 || static_cast<size_t>(in.index) >= inputs_.size()) {
      return Status::InvalidArgument("input index " + std::to_string(in.index) + " out of range");
    }
    size_t elem = ElementSize(in.type);
    if (elem == 0) {
      return Status::InvalidArgument("input '" + inputs_[in.index].name + "': element type " +
                                     ElementTypeName(in.type) + " is not supported");
    }
    for (int64_t d : in.dims) {
      if (d < 0) return Status::InvalidArgument("input '" + inputs_[in.index].name + "': negative dimension in " + ShapeText(in.dims));
    }
    if (static_cast<size_t>(ElementCount(in.dims)) * elem != in.byte_length) {
      return Status::InvalidArgument("input '" + inputs_[in.index].name + "': dims " + ShapeText(in.dims) + " need " +
                                     std::to_string(ElementCount(in.dims) * elem) + " bytes of " +
                                     ElementTypeName(in.type) + ", got " + std::to_string(in.byte_length));
    }
  }

  // Small fixed arrays: most models have one or two inputs and outputs, and this path runs
  // once per call.
  constexpr size_t kInline = 8;
  const char* in_names_inline[kInline];
  OrtValue* in_values_inline[kInline] = {};
  std::vector<const char*> in_names_heap;
  std::vector<OrtValue*> in_values_heap;
  const char** in_names = in_names_inline;
  OrtValue** in_values = in_values_inline;
  if (n_in > kInline) {
    in_names_heap.resize(n_in);
    in_values_heap.assign(n_in, nullptr);
    in_names = in_names_heap.data();
    in_values = in_values_heap.data();
  }
  auto release_inputs = [&] {
    for (size_t i = 0; i < n_in; ++i) {
      if (in_values[i] != nullptr) api.ReleaseValue(in_values[i]);
    }
  };
  for (size_t i = 0; i < n_in; ++i) {
    const TensorView& in = inputs[i];
    in_names[i] = input_name_ptrs_[in.index];
    Status st = runtime_->Check(
        api.CreateTensorWithDataAsOrtValue(cpu_memory_, const_cast<void*>(in.data), in.byte_length,
                                           in.dims.data(), in.dims.size(),
                                           static_cast<ONNXTensorElementDataType>(in.type), &in_values[i]),
        "input '" + inputs_[in.index].name + "'");
    if (!st.ok()) {
      release_inputs();
      return st;
    }
  }

  const size_t n_out = output_indices.empty() ? outputs_.size() : output_indices.size();
  std::vector<const char*> out_names(n_out);
  std::vector<int> out_index(n_out);
  for (size_t i = 0; i < n_out; ++i) {
    int idx = output_indices.empty() ? static_cast<int>(i) : output_indices[i];
    if (idx < 0 || static_cast<size_t>(idx) >= outputs_.size()) {
      release_inputs();
      return Status::InvalidArgument("output index " + std::to_string(idx) + " out of range");
    }
    out_index[i] = idx;
    out_names[i] = output_name_ptrs_[idx];
  }
  std::vector<OrtValue*> out_values(n_out, nullptr);

  Status st = runtime_->Check(
      api.Run(session_, nullptr, in_names, in_values, n_in, out_names.data(), n_out, out_values.data()), "");
  release_inputs();
  if (!st.ok()) return st;

  outputs->clear();
  outputs->reserve(n_out);
  const OrtApi* api_ptr = &api;
  for (size_t i = 0; i < n_out; ++i) {
    OwnedTensor t;
    t.index = out_index[i];
    // Ownership moves into `owner` first, so every value is released even on an error below.
    t.owner = std::shared_ptr<void>(out_values[i], [api_ptr](void* v) { api_ptr->ReleaseValue(static_cast<OrtValue*>(v)); });
    outputs->push_back(std::move(t));
  }
  for (size_t i = 0; i < n_out; ++i) {
    OwnedTensor& t = (*outputs)[i];
    const std::string& name = outputs_[t.index].name;
    OrtHandle<OrtTensorTypeAndShapeInfo> info(api.ReleaseTensorTypeAndShapeInfo);
    CS_RETURN_IF_ERROR(runtime_->Check(api.GetTensorTypeAndShape(out_values[i], info.out()),
                                       "output '" + name + "' is not a tensor"));
    ONNXTensorElementDataType et;
    CS_RETURN_IF_ERROR(runtime_->Check(api.GetTensorElementType(info.get(), &et), "GetTensorElementType"));
    t.type = static_cast<ElementType>(et);
    size_t rank = 0;
    CS_RETURN_IF_ERROR(runtime_->Check(api.GetDimensionsCount(info.get(), &rank), "GetDimensionsCount"));
    t.dims.resize(rank);
    CS_RETURN_IF_ERROR(runtime_->Check(api.GetDimensions(info.get(), t.dims.data(), rank), "GetDimensions"));
    size_t elem = ElementSize(t.type);
    if (elem == 0) {
      return Status::InvalidArgument(std::string("output '") + name + "': element type " +
                                     ElementTypeName(t.type) + " is not supported");
    }
    t.byte_length = static_cast<size_t>(ElementCount(t.dims)) * elem;
    CS_RETURN_IF_ERROR(runtime_->Check(api.GetTensorMutableData(out_values[i], &t.data), "GetTensorMutableData"));
  }
  return Status::Ok();
}

Status OrtSession::RunInto(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) {
  const OrtApi& api = runtime_->api();
  const size_t n_in = inputs.size();
  const size_t n_out = outputs.size();
  if (n_in != inputs_.size()) {
    return Status::InvalidArgument("the model takes " + std::to_string(inputs_.size()) + " inputs, got " +
                                   std::to_string(n_in));
  }
  std::vector<const char*> names(n_in + n_out);
  std::vector<OrtValue*> values(n_in + n_out, nullptr);
  auto release_all = [&] {
    for (OrtValue* v : values) {
      if (v != nullptr) api.ReleaseValue(v);
    }
  };
  for (size_t i = 0; i < n_in + n_out; ++i) {
    const bool is_input = i < n_in;
    const TensorView& t = is_input ? inputs[i] : outputs[i - n_in];
    const auto& infos = is_input ? inputs_ : outputs_;
    const auto& name_ptrs = is_input ? input_name_ptrs_ : output_name_ptrs_;
    if (t.index < 0 || static_cast<size_t>(t.index) >= infos.size() || ElementSize(t.type) == 0 ||
        static_cast<size_t>(ElementCount(t.dims)) * ElementSize(t.type) != t.byte_length) {
      release_all();
      return Status::InvalidArgument(std::string(is_input ? "input" : "output") + " " + std::to_string(i) +
                                     ": index, type or byte length is inconsistent");
    }
    names[i] = name_ptrs[t.index];
    Status st = runtime_->Check(
        api.CreateTensorWithDataAsOrtValue(cpu_memory_, const_cast<void*>(t.data), t.byte_length, t.dims.data(),
                                           t.dims.size(), static_cast<ONNXTensorElementDataType>(t.type), &values[i]),
        std::string(is_input ? "input '" : "output '") + infos[t.index].name + "'");
    if (!st.ok()) {
      release_all();
      return st;
    }
  }
  Status st = runtime_->Check(api.Run(session_, nullptr, names.data(), values.data(), n_in, names.data() + n_in,
                                      n_out, values.data() + n_in),
                              "");
  release_all();
  return st;
}

Status OrtSession::RunFloatRows(const float* input, int64_t rows, const std::vector<int64_t>& item_dims,
                                size_t output_index, float* output, int64_t output_row_elems) {
  const OrtApi& api = runtime_->api();
  // Small fixed-capacity shape buffers keep this path free of heap allocation.
  int64_t in_dims[8];
  size_t in_rank = item_dims.size() + 1;
  if (in_rank > 8) return Status::InvalidArgument("input rank above 8 is not supported");
  in_dims[0] = rows;
  int64_t item_elems = 1;
  for (size_t i = 0; i < item_dims.size(); ++i) {
    in_dims[i + 1] = item_dims[i];
    item_elems *= item_dims[i];
  }
  int64_t out_dims[2] = {rows, output_row_elems};

  OrtValue* in_value = nullptr;
  OrtValue* out_value = nullptr;
  CS_RETURN_IF_ERROR(runtime_->Check(
      api.CreateTensorWithDataAsOrtValue(cpu_memory_, const_cast<float*>(input),
                                         static_cast<size_t>(rows * item_elems) * sizeof(float), in_dims,
                                         in_rank, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &in_value),
      "input"));
  Status st = runtime_->Check(
      api.CreateTensorWithDataAsOrtValue(cpu_memory_, output,
                                         static_cast<size_t>(rows * output_row_elems) * sizeof(float),
                                         out_dims, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &out_value),
      "output");
  if (st.ok()) {
    const char* out_name = output_name_ptrs_[output_index];
    st = runtime_->Check(api.Run(session_, nullptr, input_name_ptrs_.data(), &in_value, 1, &out_name, 1,
                                 &out_value),
                         "");
  }
  api.ReleaseValue(in_value);
  if (out_value != nullptr) api.ReleaseValue(out_value);
  return st;
}

}  // namespace cascadeserve

namespace cascadeserve {

Status OrtSession::TimeRawRuns(const std::vector<TensorView>& inputs, int iterations, double* us_per_run) {
  const OrtApi& api = runtime_->api();
  std::vector<OrtValue*> in_values(inputs.size(), nullptr);
  std::vector<const char*> in_names;
  Status st;
  for (size_t i = 0; i < inputs.size() && st.ok(); ++i) {
    if (inputs[i].index < 0 || static_cast<size_t>(inputs[i].index) >= inputs_.size()) {
      st = Status::InvalidArgument("input index out of range");
      break;
    }
    in_names.push_back(input_name_ptrs_[inputs[i].index]);
    st = runtime_->Check(api.CreateTensorWithDataAsOrtValue(
                             cpu_memory_, const_cast<void*>(inputs[i].data), inputs[i].byte_length,
                             inputs[i].dims.data(), inputs[i].dims.size(),
                             static_cast<ONNXTensorElementDataType>(inputs[i].type), &in_values[i]),
                         "input");
  }
  std::vector<OrtValue*> out_values(outputs_.size(), nullptr);
  auto start = std::chrono::steady_clock::now();
  for (int it = 0; it < iterations && st.ok(); ++it) {
    st = runtime_->Check(api.Run(session_, nullptr, in_names.data(), in_values.data(), in_values.size(),
                                 output_name_ptrs_.data(), output_name_ptrs_.size(), out_values.data()),
                         "");
    for (auto& v : out_values) {
      if (v != nullptr) api.ReleaseValue(v);
      v = nullptr;
    }
  }
  auto elapsed = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  for (OrtValue* v : in_values) {
    if (v != nullptr) api.ReleaseValue(v);
  }
  *us_per_run = iterations > 0 ? elapsed / iterations : 0;
  return st;
}

}  // namespace cascadeserve
