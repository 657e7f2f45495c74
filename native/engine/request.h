// Request: one item (an image, a token sequence) travelling through a cascade.
//
// Ownership is the exactly-once guarantee: a Request lives in a std::unique_ptr that is, at
// any moment, in exactly one place: a StageQueue, one lane's in-flight batch, or a
// completion being built. Completing it consumes the pointer, so a request cannot be
// answered twice or forgotten while the engine runs; Engine::Close cancels whatever is left
// in the queues after the lanes have stopped.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/item_buffer_pool.h"

namespace cascadeserve {

struct Gear;  // engine/gear.h

enum class RequestState : int {
  kQueued = 0,     // in a StageQueue, waiting for a batch
  kExecuting = 1,  // claimed by a lane; its batch is running
  kDone = 2,       // its ItemResult has been built; the Request is about to be destroyed
};

struct Request {
  // Caller's identifier, echoed in ItemResult::ticket. Not interpreted by the engine.
  uint64_t ticket = 0;
  // The item's own copy of its inputs, back to back, each at the item's own length
  // (engine/input_layout.h: input k at ItemLayout::InputOffset(k, length)), made once at
  // Submit and read in place by every stage's batch gather: nothing goes back to JS between
  // stages. Uninitialized storage from the engine's ItemBufferPool: Submit writes every byte
  // it later reads, nothing is zeroed first.
  ItemBuffer input;
  // Its length on the dynamic axis (1..); 0 when the inputs have none.
  int32_t length = 0;
  // Absolute deadline on the steady clock (Engine::NowUs), microseconds; 0 = none.
  int64_t deadline_us = 0;
  // 1 is the highest priority; larger values are served later. FIFO within a level.
  int32_t priority = 1;
  // Whether ItemResult::output carries the answering model's output row.
  bool want_output = false;
  // Whether ItemResult::certainties carries every measure of that row.
  bool want_certainties = false;

  // The gear the request entered with. It keeps this snapshot until it exits, so its
  // stages, thresholds and measures never change under it (see Engine::SetGear).
  std::shared_ptr<const Gear> gear;
  // Index into gear->stages of the stage whose queue holds (or whose batch runs) it.
  int32_t stage = 0;

  RequestState state = RequestState::kQueued;
  // When it entered its current stage queue (steady clock, microseconds).
  int64_t enqueue_us = 0;

  // Accumulated over all stages it went through, microseconds: time waiting in stage
  // queues, and wall time of the batches it was part of.
  int64_t queued_us = 0;
  int64_t compute_us = 0;

  // Effective deadline for ordering: "none" sorts after every real deadline.
  int64_t DeadlineOrMax() const { return deadline_us > 0 ? deadline_us : INT64_MAX; }
};

using RequestPtr = std::unique_ptr<Request>;

}  // namespace cascadeserve
