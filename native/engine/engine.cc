#include "engine/engine.h"

#include "engine/batch_policy.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace cascadeserve {
namespace {

// Input buffers the engine keeps for reuse (engine/item_buffer_pool.h): 4,096 images of
// 28x28 floats, or far more token sequences; what completes beyond it is freed.
constexpr size_t kInputBufferCacheBytes = size_t{16} << 20;

}  // namespace

Status Engine::Create(EngineConfig config, GearConfig initial, RunnerFactory factory,
                      CompletionFn on_complete, std::unique_ptr<Engine>* out) {
  CS_RETURN_IF_ERROR(ValidateEngineConfig(config));
  if (!factory) return Status::InvalidArgument("factory: must be set");
  if (!on_complete) return Status::InvalidArgument("on_complete: must be set");
  if (initial.stages.empty()) return Status::InvalidArgument("gear.stages: at least one stage is required");
  const int first_model = initial.stages[0].model;
  if (first_model < 0 || first_model >= static_cast<int>(config.models.size())) {
    return Status::InvalidArgument("gear.stages[0].model: model " + std::to_string(first_model) +
                                   " does not exist (" + std::to_string(config.models.size()) + " models)");
  }
  // Without typed inputs the items are one FP32 input of the first stage's input_elems, and
  // every model of a gear must take that many (CompileGear); typed inputs are the engine's.
  std::vector<InputSpec> specs = config.inputs;
  int64_t model_input_elems = -1;
  if (specs.empty()) {
    model_input_elems = config.models[first_model].input_elems;
    specs.push_back(InputSpec{"input", TensorElement::kFloat32, {model_input_elems}, 0.0});
  }
  ItemLayout layout;
  CS_RETURN_IF_ERROR(CompileItemLayout(specs, &layout));
  std::shared_ptr<const Gear> gear;
  CS_RETURN_IF_ERROR(CompileGear(config, model_input_elems, std::move(initial), nullptr, &gear));

  const int model_count = static_cast<int>(config.models.size());
  const int lane_count = static_cast<int>(config.lanes.size());

  // Runners first: a factory failure leaves nothing to tear down but the runners made so far.
  std::vector<std::vector<std::unique_ptr<ModelRunner>>> runners_by_lane(lane_count);
  for (auto& runners : runners_by_lane) runners.resize(model_count);
  for (int m = 0; m < model_count; ++m) {
    for (int lane : config.placement[m]) {
      std::unique_ptr<ModelRunner> runner;
      Status status = factory(m, lane, &runner);
      if (!status.ok()) {
        return Status(status.code(), "models[" + std::to_string(m) + "] ('" + config.models[m].name +
                                         "') on lane " + std::to_string(lane) + ": " + status.message());
      }
      if (!runner) {
        return Status::RuntimeError("models[" + std::to_string(m) + "] on lane " + std::to_string(lane) +
                                    ": the runner factory returned no runner");
      }
      runners_by_lane[lane][m] = std::move(runner);
    }
  }

  std::unique_ptr<Engine> engine(new Engine());
  DispatchState& s = engine->state_;
  s.model_input_elems = model_input_elems;
  s.layout = std::move(layout);
  s.input_buffers = std::make_shared<ItemBufferPool>(kInputBufferCacheBytes);
  s.on_complete = std::move(on_complete);
  s.lanes_hosting = config.placement;
  for (int m = 0; m < model_count; ++m) {
    s.queues.emplace_back(config.max_queue_size_per_stage);
    s.queues.back().stats.model = m;
    s.queues.back().lane_credit.assign(lane_count, 0.0);
  }
  for (int lane = 0; lane < lane_count; ++lane) s.lanes.push_back(std::make_unique<LaneSlot>());
  for (int m = 0; m < model_count; ++m) {
    for (int lane : config.placement[m]) {
      s.lanes[lane]->hosted_models.push_back(m);
      for (int peer : config.placement[m]) {
        std::vector<int>& peers = s.lanes[lane]->peer_lanes;
        if (peer != lane && std::find(peers.begin(), peers.end(), peer) == peers.end()) peers.push_back(peer);
      }
    }
  }
  s.config = std::move(config);
  std::atomic_store(&s.gear, std::move(gear));

  for (int lane = 0; lane < lane_count; ++lane) {
    engine->lanes_.push_back(std::make_unique<Lane>(lane, &s, std::move(runners_by_lane[lane])));
  }
  for (auto& lane : engine->lanes_) lane->Start();
  *out = std::move(engine);
  return Status::Ok();
}

Engine::~Engine() { Close(); }

