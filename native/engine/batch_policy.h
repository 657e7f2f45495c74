// BatchPolicy (policy): pure functions, no locks, no clocks; the lane feeds them a snapshot
// of queue state and the current time, so they are unit-testable without threads.
#pragma once

#include <cstdint>
#include <vector>

namespace cascadeserve {

// What a lane should do about one stage queue.
struct BatchDecision {
  enum class Kind {
    kIdle,      // queue empty: nothing to do, no timer
    kDispatch,  // form a batch of batch_size items now
    kWait,      // not yet: re-decide at wake_at_us (or earlier, when the queue changes)
  };
  Kind kind = Kind::kIdle;
  int64_t batch_size = 0;   // kDispatch only, 1..max_batch
  int64_t wake_at_us = 0;   // kWait only, steady clock microseconds
};

// Triton's dynamic-batcher rule, without preferred sizes:
//  - a full batch (queue_size >= max_batch) is dispatched at once;
//  - otherwise the partial batch is dispatched as soon as its oldest request has waited
//    max_queue_delay_us (0 = never wait: dispatch whatever is there);
//  - otherwise wait until oldest_enqueue_us + max_queue_delay_us.
// Requires max_batch >= 1, max_queue_delay_us >= 0.
BatchDecision DecideBatch(int64_t queue_size, int64_t oldest_enqueue_us, int64_t max_batch,
                          int64_t max_queue_delay_us, int64_t now_us);

// Whether new arrivals at a stage queue must wake the lanes hosting it. The lanes were woken
// for the items already queued: each is running a batch or waits on the timer of the oldest
// item's queue delay, which arrivals behind it do not move. So arrivals at a queue that held
// items matter only when they complete a batch (queued_after >= max_batch) or carry a
// deadline earlier than any queued one (earliest_new_deadline_us < deadline_bound_before_us;
// INT64_MAX = none). Waking a lane that waits for its batch to fill on every arrival cost the
// submitting thread a futex wake and the lane a trip through the scheduler per item.
bool ArrivalNeedsWake(int64_t queued_before, int64_t queued_after, int64_t max_batch,
                      int64_t deadline_bound_before_us, int64_t earliest_new_deadline_us);

// A stage whose batch is ready, as seen by a lane choosing what to serve next.
struct ReadyStage {
  int queue_index = 0;          // which queue (the engine keeps one per model)
  int64_t head_deadline_us = 0; // deadline of the request that would be served first; INT64_MAX = none
  int64_t oldest_enqueue_us = 0;
  int64_t batch_size = 0;       // from DecideBatch
};

// Which ready stage a lane serves when several of its hosted stages are ready: earliest
// deadline first, on the head request's deadline (the one whose SLO is closest to breaking
// is served first); requests without a deadline rank last. Ties (typically: no deadlines at
// all) go to the queue whose oldest request has waited longest, which is FIFO across
// stages and so cannot starve any stage. Returns an index into `ready`, or -1 when empty.
int ChooseReadyStage(const std::vector<ReadyStage>& ready);

// Lane weights of one stage (how its batches are spread over the lanes hosting its model):
// smooth weighted round-robin (the nginx scheme) over claims, made work-conserving.
//  - credit[] is per lane, starts at 0, and is charged on every claim: each lane gains its
//    weight, the claimant loses the total weight. Over a run of claims each lane's share of
//    batches converges to weight / total, spread evenly rather than in bursts.
//  - The designated lane, the one whose turn it is, is argmax(credit + weight) over lanes
//    with weight > 0 (ties: lowest index). The dispatcher lets the designated lane claim,
//    and any other lane with weight > 0 only while the designated one is busy running a
//    batch, so a batch never waits for a busy lane while another could run it.
//  - A lane with weight 0 never takes the stage's batches.
// Returns -1 when no lane has a positive weight.
int DesignatedLane(const std::vector<double>& weights, const std::vector<double>& credit);
void ChargeClaim(const std::vector<double>& weights, int claimant_lane, std::vector<double>* credit);

}  // namespace cascadeserve
