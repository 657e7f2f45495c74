// DispatchState: what the Engine facade and its Lanes share. Internal to native/engine/.
//
// Locking (one scheduler mutex, like Triton's per-model batcher lock):
//  - `mu` guards every field marked "guarded by mu": all stage queues, their counters and
//    weight credits, every lane's busy flag and counters, and the closing/paused flags.
//    Critical sections only move pointers and compare numbers (O(batch) or O(queues)); no
//    model runs, no input copy, no allocation of inputs and no callback happens under mu.
//  - `gear` is published without mu: std::atomic_load / std::atomic_store on the
//    shared_ptr. Submit reads it lock-free; writers (SetGear) also hold mu so that the
//    weight credits reset together with the gear they belong to.
//  - Each lane waits on its own condition variable (with mu). Whoever makes work ready for
//    a lane (Submit, a lane forwarding requests, SetGear, Resume, Close) notifies it; a
//    lane with nothing ready sleeps until notified or until its earliest timer (a
//    max_queue_delay expiry or a request deadline). The only polling is a short bounded spin
//    right after a lane answers a batch (kIdleSpinUs in lane.cc), on its slot's notification
//    count and without mu.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/engine_config.h"
#include "engine/gear.h"
#include "engine/input_layout.h"
#include "engine/stage_queue.h"

namespace cascadeserve {

inline int64_t SteadyNowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One per model: the engine queues per model rather than per stage index because a gear
// uses a model at most once, so within a gear "the queue of stage s" and "the queue of
// stage s's model" are the same thing, and the queues (and the lanes serving them) stay
// fixed when the gear changes.
struct ModelQueue {
  explicit ModelQueue(int64_t max_size) : queue(max_size) {}
  StageQueue queue;                 // guarded by mu
  StageQueueStats stats;            // guarded by mu (queue_length/current_stage filled by Stats)
  std::vector<double> lane_credit;  // guarded by mu; per lane, see ChargeClaim
};

struct LaneSlot {
  std::condition_variable wake;  // waited on with mu
  // Counts Notify calls: a lane spinning after a batch (lane.cc) watches it without mu.
  std::atomic<uint64_t> notifications{0};
  bool busy = false;             // guarded by mu: running a batch right now
  LaneStats stats;               // guarded by mu
  std::vector<int> hosted_models;  // immutable after Create
  std::vector<int> peer_lanes;     // immutable: lanes sharing at least one model with this one

  // Caller holds mu.
  void Notify() {
    notifications.fetch_add(1, std::memory_order_release);
    wake.notify_one();
  }
};

struct DispatchState {
  // Immutable after Engine::Create.
  EngineConfig config;
  // Floats per item every model must take (EngineConfig::inputs empty), or -1 when the
  // inputs are typed and shared by construction (CompileGear's check).
  int64_t model_input_elems = 0;
  ItemLayout layout;  // how items hold their inputs (engine/input_layout.h)
  // Recycles items' input buffers (engine/item_buffer_pool.h); thread-safe on its own.
  std::shared_ptr<ItemBufferPool> input_buffers;
  CompletionFn on_complete;
  std::vector<std::vector<int>> lanes_hosting;  // per model: placement, for notifications

  // Atomic shared_ptr access only (see above).
  std::shared_ptr<const Gear> gear;

  std::mutex mu;
  std::vector<ModelQueue> queues;               // per model; guarded by mu
  std::vector<std::unique_ptr<LaneSlot>> lanes;  // slots immutable in number; fields as marked
  bool closing = false;                         // guarded by mu
  bool paused = false;                          // guarded by mu
  int64_t gear_switches = 0;                    // guarded by mu

  std::shared_ptr<const Gear> CurrentGear() const { return std::atomic_load(&gear); }

  // Caller holds mu (notifying under the lock keeps the wake-up ordered with the change).
  void NotifyLanesHosting(int model) {
    for (int lane : lanes_hosting[model]) lanes[lane]->Notify();
  }
  void NotifyAllLanes() {
    for (auto& lane : lanes) lane->Notify();
  }
};

// Builds the result of a request that ends without an answer (kTimeout, kCancelled,
// kRuntimeError) at its current stage; now_us closes its current queue wait when it is
// still queued. Marks it kDone: the caller destroys it right after.
inline ItemResult TerminalResult(Request* request, StatusCode code, int64_t now_us) {
  if (request->state == RequestState::kQueued) request->queued_us += now_us - request->enqueue_us;
  request->state = RequestState::kDone;
  ItemResult result;
  result.ticket = request->ticket;
  result.status = code;
  result.exit_stage = request->stage;
  result.model = request->gear->config.stages[request->stage].model;
  result.queued_us = request->queued_us;
  result.compute_us = request->compute_us;
  return result;
}

inline int ModelOf(const Request& request) { return request.gear->config.stages[request.stage].model; }

}  // namespace cascadeserve
