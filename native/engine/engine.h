// Engine: the cascade inference engine core, plain C++17 (no N-API, no runtime types).
//
// A request (one item: its inputs, engine/input_layout.h) enters the queue of stage 0 of the
// current gear. Lanes (engine/lane.h) batch each stage's queue by Triton's dynamic-batcher rule,
// run the stage's model, and per row either answer the request (certainty >= the stage's
// threshold, or last stage) or move it to the next stage's queue; its input stays in native
// memory throughout. The gear can be swapped at any time without stopping.
//
// Gear changes (SetGear): a request keeps the gear snapshot it entered with until it
// exits: its stages, thresholds and measures never change under it. Batching parameters
// and lane weights, in contrast, are read from the current gear when a batch is formed;
// a queue whose model left the current gear keeps its old max_batch and weights and drains
// with max_queue_delay_us = 0. Because the engine keeps one queue per model and a gear uses
// a model at most once, requests of old and new gears share a model's queue and batches.
//
// Exactly once: every accepted request is completed exactly once through the
// CompletionFn (kOk, kTimeout, kRuntimeError or kCancelled); a refused one exactly zero
// times (the caller answers it). This holds by construction, see engine/request.h.
//
// Deadlines: lanes time out queued requests whose deadline has passed (a timer wakes them,
// also while paused), and never put an expired request into a batch; such a request is
// completed with kTimeout without running. Once its batch is formed, a request runs. A
// deadline already past at Submit is accepted and timed out by the lane.
//
// Failures: when a batch's run fails, a batch of several rows is rerun one row at a time and
// only the rows that fail alone complete with kRuntimeError (the runner's message as
// error_message); the others are answered or forwarded as usual. The lane keeps serving.
//
// Thread safety: every public method may be called from any thread, concurrently, except
// that Close/the destructor must not be called from the CompletionFn.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "common/status.h"
#include "engine/dispatch_state.h"
#include "engine/engine_config.h"
#include "engine/lane.h"
#include "engine/model_runner.h"

namespace cascadeserve {

class Engine {
 public:
  // Validates config and initial (messages name the field), compiles the item layout
  // (config.inputs, or one FP32 input of the input_elems of initial's stage-0 model),
  // creates every runner of the placement up front on the calling thread (a gear change
  // never loads a model), then starts one thread per lane.
  // On failure nothing is started and *out is untouched; on success *out owns the engine.
  static Status Create(EngineConfig config, GearConfig initial, RunnerFactory factory,
                       CompletionFn on_complete, std::unique_ptr<Engine>* out);

  ~Engine();  // Close()
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues n items at stage 0 of the current gear, in one call (one crossing from JS per
  // batch of requests). The typed form: tensors[k] feeds input k (EngineConfig::inputs
  // order) with n items back to back, each at padded_length on the dynamic axis (ignored
  // without one); lengths[i] (1..padded_length; null without a dynamic axis) is item i's own
  // length: only those positions are copied, once, and batch assembly pads them again to
  // their batch's longest. Byte sizes are the caller's to match (the binding checks them).
  // Other arrays have n entries; optional ones may be null: deadlines_us (absolute NowUs()
  // microseconds, 0 = none; engine/deadline.h converts budgets), priorities (>= 1, 1 highest;
  // null = all 1), detail (ResultDetail flags per item; null = none). accepted[i] is set to 1
  // when item i was queued (it will reach the CompletionFn exactly once) and to 0 when it was
  // refused because the stage-0 queue was full (kOverloaded; the caller answers it; it never
  // reaches the CompletionFn). Returns InvalidArgument (nothing queued) for a bad argument and
  // Unavailable (nothing queued, accepted all 0) once Close has begun.
  Status SubmitTensors(int64_t n, const uint64_t* tickets, const void* const* tensors, int tensor_count,
                       int32_t padded_length, const int32_t* lengths, const int64_t* deadlines_us,
                       const int32_t* priorities, const uint8_t* detail, uint8_t* accepted);
  // The single-FP32-input form: inputs has n * item_elems() floats. InvalidArgument when the
  // engine's items are anything else (item_elems() == 0).
  Status Submit(int64_t n, const uint64_t* tickets, const float* inputs, const int64_t* deadlines_us,
                const int32_t* priorities, const uint8_t* detail, uint8_t* accepted);

  // Validates and publishes a new gear (see the rule above). On failure the current gear
  // stays. Requests already queued are not moved or re-queued.
  Status SetGear(GearConfig gear);

  // Deterministic testing hook, the counterpart of Triton's "hold the batcher until N
  // requests are queued": while paused, lanes form no batches (they still time out expired
  // requests), so a test can queue exactly what it wants and then Resume. Batches already
  // running finish normally.
  void Pause();
  void Resume();

  // Stops the lanes (a running batch finishes and is delivered), then completes every
  // request still queued with kCancelled, in one CompletionFn call on this thread.
  // Idempotent; concurrent calls wait for the first to finish.
  void Close();

  // A consistent snapshot of the counters; O(models + lanes) under the scheduler mutex.
  EngineStats Stats() const;

  // Floats per item when the items are one FP32 input without a dynamic axis, else 0.
  int64_t item_elems() const;
  const ItemLayout& layout() const { return state_.layout; }

  // Steady clock, microseconds: the clock of deadlines_us and of all *_us timestamps.
  static int64_t NowUs() { return SteadyNowUs(); }

 private:
  Engine() = default;

  // state_ is shared with the lanes, which hold a pointer to it: Engine is not movable.
  mutable DispatchState state_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::mutex close_mu_;  // serializes Close; guards closed_
  bool closed_ = false;
};

}  // namespace cascadeserve
