#include "engine_binding.h"

#include <cstring>
#include <thread>

#include "addon.h"
#include "engine/certainty.h"
#include "engine/deadline.h"
#include "errors.h"
#include "ort/ort_model_runner.h"
#include "session_binding.h"

namespace cascadeserve::bindings {

namespace {

// Typed-array argument i of the wanted element type: its first element and element count, from
// one napi_get_typedarray_info (a check by node-addon-api's wrappers and the wrapper itself
// cost one each, per argument, on every submit). False when it is not that typed array.
template <typename T>
bool TypedArg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type want, T** data, size_t* length) {
  if (i >= info.Length()) return false;
  napi_typedarray_type type;
  void* first = nullptr;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(info.Env(), info[i], &type, length, &first, &buffer, &offset) != napi_ok || type != want) {
    return false;
  }
  *data = static_cast<T*>(first);  // N-API's data already points at the first element
  return true;
}

// The per-item columns both submits take besides their inputs: tickets at argument 0, then
// budgetsUs, priorities, detail and accepted at arguments `from` to `from + 3`.
struct ItemColumns {
  double* tickets = nullptr;
  double* budgets = nullptr;
  int32_t* priorities = nullptr;
  uint8_t* detail = nullptr;
  uint8_t* accepted = nullptr;
  size_t n = 0, budget_count = 0, priority_count = 0, detail_count = 0, accepted_count = 0;

  // False when an argument is not the typed array it should be.
  bool Read(const Napi::CallbackInfo& info, size_t from) {
    return TypedArg(info, 0, napi_float64_array, &tickets, &n) &&
           TypedArg(info, from, napi_float64_array, &budgets, &budget_count) &&
           TypedArg(info, from + 1, napi_int32_array, &priorities, &priority_count) &&
           TypedArg(info, from + 2, napi_uint8_array, &detail, &detail_count) &&
           TypedArg(info, from + 3, napi_uint8_array, &accepted, &accepted_count);
  }
  bool SameLength() const {
    return budget_count == n && priority_count == n && detail_count == n && accepted_count == n;
  }
  // The engine's ticket ids and absolute deadlines; false when a ticket is not an integer from
  // 0 to 2^53 (the facade's counter; the guard keeps the conversion defined for NaN or -1).
  bool IdsAndDeadlines(std::vector<uint64_t>* ids, std::vector<int64_t>* deadlines) const {
    ids->resize(n);
    for (size_t i = 0; i < n; ++i) {
      if (!(tickets[i] >= 0 && tickets[i] <= 9007199254740992.0)) return false;
      (*ids)[i] = static_cast<uint64_t>(tickets[i]);
    }
    deadlines->resize(n);
    DeadlinesFromBudgetsUs(budgets, static_cast<int64_t>(n), Engine::NowUs(), deadlines->data());
    return true;
  }
};

// Plain reads of objects the TypeScript facade has validated (ts/engine/config.ts).
int32_t I32(const Napi::Object& o, const char* key, int32_t fallback = 0) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}
double F64(const Napi::Object& o, const char* key, double fallback = 0) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}
std::string Str(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}
std::vector<int64_t> I64s(const Napi::Object& o, const char* key) {
  std::vector<int64_t> out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).As<Napi::Number>().Int64Value());
  return out;
}

GearConfig ReadGear(const Napi::Object& g) {
  GearConfig gear;
  gear.id = I32(g, "id");
  Napi::Array stages = g.Get("stages").As<Napi::Array>();
  for (uint32_t i = 0; i < stages.Length(); ++i) {
    Napi::Object s = stages.Get(i).As<Napi::Object>();
    GearStage st;
    st.model = I32(s, "model");
    st.threshold = static_cast<float>(F64(s, "threshold"));
    st.measure = static_cast<CertaintyMeasure>(I32(s, "measure"));
    st.max_batch = I32(s, "maxBatch", 1);
    st.max_queue_delay_us = SaturatingInt64FromDouble(F64(s, "maxQueueDelayUs"));
    Napi::Value w = s.Get("laneWeights");
    if (w.IsArray()) {
      Napi::Array a = w.As<Napi::Array>();
      for (uint32_t k = 0; k < a.Length(); ++k) st.lane_weights.push_back(a.Get(k).As<Napi::Number>().DoubleValue());
    }
    gear.stages.push_back(std::move(st));
  }
  return gear;
}

struct EngineBlueprint {
  EngineConfig config;
  GearConfig gear;
  std::vector<OrtModelSpec> models;
  std::vector<OrtLaneSpec> lanes;
};

