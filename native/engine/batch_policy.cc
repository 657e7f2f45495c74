#include "engine/batch_policy.h"

#include <algorithm>

namespace cascadeserve {

BatchDecision DecideBatch(int64_t queue_size, int64_t oldest_enqueue_us, int64_t max_batch,
                          int64_t max_queue_delay_us, int64_t now_us) {
  BatchDecision decision;
  if (queue_size <= 0) return decision;
  if (queue_size >= max_batch) {
    decision.kind = BatchDecision::Kind::kDispatch;
    decision.batch_size = max_batch;
    return decision;
  }
  const int64_t dispatch_at_us = oldest_enqueue_us + max_queue_delay_us;
  if (now_us >= dispatch_at_us) {
    decision.kind = BatchDecision::Kind::kDispatch;
    decision.batch_size = queue_size;
    return decision;
  }
  decision.kind = BatchDecision::Kind::kWait;
  decision.wake_at_us = dispatch_at_us;
  return decision;
}

bool ArrivalNeedsWake(int64_t queued_before, int64_t queued_after, int64_t max_batch,
                      int64_t deadline_bound_before_us, int64_t earliest_new_deadline_us) {
  return queued_before == 0 || queued_after >= max_batch || earliest_new_deadline_us < deadline_bound_before_us;
}

int ChooseReadyStage(const std::vector<ReadyStage>& ready) {
  int best = -1;
  for (int i = 0; i < static_cast<int>(ready.size()); ++i) {
    if (best < 0) {
      best = i;
      continue;
    }
    const ReadyStage& a = ready[i];
    const ReadyStage& b = ready[best];
    if (a.head_deadline_us < b.head_deadline_us ||
        (a.head_deadline_us == b.head_deadline_us && a.oldest_enqueue_us < b.oldest_enqueue_us)) {
      best = i;
    }
  }
  return best;
}

int DesignatedLane(const std::vector<double>& weights, const std::vector<double>& credit) {
  int designated = -1;
  double best = 0.0;
  for (int lane = 0; lane < static_cast<int>(weights.size()); ++lane) {
    if (!(weights[lane] > 0.0)) continue;
    const double score = credit[lane] + weights[lane];
    if (designated < 0 || score > best) {
      designated = lane;
      best = score;
    }
  }
  return designated;
}

void ChargeClaim(const std::vector<double>& weights, int claimant_lane, std::vector<double>* credit) {
  double total = 0.0;
  for (double w : weights) total += w;
  if (!(total > 0.0)) return;
  // Bound the memory of the scheme: a lane that took many batches while the designated one
  // was busy should not be shut out for just as long afterwards.
  const double limit = 64.0 * total;
  for (size_t lane = 0; lane < weights.size(); ++lane) {
    double& c = (*credit)[lane];
    c += weights[lane];
    if (static_cast<int>(lane) == claimant_lane) c -= total;
    c = std::min(std::max(c, -limit), limit);
  }
}

}  // namespace cascadeserve
