// StageQueue (mechanism): the requests waiting for one stage's model.
//
// Order of service: priority level ascending (1 first), then arrival into this queue (FIFO
// within a level). The queue decides nothing about *when* to form a batch; that is
// BatchPolicy's job (batch_policy.h), fed with size() and OldestEnqueueUs().
//
// Locking: not thread-safe. Every StageQueue of an engine is guarded by the engine's
// scheduler mutex (DispatchState::mu); callers hold it for every call.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "engine/request.h"

namespace cascadeserve {

class StageQueue {
 public:
  // max_size bounds admission (TryAdmit); requests moving between stages use Push and are
  // never refused, because refusing one mid-cascade would drop an accepted request.
  explicit StageQueue(int64_t max_size) : max_size_(max_size) {}

  StageQueue(StageQueue&&) = default;
  StageQueue& operator=(StageQueue&&) = default;

  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t max_size() const { return max_size_; }

  // Admission: moves *request in and returns true, or returns false (queue full) and leaves
  // *request untouched with the caller.
  bool TryAdmit(RequestPtr* request);
  // Unbounded insert, for requests continuing from the previous stage.
  void Push(RequestPtr request);

  // Enqueue time (steady us) of the request that has waited longest here; INT64_MAX when
  // empty. O(priority levels).
  int64_t OldestEnqueueUs() const;
  // The request that would be served next, or nullptr when empty.
  const Request* Head() const;
  // A lower bound of the deadlines of queued requests (INT64_MAX when none has one). Exact
  // after RemoveExpired; may be stale-low after PopBatch, which only costs an early sweep.
  int64_t EarliestDeadlineBoundUs() const { return earliest_deadline_bound_us_; }

  // Moves up to max_items requests, in service order, to the end of *out.
  void PopBatch(int64_t max_items, std::vector<RequestPtr>* out);
  // Same-length batching (a model that is not pad-invariant): how many queued requests have
  // `length`, counting at most `cap`; and moves up to max_items of them, in service order, to
  // the end of *out, keeping the order of the rest. O(size) in the worst case.
  int64_t CountWithLength(int32_t length, int64_t cap) const;
  void PopBatchWithLength(int32_t length, int64_t max_items, std::vector<RequestPtr>* out);
  // Moves every request whose deadline is <= now_us to the end of *out, keeping the order
  // of the rest. O(size) but only runs when now_us reaches the deadline bound.
  void RemoveExpired(int64_t now_us, std::vector<RequestPtr>* out);
  // Moves everything to the end of *out (engine shutdown).
  void DrainAll(std::vector<RequestPtr>* out);

 private:
  struct Level {
    int32_t priority;
    std::deque<RequestPtr> items;
  };
  std::deque<RequestPtr>& LevelFor(int32_t priority);

  // Sorted by priority ascending. Emptied levels are kept: there are few distinct
  // priorities, and keeping them avoids reallocating on the hot path. Boxed because
  // std::deque's move constructor may throw, which would make vector copy on growth.
  std::vector<std::unique_ptr<Level>> levels_;
  int64_t size_ = 0;
  int64_t max_size_;
  int64_t earliest_deadline_bound_us_ = INT64_MAX;
};

}  // namespace cascadeserve