EngineBlueprint ReadBlueprint(const Napi::Object& cfg, const Napi::Object& gear) {
  EngineBlueprint b;
  Napi::Array inputs = cfg.Get("inputs").As<Napi::Array>();
  for (uint32_t k = 0; k < inputs.Length(); ++k) {
    Napi::Object in = inputs.Get(k).As<Napi::Object>();
    InputSpec spec;
    spec.name = Str(in, "name");
    spec.type = static_cast<TensorElement>(I32(in, "type"));
    spec.item_dims = I64s(in, "itemDims");
    spec.pad_value = F64(in, "padValue");
    b.config.inputs.push_back(std::move(spec));
  }
  Napi::Array models = cfg.Get("models").As<Napi::Array>();
  for (uint32_t i = 0; i < models.Length(); ++i) {
    Napi::Object m = models.Get(i).As<Napi::Object>();
    OrtModelSpec spec;
    spec.name = Str(m, "name");
    spec.path = Str(m, "path");
    // inputIndices (validated in TypeScript): the engine input behind each of the model's own.
    Napi::Array own = m.Get("inputs").As<Napi::Array>();
    Napi::Value indices = m.Get("inputIndices");
    const bool mapped = indices.IsArray();
    ModelConfig mc;
    for (uint32_t k = 0; k < own.Length() && k < b.config.inputs.size(); ++k) {
      Napi::Object in = own.Get(k).As<Napi::Object>();
      const int index = mapped ? indices.As<Napi::Array>().Get(k).As<Napi::Number>().Int32Value() : static_cast<int>(k);
      if (index < 0 || static_cast<size_t>(index) >= b.config.inputs.size()) continue;  // refused by ValidateEngineConfig
      spec.inputs.push_back(OrtInputSpec{Str(in, "name"), b.config.inputs[index].type, I64s(in, "itemDims")});
      mc.input_indices.push_back(index);
    }
    spec.output_name = Str(m, "output");
    mc.name = spec.name;
    mc.output_elems = I32(m, "classes");
    mc.output_kind = static_cast<OutputKind>(I32(m, "outputKind"));
    spec.classes = ModelOutputColumns(mc.output_kind, mc.output_elems);  // what the model itself writes
    Napi::Value pad_invariant = m.Get("padInvariant");
    mc.pad_invariant = !pad_invariant.IsBoolean() || pad_invariant.As<Napi::Boolean>().Value();
    b.config.models.push_back(mc);
    b.models.push_back(std::move(spec));
  }
  Napi::Array lanes = cfg.Get("lanes").As<Napi::Array>();
  for (uint32_t i = 0; i < lanes.Length(); ++i) {
    Napi::Object l = lanes.Get(i).As<Napi::Object>();
    LaneConfig lc;
    OrtLaneSpec ls;
    bool cuda = Str(l, "kind") == "cuda";
    lc.kind = cuda ? LaneConfig::kCuda : LaneConfig::kCpu;
    lc.device_id = I32(l, "deviceId");
    ls.provider = cuda ? ExecutionProvider::kCuda : ExecutionProvider::kCpu;
    ls.device_id = lc.device_id;
    ls.intra_op_threads = I32(l, "intraOpThreads", 1);
    b.config.lanes.push_back(lc);
    b.lanes.push_back(ls);
  }
  Napi::Array placement = cfg.Get("placement").As<Napi::Array>();
  for (uint32_t i = 0; i < placement.Length(); ++i) {
    std::vector<int> hosts;
    Napi::Array a = placement.Get(i).As<Napi::Array>();
    for (uint32_t k = 0; k < a.Length(); ++k) hosts.push_back(a.Get(k).As<Napi::Number>().Int32Value());
    b.config.placement.push_back(std::move(hosts));
  }
  b.config.max_queue_size_per_stage = SaturatingInt64FromDouble(F64(cfg, "maxQueueSizePerStage", 1024));
  b.gear = ReadGear(gear);
  return b;
}

