#include "engine/lane.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "engine/batch_assembly.h"
#include "engine/certainty.h"
#include "engine/idle_spin.h"

namespace cascadeserve {
namespace {

// How long a lane that has just run a batch keeps re-checking its queues before it parks on
// its condition variable. Waking a parked thread (futex wake, then the scheduler) costs tens of
// microseconds, more on a loaded host; under low load the next request typically arrives a
// few tens of microseconds after the previous answer (the caller's event loop wakes, reads
// the result and submits again), so a window of this size catches it without that wake-up.
// Bounded and only after a batch: an idle lane burns at most this much CPU per batch it ran,
// then sleeps with no polling; and only while arrivals usually come within the window
// (IdleSpinScore, engine/idle_spin.h).
constexpr int64_t kIdleSpinUs = 50;

std::chrono::steady_clock::time_point ToTimePoint(int64_t steady_us) {
  return std::chrono::steady_clock::time_point(std::chrono::microseconds(steady_us));
}

// Grow-only resize: after warm-up the buffers have their final capacity.
template <typename T>
void EnsureSize(std::vector<T>* buffer, size_t size) {
  if (buffer->size() < size) buffer->resize(size);
}

}  // namespace

Lane::Lane(int index, DispatchState* state, std::vector<std::unique_ptr<ModelRunner>> runners)
    : index_(index), state_(state), slot_(*state->lanes[index]), runners_(std::move(runners)) {}

Lane::~Lane() {
  if (thread_.joinable()) thread_.join();
}

void Lane::Start() { thread_ = std::thread([this] { Loop(); }); }

void Lane::Join() {
  if (thread_.joinable()) thread_.join();
}

void Lane::Loop() {
  DispatchState& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  int64_t spin_until_us = 0;  // while now is before this, an idle lane spins instead of parking
  int64_t answered_at_us = 0;  // when the last batch was answered; 0 once its next arrival is scored
  // Spins only while arrivals usually follow answers within the window (engine/idle_spin.h).
  IdleSpinScore spin_score(kIdleSpinUs);
  while (!s.closing) {
    const int64_t now_us = SteadyNowUs();
    int64_t wake_at_us = INT64_MAX;

    // Deadlines first, even while paused: an expired request is answered without running.
    SweepExpired(now_us, &wake_at_us);
    if (!expired_.empty()) {
      std::vector<ItemResult> results;
      results.reserve(expired_.size());
      for (RequestPtr& request : expired_) {
        s.queues[ModelOf(*request)].stats.timeouts++;
        results.push_back(TerminalResult(request.get(), StatusCode::kTimeout, now_us));
      }
      expired_.clear();
      lock.unlock();
      s.on_complete(std::move(results), std::string());
      lock.lock();
      continue;
    }

    int model = -1;
    if (!s.paused) {
      const std::shared_ptr<const Gear> gear = s.CurrentGear();
      model = ClaimBatch(*gear, now_us, &wake_at_us);
    }
    if (model < 0) {
      if (now_us < spin_until_us) {
        // Watch the notification count without mu (a lane holding mu while preempted on an
        // oversubscribed host would stall every submitter), yielding the core between looks.
        // Any change since this snapshot, taken under mu, is work to look at.
        const uint64_t seen = slot_.notifications.load(std::memory_order_acquire);
        const int64_t until_us = std::min(spin_until_us, wake_at_us);
        lock.unlock();
        while (slot_.notifications.load(std::memory_order_acquire) == seen && SteadyNowUs() < until_us) {
          std::this_thread::yield();
        }
        lock.lock();
        continue;
      }
      if (wake_at_us == INT64_MAX) {
        slot_.wake.wait(lock);
      } else {
        slot_.wake.wait_until(lock, ToTimePoint(wake_at_us));
      }
      continue;
    }

    if (answered_at_us > 0) {
      // The batch's earliest arrival is the first since the answer (or was queued before it).
      int64_t first_arrival_us = INT64_MAX;
      for (const RequestPtr& request : batch_) first_arrival_us = std::min(first_arrival_us, request->enqueue_us);
      spin_score.RecordGap(first_arrival_us - answered_at_us);
      answered_at_us = 0;
    }
    slot_.busy = true;
    // Lanes deferring to this one under lane weights may now take what it leaves.
    for (int peer : slot_.peer_lanes) s.lanes[peer]->Notify();
    lock.unlock();

    std::vector<ItemResult> results;
    int64_t busy_us = 0;
    const int64_t failures = RunBatch(model, &results, &busy_us);

    lock.lock();
    FinishBatchLocked(model, busy_us, static_cast<int64_t>(results.size()) - failures, failures);
    lock.unlock();
    if (!results.empty()) {
      std::string error;
      for (const ItemResult& r : results) {
        if (r.status == StatusCode::kRuntimeError) {
          error = r.error_message;
          break;
        }
      }
      s.on_complete(std::move(results), error);
    }
    answered_at_us = SteadyNowUs();
    // From the answer on, while the next request usually follows it within the window.
    spin_until_us = spin_score.ShouldSpin() ? answered_at_us + kIdleSpinUs : 0;
    lock.lock();
  }
}

void Lane::SweepExpired(int64_t now_us, int64_t* wake_at_us) {
  for (int model : slot_.hosted_models) {
    StageQueue& queue = state_->queues[model].queue;
    queue.RemoveExpired(now_us, &expired_);
    if (!queue.empty()) *wake_at_us = std::min(*wake_at_us, queue.EarliestDeadlineBoundUs());
  }
}

bool Lane::SameLengthBatches(int model) const {
  return state_->layout.dynamic && !state_->config.models[model].pad_invariant;
}

bool Lane::MayClaim(const Gear& gear, int model) const {
  const std::vector<double>& weights = gear.params_by_model[model].lane_weights;
  if (weights.empty()) return true;
  if (!(weights[index_] > 0.0)) return false;
  const int designated = DesignatedLane(weights, state_->queues[model].lane_credit);
  return designated == index_ || designated < 0 || state_->lanes[designated]->busy;
}

int Lane::ClaimBatch(const Gear& gear, int64_t now_us, int64_t* wake_at_us) {
  ready_.clear();
  for (int model : slot_.hosted_models) {
    const StageQueue& queue = state_->queues[model].queue;
    if (queue.empty()) continue;
    const Gear::QueueParams& params = gear.params_by_model[model];
    const int64_t oldest_us = queue.OldestEnqueueUs();
    // A model that is not pad-invariant batches only items of the head item's length.
    const int64_t available = SameLengthBatches(model) ? queue.CountWithLength(queue.Head()->length, params.max_batch)
                                                       : queue.size();
    const BatchDecision decision =
        DecideBatch(available, oldest_us, params.max_batch, params.max_queue_delay_us, now_us);
    if (decision.kind == BatchDecision::Kind::kWait) {
      *wake_at_us = std::min(*wake_at_us, decision.wake_at_us);
    } else if (decision.kind == BatchDecision::Kind::kDispatch && MayClaim(gear, model)) {
      ready_.push_back(ReadyStage{model, queue.Head()->DeadlineOrMax(), oldest_us, decision.batch_size});
    }
    // A ready queue this lane may not claim belongs to its designated lane, which has been
    // notified; when that lane turns busy it notifies this one (peer_lanes).
  }
  const int chosen = ChooseReadyStage(ready_);
  if (chosen < 0) return -1;

  const int model = ready_[chosen].queue_index;
  ModelQueue& model_queue = state_->queues[model];
  batch_.clear();
  if (SameLengthBatches(model)) {
    model_queue.queue.PopBatchWithLength(model_queue.queue.Head()->length, ready_[chosen].batch_size, &batch_);
  } else {
    model_queue.queue.PopBatch(ready_[chosen].batch_size, &batch_);
  }
  const std::vector<double>& weights = gear.params_by_model[model].lane_weights;
  if (!weights.empty()) ChargeClaim(weights, index_, &model_queue.lane_credit);
  for (RequestPtr& request : batch_) {
    request->state = RequestState::kExecuting;
    request->queued_us += now_us - request->enqueue_us;
  }
  return model;
}

void Lane::AssembleInputs(int64_t rows, int32_t batch_length) {
  const ItemLayout& layout = state_->layout;
  const size_t input_count = layout.inputs.size();
  if (input_buffers_.size() < input_count) {
    input_buffers_.resize(input_count);
    batch_dims_.resize(input_count);
    batch_tensors_.resize(input_count);
  }
  for (size_t k = 0; k < input_count; ++k) {
    const InputLayout& input = layout.inputs[k];
    row_inputs_.clear();
    for (const RequestPtr& request : batch_) row_inputs_.push_back(request->input.get() + layout.InputOffset(k, request->length));
    const size_t bytes = static_cast<size_t>(rows) * input.ItemBytes(batch_length);
    EnsureSize(&input_buffers_[k], bytes);
    GatherPadded(input, row_inputs_.data(), row_lengths_.data(), rows, batch_length, input_buffers_[k].data());
    std::vector<int64_t>& dims = batch_dims_[k];
    dims.clear();
    dims.push_back(rows);
    for (int64_t d : input.item_dims) dims.push_back(d == -1 ? batch_length : d);
    batch_tensors_[k] = BatchTensor{input_buffers_[k].data(), bytes, input.type, dims.data(), static_cast<int>(dims.size())};
  }
}

Status Lane::RunRowAlone(int model, int64_t row, float* output_row) {
  const ItemLayout& layout = state_->layout;
  const size_t input_count = layout.inputs.size();
  // At the row's own length, not the batch's: an item too long for a model (a position table
  // it overruns) must not fail the shorter items padded to its length.
  const RequestPtr& request = batch_[row];
  const int32_t length = request->length;
  if (row_buffers_.size() < input_count) row_buffers_.resize(input_count);
  row_tensors_.resize(input_count);
  row_dims_.clear();
  for (size_t k = 0; k < input_count; ++k) {
    row_dims_.push_back(1);
    for (int64_t d : layout.inputs[k].item_dims) row_dims_.push_back(d == -1 ? length : d);
  }
  size_t at = 0;
  for (size_t k = 0; k < input_count; ++k) {
    const InputLayout& input = layout.inputs[k];
    const uint8_t* item = request->input.get() + layout.InputOffset(k, length);
    const size_t bytes = input.ItemBytes(length);
    EnsureSize(&row_buffers_[k], bytes);
    GatherPadded(input, &item, &length, 1, length, row_buffers_[k].data());
    const int rank = static_cast<int>(input.item_dims.size()) + 1;
    row_tensors_[k] = BatchTensor{row_buffers_[k].data(), bytes, input.type, row_dims_.data() + at, rank};
    at += static_cast<size_t>(rank);
  }
  int count = 0;
  const BatchTensor* tensors = ModelInputs(model, row_tensors_, &count);
  return runners_[model]->Run(tensors, count, 1, output_row);
}

const BatchTensor* Lane::ModelInputs(int model, const std::vector<BatchTensor>& all, int* count) {
  const std::vector<int>& indices = state_->config.models[model].input_indices;
  if (indices.empty()) {
    *count = static_cast<int>(state_->layout.inputs.size());
    return all.data();
  }
  model_tensors_.clear();
  for (int k : indices) model_tensors_.push_back(all[static_cast<size_t>(k)]);
  *count = static_cast<int>(model_tensors_.size());
  return model_tensors_.data();
}

int64_t Lane::RunBatch(int model, std::vector<ItemResult>* results, int64_t* busy_us) {
  const DispatchState& s = *state_;
  const int64_t rows = static_cast<int64_t>(batch_.size());
  const int64_t classes = s.config.models[model].output_elems;

  // The batch's length is its longest item's; shorter ones are padded (0 without a dynamic axis).
  int32_t batch_length = 0;
  int64_t item_positions = 0;
  row_lengths_.clear();
  for (const RequestPtr& request : batch_) {
    row_lengths_.push_back(request->length);
    batch_length = std::max(batch_length, request->length);
    item_positions += request->length;
  }
  batch_item_positions_ = item_positions;
  batch_padded_positions_ = rows * batch_length - item_positions;
  EnsureSize(&output_buffer_, static_cast<size_t>(rows * classes));
  // A binary-score model writes one column, widened to `classes` (2) below.
  const OutputKind kind = s.config.models[model].output_kind;
  const int64_t columns = ModelOutputColumns(kind, classes);
  float* model_output = output_buffer_.data();
  if (IsBinaryScore(kind)) {
    EnsureSize(&score_buffer_, static_cast<size_t>(rows));
    model_output = score_buffer_.data();
  }

  const int64_t start_us = SteadyNowUs();
  AssembleInputs(rows, batch_length);
  int input_count = 0;
  const BatchTensor* inputs = ModelInputs(model, batch_tensors_, &input_count);
  Status status = runners_[model]->Run(inputs, input_count, rows, model_output);
  // Row status: empty = ok, else the message of the run that failed it.
  std::vector<std::string> row_errors;
  auto message_of = [](const Status& st) { return st.message().empty() ? std::string("model runner failed") : st.message(); };
  if (!status.ok()) {
    row_errors.assign(static_cast<size_t>(rows), std::string());
    if (rows == 1) {
      row_errors[0] = message_of(status);
    } else {
      // Isolation: rerun row by row (only on the failure path) to find the rows at fault.
      for (int64_t row = 0; row < rows; ++row) {
        Status one = RunRowAlone(model, row, model_output + row * columns);
        if (!one.ok()) row_errors[row] = message_of(one);
      }
    }
  }
  if (IsBinaryScore(kind)) ExpandBinaryScores(model_output, rows, kind, output_buffer_.data());
  const int64_t end_us = SteadyNowUs();
  *busy_us = end_us - start_us;

  forward_.clear();
  results->reserve(batch_.size());
  int64_t failures = 0;
  for (int64_t row = 0; row < rows; ++row) {
    RequestPtr& request = batch_[row];
    request->compute_us += *busy_us;
    if (!row_errors.empty() && !row_errors[row].empty()) {
      ItemResult failed = TerminalResult(request.get(), StatusCode::kRuntimeError, end_us);
      failed.error_message = row_errors[row];
      results->push_back(std::move(failed));
      ++failures;
      continue;
    }
    RouteRow(row, model, output_buffer_.data() + row * classes, results);
  }
  batch_.clear();  // answered requests are destroyed here; forwarded ones were moved out
  return failures;
}

void Lane::RouteRow(int64_t row, int model, const float* output_row, std::vector<ItemResult>* results) {
  const ModelConfig& model_config = state_->config.models[model];
  const int64_t classes = model_config.output_elems;
  RequestPtr& request = batch_[row];
  // Each row is judged by the gear it entered with (rows of one batch may differ).
  const GearStage& stage = request->gear->config.stages[request->stage];
  int32_t predicted_class = -1;
  const OutputKind row_kind = RowKind(model_config.output_kind);  // binary scores are widened by now
  const double certainty = RowCertainty(output_row, classes, row_kind, stage.measure, &predicted_class);
  const bool last_stage = request->stage + 1 == static_cast<int32_t>(request->gear->config.stages.size());
  if (last_stage || certainty >= static_cast<double>(stage.threshold)) {
    request->state = RequestState::kDone;
    ItemResult result;
    result.ticket = request->ticket;
    result.status = StatusCode::kOk;
    result.predicted_class = predicted_class;
    result.certainty = static_cast<float>(certainty);
    result.exit_stage = request->stage;
    result.model = model;
    result.queued_us = request->queued_us;
    result.compute_us = request->compute_us;
    if (request->want_certainties) {
      RowCertainties(output_row, classes, row_kind, result.certainties.data());
      result.has_certainties = true;
    }
    if (request->want_output) result.output.assign(output_row, output_row + classes);
    results->push_back(std::move(result));
  } else {
    request->stage += 1;
    forward_.push_back(std::move(request));
  }
}

void Lane::FinishBatchLocked(int model, int64_t busy_us, int64_t exits, int64_t failures) {
  DispatchState& s = *state_;
  StageQueueStats& stats = s.queues[model].stats;
  const int64_t items = exits + failures + static_cast<int64_t>(forward_.size());
  stats.batches++;
  stats.items += items;
  stats.failures += failures;
  stats.exits += exits;
  stats.item_positions += batch_item_positions_;
  stats.padded_positions += batch_padded_positions_;
  slot_.busy = false;
  slot_.stats.busy_us += busy_us;
  slot_.stats.batches++;
  slot_.stats.items += items;

  const int64_t now_us = SteadyNowUs();
  int last_notified_model = -1;
  for (RequestPtr& request : forward_) {
    const int next_model = ModelOf(*request);
    request->enqueue_us = now_us;
    s.queues[next_model].queue.Push(std::move(request));
    // Rows of one batch nearly always share their next stage: wake its lanes once.
    if (next_model != last_notified_model) s.NotifyLanesHosting(next_model);
    last_notified_model = next_model;
  }
  forward_.clear();
}

}  // namespace cascadeserve