int64_t Engine::item_elems() const {
  const ItemLayout& layout = state_.layout;
  const bool one_float_input = layout.inputs.size() == 1 && layout.inputs[0].type == TensorElement::kFloat32 && !layout.dynamic;
  return one_float_input ? layout.inputs[0].outer : 0;
}

Status Engine::Submit(int64_t n, const uint64_t* tickets, const float* inputs, const int64_t* deadlines_us,
                      const int32_t* priorities, const uint8_t* detail, uint8_t* accepted) {
  if (item_elems() == 0) {
    return Status::InvalidArgument("inputs: the engine's items are not one FP32 input without a dynamic axis; use SubmitTensors");
  }
  const void* tensors[1] = {inputs};
  return SubmitTensors(n, tickets, tensors, 1, 0, nullptr, deadlines_us, priorities, detail, accepted);
}

Status Engine::SubmitTensors(int64_t n, const uint64_t* tickets, const void* const* tensors, int tensor_count,
                             int32_t padded_length, const int32_t* lengths, const int64_t* deadlines_us,
                             const int32_t* priorities, const uint8_t* detail, uint8_t* accepted) {
  const ItemLayout& layout = state_.layout;
  if (n < 0) return Status::InvalidArgument("n: must be >= 0 (got " + std::to_string(n) + ")");
  if (n == 0) return Status::Ok();
  if (tickets == nullptr || tensors == nullptr || accepted == nullptr) {
    return Status::InvalidArgument("tickets, tensors and accepted: must not be null");
  }
  if (tensor_count != static_cast<int>(layout.inputs.size())) {
    return Status::InvalidArgument("tensors: the engine takes " + std::to_string(layout.inputs.size()) +
                                   " inputs, got " + std::to_string(tensor_count));
  }
  for (int k = 0; k < tensor_count; ++k) {
    if (tensors[k] == nullptr) return Status::InvalidArgument("tensors[" + std::to_string(k) + "]: must not be null");
  }
  if (layout.dynamic) {
    if (padded_length < 1) return Status::InvalidArgument("padded_length: must be >= 1 (got " + std::to_string(padded_length) + ")");
    if (lengths == nullptr) return Status::InvalidArgument("lengths: must not be null (the inputs have a dynamic axis)");
    for (int64_t i = 0; i < n; ++i) {
      if (lengths[i] < 1 || lengths[i] > padded_length) {
        return Status::InvalidArgument("lengths[" + std::to_string(i) + "]: must be from 1 to " +
                                       std::to_string(padded_length) + " (got " + std::to_string(lengths[i]) + ")");
      }
    }
  }
  if (priorities != nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      if (priorities[i] < 1) {
        return Status::InvalidArgument("priorities[" + std::to_string(i) + "]: must be >= 1 (got " +
                                       std::to_string(priorities[i]) + ")");
      }
    }
  }

  // Lock-free read of the gear; the copies of the inputs are made before taking the lock.
  std::shared_ptr<const Gear> gear = state_.CurrentGear();
  const int first_model = gear->config.stages[0].model;
  std::vector<RequestPtr> requests;
  requests.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto request = std::make_unique<Request>();
    request->ticket = tickets[i];
    // One copy per item: each input's own positions only, back to back (input_layout.h).
    const int32_t length = layout.dynamic ? lengths[i] : 0;
    request->length = length;
    request->input = state_.input_buffers->Take(layout.ItemBytes(length));
    uint8_t* dst = request->input.get();
    for (size_t k = 0; k < layout.inputs.size(); ++k) {
      const InputLayout& input = layout.inputs[k];
      const uint8_t* src = static_cast<const uint8_t*>(tensors[k]) + static_cast<size_t>(i) * input.ItemBytes(padded_length);
      if (input.dynamic_axis < 0) {
        const size_t bytes = input.ItemBytes(0);
        std::memcpy(dst, src, bytes);
        dst += bytes;
        continue;
      }
      const size_t kept_bytes = static_cast<size_t>(length) * static_cast<size_t>(input.inner) * input.elem_bytes;
      const size_t padded_bytes = static_cast<size_t>(padded_length) * static_cast<size_t>(input.inner) * input.elem_bytes;
      for (int64_t o = 0; o < input.outer; ++o) {
        std::memcpy(dst, src + static_cast<size_t>(o) * padded_bytes, kept_bytes);
        dst += kept_bytes;
      }
    }
    request->deadline_us = deadlines_us != nullptr ? deadlines_us[i] : 0;
    request->priority = priorities != nullptr ? priorities[i] : 1;
    request->want_output = detail != nullptr && (detail[i] & kResultOutput) != 0;
    request->want_certainties = detail != nullptr && (detail[i] & kResultCertainties) != 0;
    request->gear = gear;
    request->stage = 0;
    requests.push_back(std::move(request));
  }

  std::lock_guard<std::mutex> lock(state_.mu);
  if (state_.closing) {
    for (int64_t i = 0; i < n; ++i) accepted[i] = 0;
    return Status::Unavailable("the engine is closed");
  }
  ModelQueue& model_queue = state_.queues[first_model];
  const int64_t queued_before = model_queue.queue.size();
  const int64_t deadline_bound_before = model_queue.queue.EarliestDeadlineBoundUs();
  const int64_t now_us = SteadyNowUs();
  bool any_accepted = false;
  int64_t earliest_new_deadline_us = INT64_MAX;
  for (int64_t i = 0; i < n; ++i) {
    requests[i]->enqueue_us = now_us;
    const int64_t deadline_us = requests[i]->deadline_us;
    const bool admitted = model_queue.queue.TryAdmit(&requests[i]);
    accepted[i] = admitted ? 1 : 0;
    any_accepted = any_accepted || admitted;
    if (!admitted) model_queue.stats.refusals++;
    if (admitted && deadline_us > 0) earliest_new_deadline_us = std::min(earliest_new_deadline_us, deadline_us);
  }
  // The gear may have changed since it was read above; the lanes batch by the current one.
  const int64_t max_batch = state_.CurrentGear()->params_by_model[first_model].max_batch;
  if (any_accepted && ArrivalNeedsWake(queued_before, model_queue.queue.size(), max_batch, deadline_bound_before,
                                       earliest_new_deadline_us)) {
    state_.NotifyLanesHosting(first_model);
  }
  return Status::Ok();  // refused requests are destroyed with `requests`
}