class CreateEngineWorker : public Napi::AsyncWorker {
 public:
  CreateEngineWorker(Napi::Env env, std::shared_ptr<OrtRuntime> runtime, EngineBlueprint blueprint,
                     Napi::Object handle)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), runtime_(std::move(runtime)),
        blueprint_(std::move(blueprint)), handle_(Napi::Persistent(handle)) {
    EngineHandle* h = EngineHandle::Unwrap(handle);
    pending_ = h->pending;
    tsfn_ = h->tsfn;
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    // The callback only queues results; delivery to JavaScript is one call per group.
    std::shared_ptr<PendingResults> pending = pending_;
    Napi::ThreadSafeFunction tsfn = tsfn_;
    CompletionFn on_complete = [pending, tsfn](std::vector<ItemResult>&& results, const std::string& message) mutable {
      bool schedule = false;
      {
        std::lock_guard<std::mutex> lock(pending->mu);
        if (pending->detached) return;
        for (auto& r : results) {
          pending->messages.push_back(r.status != StatusCode::kRuntimeError ? std::string()
                                      : !r.error_message.empty()              ? r.error_message
                                                                              : message);
          pending->items.push_back(std::move(r));
        }
        if (!pending->delivery_scheduled) {
          pending->delivery_scheduled = true;
          schedule = true;
        }
      }
      if (schedule) {
        tsfn.NonBlockingCall(pending.get(), [](Napi::Env env, Napi::Function cb, PendingResults* p) {
          EngineHandle::Deliver(env, cb, p);
        });
      }
    };
    status_ = Engine::Create(blueprint_.config, blueprint_.gear,
                             MakeOrtRunnerFactory(runtime_, blueprint_.models, blueprint_.lanes), on_complete,
                             &engine_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!CanRunJavaScript(env)) return;  // the environment is going away; the engine with it
    if (!status_.ok()) {
      deferred_.Reject(StatusToError(env, status_).Value());
      return;
    }
    Napi::Object handle = handle_.Value();
    EngineHandle::Unwrap(handle)->Adopt(std::move(engine_));
    deferred_.Resolve(handle);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<OrtRuntime> runtime_;
  EngineBlueprint blueprint_;
  Napi::ObjectReference handle_;
  std::shared_ptr<PendingResults> pending_;
  Napi::ThreadSafeFunction tsfn_;
  Status status_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace

// Converts the pending results into one row of numbers per item and calls onResults once:
// onResults(count, rows, outputOffset, outputs, certainties, errors). `rows` holds
// ResultRowField::kWidth doubles per item (engine_binding.h); the other four are undefined
// unless an item of the group has an output row, certainties or an error message. One
// ArrayBuffer for the common case instead of one per column: each is a separate allocation
// and garbage-collector object, and at one small batch per delivery they cost more than the
// results themselves.
void EngineHandle::Deliver(Napi::Env env, Napi::Function callback, PendingResults* p) {
  std::vector<ItemResult> items;
  std::vector<std::string> messages;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    items.swap(p->items);
    messages.swap(p->messages);
    p->delivery_scheduled = false;
  }
  if (env == nullptr || callback.IsEmpty() || items.empty() || !CanRunJavaScript(env)) return;
  const size_t n = items.size();
  constexpr size_t kWidth = static_cast<size_t>(ResultRowField::kWidth);
  // Each allocation is checked: a worker's termination (another thread's terminate()) may
  // begin during this call, and from then on N-API hands out empty arrays.
  Napi::Float64Array rows = Napi::Float64Array::New(env, n * kWidth);
  if (rows.IsEmpty()) return;
  double* row = rows.Data();
  size_t output_floats = 0;
  bool any_certainties = false;
  bool any_errors = false;
  for (size_t i = 0; i < n; ++i, row += kWidth) {
    const ItemResult& r = items[i];
    // Every field is exact in a double: tickets are below 2^53, the rest 32-bit or float.
    row[static_cast<size_t>(ResultRowField::kTicket)] = static_cast<double>(r.ticket);
    row[static_cast<size_t>(ResultRowField::kStatus)] = static_cast<double>(r.status);
    row[static_cast<size_t>(ResultRowField::kPredictedClass)] = r.predicted_class;
    row[static_cast<size_t>(ResultRowField::kCertainty)] = r.certainty;
    row[static_cast<size_t>(ResultRowField::kExitStage)] = r.exit_stage;
    row[static_cast<size_t>(ResultRowField::kModel)] = r.model;
    row[static_cast<size_t>(ResultRowField::kQueuedUs)] = static_cast<double>(r.queued_us);
    row[static_cast<size_t>(ResultRowField::kComputeUs)] = static_cast<double>(r.compute_us);
    output_floats += r.output.size();
    any_certainties = any_certainties || r.has_certainties;
    any_errors = any_errors || !messages[i].empty();
  }
  Napi::Value undefined = env.Undefined();
  Napi::Value output_offset_value = undefined;
  Napi::Value outputs_value = undefined;
  if (output_floats > 0) {
    Napi::Int32Array output_offset = Napi::Int32Array::New(env, n + 1);
    Napi::Float32Array outputs = Napi::Float32Array::New(env, output_floats);
    if (output_offset.IsEmpty() || outputs.IsEmpty()) return;
    size_t offset = 0;
    for (size_t i = 0; i < n; ++i) {
      const ItemResult& r = items[i];
      output_offset[i] = static_cast<int32_t>(offset);
      if (!r.output.empty()) std::memcpy(outputs.Data() + offset, r.output.data(), r.output.size() * sizeof(float));
      offset += r.output.size();
    }
    output_offset[n] = static_cast<int32_t>(offset);
    output_offset_value = output_offset;
    outputs_value = outputs;
  }
  // Every measure's certainty, kCertaintyMeasureCount per item, when an item of the group
  // asked for them (NaN for the others).
  Napi::Value certainties_value = undefined;
  if (any_certainties) {
    const size_t per_item = static_cast<size_t>(kCertaintyMeasureCount);
    Napi::Float64Array certainties = Napi::Float64Array::New(env, n * per_item);
    if (certainties.IsEmpty()) return;
    for (size_t i = 0; i < n; ++i) {
      for (size_t m = 0; m < per_item; ++m) certainties[i * per_item + m] = items[i].certainties[m];
    }
    certainties_value = certainties;
  }
  Napi::Value errors_value = undefined;
  if (any_errors) {
    Napi::Object errors = Napi::Object::New(env);
    for (size_t i = 0; i < n; ++i) {
      if (!messages[i].empty()) errors.Set(static_cast<uint32_t>(i), messages[i]);
    }
    errors_value = errors;
  }
  callback.Call({Napi::Number::New(env, static_cast<double>(n)), rows, output_offset_value, outputs_value,
                 certainties_value, errors_value});
}

