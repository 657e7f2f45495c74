// IdleSpinScore (native/engine/idle_spin.h): a lane spins after a batch while most recent
// arrivals came within the window of the answer, stops once most did not, and resumes when
// they do again. Driven by recorded gaps only: no clock, no timing.
#include "engine/idle_spin.h"
#include "test_harness.h"

using namespace cascadeserve;

TEST(IdleSpinScoreFollowsTheRecentArrivalGaps) {
  IdleSpinScore score(50);
  CHECK(score.ShouldSpin());  // as before the score: spin until gaps say otherwise
  // Arrivals queued before the answer (gap <= 0) or within the window keep it spinning.
  for (int i = 0; i < 100; ++i) score.RecordGap(i % 2 == 0 ? -5 : 50);
  CHECK(score.ShouldSpin());
  // One late arrival does not stop it; a run of them does (the HTTP path under load).
  score.RecordGap(51);
  CHECK(score.ShouldSpin());
  int late = 1;
  while (score.ShouldSpin()) {
    score.RecordGap(400);
    ++late;
    CHECK(late < 20);
    if (late >= 20) break;
  }
  CHECK(late >= 4);  // (7/8)^k < 1/2 first for k = 6: a few late arrivals, not one
  // Back to one request at a time with quick callers: spinning again after a few arrivals.
  int quick = 0;
  while (!score.ShouldSpin()) {
    score.RecordGap(10);
    ++quick;
    CHECK(quick < 20);
    if (quick >= 20) break;
  }
  CHECK(score.ShouldSpin());
}

TEST(IdleSpinScoreHalfLateHalfQuickStaysNearTheThreshold) {
  // Alternating gaps: the score settles around one half, so the decision never sticks to
  // one side for long whatever the first gap.
  IdleSpinScore score(50);
  int spins = 0;
  for (int i = 0; i < 1000; ++i) {
    score.RecordGap(i % 2 == 0 ? 1000 : 1);
    if (score.ShouldSpin()) ++spins;
  }
  CHECK(spins > 100 && spins < 900);
}
