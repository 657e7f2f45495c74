// IdleSpinScore: whether a lane's spin after a batch (lane.cc, kIdleSpinUs) is worth its CPU.
// The spin pays only while the next work does arrive within the spin window of the answer.
// When it does not (the caller's event loop spends longer per request, e.g. parsing HTTP
// bodies under load), each spin only takes a core from that event loop: on a 2-core host the
// HTTP path lost about a third of its throughput to it. The score is the recent share of
// arrivals within the window, decaying by 1/kDecay per arrival; a lane spins while it is at
// least one half. It starts at one (spin), as before the score existed.
#pragma once

#include <cstdint>

namespace cascadeserve {

class IdleSpinScore {
 public:
  static constexpr int32_t kOne = 1 << 16;
  static constexpr int32_t kDecay = 8;

  explicit IdleSpinScore(int64_t window_us) : window_us_(window_us) {}

  // The first arrival after an answer came gap_us after it (<= 0: it was queued before).
  void RecordGap(int64_t gap_us) { score_ += ((gap_us <= window_us_ ? kOne : 0) - score_) / kDecay; }

  bool ShouldSpin() const { return score_ >= kOne / 2; }

 private:
  const int64_t window_us_;
  int32_t score_ = kOne;
};

}  // namespace cascadeserve