Napi::Function EngineHandle::Define(Napi::Env env) {
  return DefineClass(env, "EngineHandle",
                     {InstanceMethod<&EngineHandle::Submit>("submit"),
                      InstanceMethod<&EngineHandle::SubmitTensors>("submitTensors"),
                      InstanceMethod<&EngineHandle::SetGear>("setGear"),
                      InstanceMethod<&EngineHandle::Stats>("stats"),
                      InstanceMethod<&EngineHandle::Pause>("pause"),
                      InstanceMethod<&EngineHandle::Resume>("resume"),
                      InstanceMethod<&EngineHandle::Close>("close"),
                      InstanceMethod<&EngineHandle::SetRef>("setRef"),
                      InstanceAccessor<&EngineHandle::ItemElems>("itemElems"),
                      // The guard's bound (engine/deadline.h), pinned to the facade's by a test.
                      StaticValue("maxBudgetUs", Napi::Number::New(env, kMaxBudgetUs))});
}

// new EngineHandle(onResults): the thread-safe function exists before the engine does, so
// that lanes can deliver from their first batch.
EngineHandle::EngineHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "EngineHandle(onResults): onResults must be a function").ThrowAsJavaScriptException();
    return;
  }
  tsfn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "cascadeserve-engine-results", 0, 1);
  // An idle engine must not keep the process alive; the facade refs it while requests are in flight.
  tsfn.Unref(env);
}

// Without close(): the engine stops and its results are dropped; the thread-safe function is
// left to the environment (releasing it here can race its teardown). It is unref'd while
// idle, so it never holds the process open.
EngineHandle::~EngineHandle() {
  {
    std::lock_guard<std::mutex> lock(pending->mu);
    pending->detached = true;
  }
  if (engine_) {
    engine_->Close();
    engine_.reset();
  }
}

void EngineHandle::CloseEngine() {
  if (engine_) {
    engine_->Close();  // cancellations go through the thread-safe function like any result
    engine_.reset();
  }
  if (!tsfn_released_ && tsfn) {
    tsfn.Release();  // queued deliveries still run before the function is finalized
    tsfn_released_ = true;
  }
}

