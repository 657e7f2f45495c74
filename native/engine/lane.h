// Lane (dispatch): one execution lane = one thread that owns the model runners placed on
// it and serves the stage queues of those models: it decides (BatchPolicy) which queue is
// ready, claims a batch, gathers its inputs, runs the model, evaluates certainty per row,
// and for each row either answers the request or forwards it to its next stage's queue.
// Internal to native/engine/; Engine creates, starts and joins lanes.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/batch_policy.h"
#include "engine/dispatch_state.h"
#include "engine/model_runner.h"

namespace cascadeserve {

class Lane {
 public:
  // runners[m] is non-null exactly for the models placed on this lane. `state` must outlive
  // the lane. Nothing runs until Start.
  Lane(int index, DispatchState* state, std::vector<std::unique_ptr<ModelRunner>> runners);
  ~Lane();  // joins the thread if it is still running
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  void Start();
  // Returns once the thread has left its loop, which it does when state->closing is set
  // (after finishing and delivering the batch it may be running). Call at most once.
  void Join();

 private:
  void Loop();
  // The following run with state_->mu held by the caller (Loop); nothing checks it.
  // Moves expired requests of hosted queues to expired_; lowers *wake_at_us to the
  // earliest remaining deadline bound.
  void SweepExpired(int64_t now_us, int64_t* wake_at_us);
  // Claims a batch into batch_ and returns its model, or returns -1 and lowers
  // *wake_at_us to the earliest max_queue_delay expiry of a hosted queue.
  int ClaimBatch(const Gear& gear, int64_t now_us, int64_t* wake_at_us);
  bool MayClaim(const Gear& gear, int model) const;
  // Whether `model`'s batches hold only items of one length (not pad-invariant, dynamic axis).
  bool SameLengthBatches(int model) const;
  // Forwards forward_ into their next stages' queues and records the batch's counters.
  void FinishBatchLocked(int model, int64_t busy_us, int64_t exits, int64_t failures);

  // Without mu: gathers, runs and routes batch_; fills results (exits and failures) and
  // forward_ (continuing requests); returns how many results are failures. When a batch of
  // several rows fails, each row is run alone, so that only the rows the runtime rejects
  // fail (a poisoned request does not take its batch-mates down with it).
  int64_t RunBatch(int model, std::vector<ItemResult>* results, int64_t* busy_us);
  // Gathers batch_'s inputs into input_buffers_, padded to batch_length (row_lengths_ filled),
  // and describes them in batch_tensors_.
  void AssembleInputs(int64_t rows, int32_t batch_length);
  // Runs batch_[row] alone at its own length (failure isolation), gathered into row_buffers_.
  Status RunRowAlone(int model, int64_t row, float* output_row);
  // The tensors of `all` (one per engine input) that `model` takes, in its runner's order
  // (ModelConfig::input_indices); `all` itself when it takes every input.
  const BatchTensor* ModelInputs(int model, const std::vector<BatchTensor>& all, int* count);
  // Answers or forwards batch_[row] from its output row.
  void RouteRow(int64_t row, int model, const float* output_row, std::vector<ItemResult>* results);

  const int index_;
  DispatchState* const state_;
  LaneSlot& slot_;
  // Owned for the lane's life; used only from the lane thread once started.
  std::vector<std::unique_ptr<ModelRunner>> runners_;
  std::thread thread_;

  // Scratch reused across iterations so that a warmed-up lane allocates nothing per batch
  // except the results vector handed to the completion callback.
  std::vector<RequestPtr> batch_;
  std::vector<RequestPtr> forward_;
  std::vector<RequestPtr> expired_;
  std::vector<ReadyStage> ready_;
  std::vector<const uint8_t*> row_inputs_;          // one input's bytes of each row
  std::vector<int32_t> row_lengths_;                 // each row's length (dynamic axis)
  std::vector<std::vector<uint8_t>> input_buffers_;  // per input, the assembled batch
  std::vector<std::vector<int64_t>> batch_dims_;     // per input, the batch's shape
  std::vector<BatchTensor> batch_tensors_;           // per input, what the runner gets
  std::vector<std::vector<uint8_t>> row_buffers_;    // scratch of RunRowAlone: per input, one row
  std::vector<int64_t> row_dims_;                    // scratch of RunRowAlone
  std::vector<BatchTensor> row_tensors_;             // scratch of RunRowAlone
  std::vector<BatchTensor> model_tensors_;           // scratch of ModelInputs
  std::vector<float> output_buffer_;                 // rows of `classes` floats, read by RouteRow
  std::vector<float> score_buffer_;                  // a binary-score model's own column, before widening
  // Positions of the batch just run (RunBatch), counted by FinishBatchLocked.
  int64_t batch_item_positions_ = 0;
  int64_t batch_padded_positions_ = 0;
};

}  // namespace cascadeserve
