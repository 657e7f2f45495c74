// Budget-to-deadline conversion (engine/deadline.h) at the edges of double and int64: the
// values JavaScript can send (1e300, 9.3e18, 2^63, NaN, infinities, negatives) and clock
// readings near the ends of int64. Expected values are written out here, not recomputed
// with the function's own formula. Built under -fsanitize=undefined,float-cast-overflow by
// `npm run test:sanitize`, where an out-of-range conversion or overflow fails the run.
#include <cmath>
#include <cstdint>
#include <limits>

#include "engine/deadline.h"
#include "test_harness.h"

using namespace cascadeserve;

namespace {
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kDayUs = 86400LL * 1000 * 1000;
}  // namespace

TEST(DeadlineOrdinaryBudgets) {
  const int64_t now = 5'000'000'000;
  CHECK_EQ(DeadlineFromBudgetUs(1000.0, now), now + 1000);
  CHECK_EQ(DeadlineFromBudgetUs(1000.9, now), now + 1000);  // truncated, never later
  CHECK_EQ(DeadlineFromBudgetUs(1.0, now), now + 1);
  CHECK_EQ(DeadlineFromBudgetUs(static_cast<double>(kDayUs), now), now + kDayUs);
}

TEST(DeadlineNoneAndSpent) {
  const int64_t now = 5'000'000'000;
  CHECK_EQ(DeadlineFromBudgetUs(kInf, now), 0);
  CHECK_EQ(DeadlineFromBudgetUs(0.0, now), now - 1);
  CHECK_EQ(DeadlineFromBudgetUs(-0.0, now), now - 1);
  CHECK_EQ(DeadlineFromBudgetUs(-5.0, now), now - 1);
  CHECK_EQ(DeadlineFromBudgetUs(-1e300, now), now - 1);
  CHECK_EQ(DeadlineFromBudgetUs(-kInf, now), now - 1);
  CHECK_EQ(DeadlineFromBudgetUs(std::nan(""), now), now - 1);
  // A past deadline is never 0 ("none"), whatever the clock says.
  CHECK_EQ(DeadlineFromBudgetUs(0.0, 1), 1);
  CHECK_EQ(DeadlineFromBudgetUs(0.0, 0), 1);
  CHECK_EQ(DeadlineFromBudgetUs(-1.0, kMin), 1);
  CHECK_EQ(DeadlineFromBudgetUs(0.5, 0), 1);  // less than a microsecond left at clock 0
}

TEST(DeadlineHugeBudgetsAreClamped) {
  const int64_t now = 5'000'000'000;
  // Each of these overflowed (or converted out of range) in the binding's old
  // now + int64_t(budget).
  const double huge[] = {1e300, std::numeric_limits<double>::max(), 9.3e18, 9223372036854775808.0,
                         9223372036854774784.0, 1e20, static_cast<double>(kDayUs) + 1.0};
  for (double budget : huge) CHECK_EQ(DeadlineFromBudgetUs(budget, now), now + kDayUs);
}

TEST(DeadlineSaturatesNearTheEndOfTheClock) {
  CHECK_EQ(DeadlineFromBudgetUs(1e300, kMax - 10), kMax);
  CHECK_EQ(DeadlineFromBudgetUs(20.0, kMax - 10), kMax);
  CHECK_EQ(DeadlineFromBudgetUs(10.0, kMax - 10), kMax);
  CHECK_EQ(DeadlineFromBudgetUs(9.0, kMax - 10), kMax - 1);
  CHECK_EQ(DeadlineFromBudgetUs(100.0, kMin), 1);
}

TEST(DeadlinesFromBudgetsOneClockReading) {
  const double budgets[] = {kInf, 250.0, -1.0, std::nan(""), 1e300};
  int64_t out[5] = {7, 7, 7, 7, 7};
  DeadlinesFromBudgetsUs(budgets, 5, 1000, out);
  CHECK_EQ(out[0], 0);
  CHECK_EQ(out[1], 1250);
  CHECK_EQ(out[2], 999);
  CHECK_EQ(out[3], 999);
  CHECK_EQ(out[4], 1000 + kDayUs);
}

TEST(SaturatingInt64FromDoubleEdges) {
  CHECK_EQ(SaturatingInt64FromDouble(std::nan("")), 0);
  CHECK_EQ(SaturatingInt64FromDouble(3.7), 3);
  CHECK_EQ(SaturatingInt64FromDouble(-3.2), -4);
  CHECK_EQ(SaturatingInt64FromDouble(1e300), kMax);
  CHECK_EQ(SaturatingInt64FromDouble(kInf), kMax);
  CHECK_EQ(SaturatingInt64FromDouble(-1e300), kMin);
  CHECK_EQ(SaturatingInt64FromDouble(-kInf), kMin);
  CHECK_EQ(SaturatingInt64FromDouble(9223372036854775808.0), kMax);  // 2^63
  CHECK_EQ(SaturatingInt64FromDouble(9223372036854774784.0), 9223372036854774784LL);  // largest double below 2^63
  CHECK_EQ(SaturatingInt64FromDouble(-9223372036854775808.0), kMin);  // -2^63 is representable
}