// submit(tickets: Float64Array, inputs: Float32Array, budgetsUs: Float64Array,
//        priorities: Int32Array, detail: Uint8Array, accepted: Uint8Array) -> undefined
// accepted[i] is set to 1, or 0 when item i was refused (queue full); the caller's array, so
// that a submit allocates nothing on the JavaScript heap.
// detail[i]: ResultDetail flags (engine/engine_config.h): 1 = output row, 2 = certainties.
// budgetsUs[i] is the time left to item i in microseconds (Infinity = no deadline; 0 =
// already expired); native/engine/deadline.h turns it into an absolute deadline on the
// engine's clock (the facade has refused NaN, negative and too long budgets).
Napi::Value EngineHandle::Submit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_CLOSED_IF(!engine_, env);
  ItemColumns c;
  float* inputs = nullptr;
  size_t input_count = 0;
  CS_THROW_TYPE_IF(!c.Read(info, 2) || !TypedArg(info, 1, napi_float32_array, &inputs, &input_count), env,
                   "submit(tickets, inputs, budgetsUs, priorities, detail, accepted): expected Float64Array, "
                   "Float32Array, Float64Array, Int32Array, Uint8Array, Uint8Array");
  CS_THROW_TYPE_IF(!c.SameLength(), env,
                   "submit: tickets, budgetsUs, priorities, detail and accepted must have the same length");
  CS_THROW_TYPE_IF(engine_->item_elems() == 0, env, "submit: the engine takes typed inputs; use submitTensors");
  CS_THROW_TYPE_IF(input_count != c.n * static_cast<size_t>(engine_->item_elems()), env,
                   "submit: inputs must hold tickets.length * itemElems floats");
  std::vector<uint64_t> ids;
  std::vector<int64_t> deadlines;
  CS_THROW_TYPE_IF(!c.IdsAndDeadlines(&ids, &deadlines), env, "submit: tickets must be integers from 0 to 2^53");
  CS_THROW_IF_ERROR(env, engine_->Submit(static_cast<int64_t>(c.n), ids.data(), inputs, deadlines.data(),
                                         c.priorities, c.detail, c.accepted));
  return env.Undefined();
}

// submitTensors(tickets: Float64Array, tensors: TypedArray[], length: number, lengths: Int32Array,
//               budgetsUs: Float64Array, priorities: Int32Array, detail: Uint8Array,
//               accepted: Uint8Array) -> undefined
// tensors[k] feeds the engine's input k: tickets.length items, each padded to `length` on the
// dynamic axis (0 without one); lengths[i] is item i's own length (empty without a dynamic
// axis). The facade has checked every size, type and length (ts/engine/engine.ts); these are
// guards only.
Napi::Value EngineHandle::SubmitTensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_CLOSED_IF(!engine_, env);
  ItemColumns c;
  int32_t* lengths = nullptr;
  size_t length_count = 0;
  CS_THROW_TYPE_IF(!c.Read(info, 4) || !info[1].IsArray() || !info[2].IsNumber() ||
                       !TypedArg(info, 3, napi_int32_array, &lengths, &length_count),
                   env,
                   "submitTensors(tickets, tensors, length, lengths, budgetsUs, priorities, detail, accepted): "
                   "expected Float64Array, Array, number, Int32Array, Float64Array, Int32Array, Uint8Array, "
                   "Uint8Array");
  const size_t n = c.n;
  Napi::Array tensor_list = info[1].As<Napi::Array>();
  const double length_value = info[2].As<Napi::Number>().DoubleValue();
  const ItemLayout& layout = engine_->layout();
  CS_THROW_TYPE_IF(!c.SameLength(), env,
                   "submitTensors: tickets, budgetsUs, priorities, detail and accepted must have the same length");
  CS_THROW_TYPE_IF(!(length_value >= 0 && length_value <= 2147483647.0) || length_value != static_cast<int32_t>(length_value), env,
                   "submitTensors: length must be an integer from 0 to 2^31 - 1");
  const int32_t length = static_cast<int32_t>(length_value);
  CS_THROW_TYPE_IF(layout.dynamic ? length_count != n : length_count != 0, env,
                   "submitTensors: lengths must have one entry per item with a dynamic axis, none without");
  CS_THROW_TYPE_IF(tensor_list.Length() != layout.inputs.size(), env, "submitTensors: one tensor per engine input");
  std::vector<const void*> tensors(layout.inputs.size());
  for (uint32_t k = 0; k < tensor_list.Length(); ++k) {
    Napi::Value v = tensor_list.Get(k);
    CS_THROW_TYPE_IF(!v.IsTypedArray(), env, "submitTensors: tensors must be typed arrays");
    Napi::TypedArray a = v.As<Napi::TypedArray>();
    CS_THROW_TYPE_IF(a.ByteLength() != n * layout.inputs[k].ItemBytes(length), env,
                     "submitTensors: a tensor's size does not match tickets.length items at `length`");
    tensors[k] = static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  }
  std::vector<uint64_t> ids;
  std::vector<int64_t> deadlines;
  CS_THROW_TYPE_IF(!c.IdsAndDeadlines(&ids, &deadlines), env, "submitTensors: tickets must be integers from 0 to 2^53");
  CS_THROW_IF_ERROR(env, engine_->SubmitTensors(static_cast<int64_t>(n), ids.data(), tensors.data(),
                                                static_cast<int>(tensors.size()), length,
                                                layout.dynamic ? lengths : nullptr, deadlines.data(), c.priorities,
                                                c.detail, c.accepted));
  return env.Undefined();
}