Status Engine::SetGear(GearConfig gear_config) {
  std::lock_guard<std::mutex> lock(state_.mu);
  // Compiled under mu so that `previous` is the gear actually replaced, even when two
  // SetGear calls race.
  std::shared_ptr<const Gear> previous = state_.CurrentGear();
  std::shared_ptr<const Gear> gear;
  CS_RETURN_IF_ERROR(CompileGear(state_.config, state_.model_input_elems, std::move(gear_config), previous.get(), &gear));
  std::atomic_store(&state_.gear, std::move(gear));
  state_.gear_switches++;
  // New weights, new round-robin: old credits were earned under other weights.
  for (ModelQueue& model_queue : state_.queues) {
    std::fill(model_queue.lane_credit.begin(), model_queue.lane_credit.end(), 0.0);
  }
  state_.NotifyAllLanes();  // batch sizes and delays may have changed
  return Status::Ok();
}

void Engine::Pause() {
  std::lock_guard<std::mutex> lock(state_.mu);
  state_.paused = true;
}

void Engine::Resume() {
  std::lock_guard<std::mutex> lock(state_.mu);
  state_.paused = false;
  state_.NotifyAllLanes();
}

void Engine::Close() {
  std::lock_guard<std::mutex> close_lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(state_.mu);
    state_.closing = true;
    state_.NotifyAllLanes();
  }
  for (auto& lane : lanes_) lane->Join();

  // The lanes are gone: whatever is queued now is all that is left, and nothing else can
  // touch it. Requests of a running batch were answered or forwarded before its lane left.
  std::vector<RequestPtr> pending;
  std::vector<ItemResult> results;
  {
    std::lock_guard<std::mutex> lock(state_.mu);
    for (ModelQueue& model_queue : state_.queues) {
      const size_t before = pending.size();
      model_queue.queue.DrainAll(&pending);
      model_queue.stats.cancellations += static_cast<int64_t>(pending.size() - before);
    }
  }
  const int64_t now_us = SteadyNowUs();
  results.reserve(pending.size());
  for (RequestPtr& request : pending) results.push_back(TerminalResult(request.get(), StatusCode::kCancelled, now_us));
  pending.clear();
  if (!results.empty()) state_.on_complete(std::move(results), std::string());
  lanes_.clear();  // destroys the runners, after their threads were joined
}

EngineStats Engine::Stats() const {
  EngineStats stats;
  const std::shared_ptr<const Gear> gear = state_.CurrentGear();
  stats.gear_id = gear->config.id;
  std::lock_guard<std::mutex> lock(state_.mu);
  stats.gear_switches = state_.gear_switches;
  stats.queues.reserve(state_.queues.size());
  for (size_t m = 0; m < state_.queues.size(); ++m) {
    StageQueueStats queue_stats = state_.queues[m].stats;
    queue_stats.queue_length = state_.queues[m].queue.size();
    queue_stats.current_stage = gear->stage_of_model[m];
    stats.queues.push_back(queue_stats);
  }
  for (const auto& lane : state_.lanes) stats.lanes.push_back(lane->stats);
  return stats;
}

}  // namespace cascadeserve