Napi::Value EngineHandle::SetGear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_CLOSED_IF(!engine_, env);
  CS_THROW_TYPE_IF(info.Length() < 1 || !info[0].IsObject(), env, "setGear(gear): gear must be an object");
  CS_THROW_IF_ERROR(env, engine_->SetGear(ReadGear(info[0].As<Napi::Object>())));
  return env.Undefined();
}

Napi::Value EngineHandle::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_CLOSED_IF(!engine_, env);
  EngineStats s = engine_->Stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("gearId", s.gear_id);
  o.Set("gearSwitches", double(s.gear_switches));
  Napi::Array queues = Napi::Array::New(env, s.queues.size());
  for (size_t i = 0; i < s.queues.size(); ++i) {
    const auto& q = s.queues[i];
    Napi::Object x = Napi::Object::New(env);
    x.Set("model", q.model);
    x.Set("currentStage", q.current_stage);
    x.Set("queueLength", double(q.queue_length));
    x.Set("batches", double(q.batches));
    x.Set("items", double(q.items));
    x.Set("exits", double(q.exits));
    x.Set("timeouts", double(q.timeouts));
    x.Set("refusals", double(q.refusals));
    x.Set("failures", double(q.failures));
    x.Set("cancellations", double(q.cancellations));
    x.Set("itemPositions", double(q.item_positions));
    x.Set("paddedPositions", double(q.padded_positions));
    queues.Set(i, x);
  }
  o.Set("queues", queues);
  Napi::Array lanes = Napi::Array::New(env, s.lanes.size());
  for (size_t i = 0; i < s.lanes.size(); ++i) {
    Napi::Object x = Napi::Object::New(env);
    x.Set("busyUs", double(s.lanes[i].busy_us));
    x.Set("batches", double(s.lanes[i].batches));
    x.Set("items", double(s.lanes[i].items));
    lanes.Set(i, x);
  }
  o.Set("lanes", lanes);
  return o;
}

Napi::Value EngineHandle::Pause(const Napi::CallbackInfo& info) {
  if (engine_) engine_->Pause();
  return info.Env().Undefined();
}

Napi::Value EngineHandle::Resume(const Napi::CallbackInfo& info) {
  if (engine_) engine_->Resume();
  return info.Env().Undefined();
}

Napi::Value EngineHandle::Close(const Napi::CallbackInfo& info) {
  CloseEngine();
  return info.Env().Undefined();
}

Napi::Value EngineHandle::SetRef(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!tsfn_released_ && tsfn) {
    if (info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value()) tsfn.Ref(env);
    else tsfn.Unref(env);
  }
  return env.Undefined();
}

Napi::Value EngineHandle::ItemElems(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), engine_ ? double(engine_->item_elems()) : 0);
}

Napi::Value CreateEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CS_THROW_TYPE_IF(info.Length() < 4 || !info[0].IsObject() || !info[1].IsObject() || !info[2].IsObject() ||
                       !info[3].IsFunction(),
                   env, "createEngine(runtime, config, gear, onResults): wrong arguments");
  Napi::Object rt_obj = info[0].As<Napi::Object>();
  CS_THROW_TYPE_IF(!rt_obj.InstanceOf(GetAddonData(env).runtime_ctor.Value()), env,
                   "createEngine: runtime must be a RuntimeHandle");
  Napi::Object handle = GetAddonData(env).engine_ctor.New({info[3]});
  if (env.IsExceptionPending()) return {};
  auto* worker = new CreateEngineWorker(env, RuntimeHandle::Unwrap(rt_obj)->runtime(),
                                        ReadBlueprint(info[1].As<Napi::Object>(), info[2].As<Napi::Object>()), handle);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value EngineNowUs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Engine::NowUs()));
}

Napi::Value YieldThread(const Napi::CallbackInfo& info) {
  std::this_thread::yield();
  return info.Env().Undefined();
}

}  // namespace cascadeserve::bindings
