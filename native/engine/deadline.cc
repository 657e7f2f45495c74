#include "engine/deadline.h"

#include <cmath>
#include <limits>

namespace cascadeserve {

namespace {
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
// 2^63 as a double: every double below it (and >= -2^63) converts to int64 exactly.
constexpr double kTwoPow63 = 9223372036854775808.0;
}  // namespace

int64_t SaturatingInt64FromDouble(double x) {
  if (std::isnan(x)) return 0;
  const double floored = std::floor(x);
  if (floored >= kTwoPow63) return kInt64Max;
  if (floored < -kTwoPow63) return kInt64Min;
  return static_cast<int64_t>(floored);
}

int64_t DeadlineFromBudgetUs(double budget_us, int64_t now_us) {
  if (budget_us == std::numeric_limits<double>::infinity()) return 0;
  // NaN compares false: it lands here with the spent budgets.
  if (!(budget_us > 0.0)) return now_us > 1 ? now_us - 1 : 1;
  const double clamped_us = budget_us < kMaxBudgetUs ? budget_us : kMaxBudgetUs;
  const int64_t budget = static_cast<int64_t>(clamped_us);  // in [0, kMaxBudgetUs]: exact range
  if (now_us > kInt64Max - budget) return kInt64Max;
  const int64_t deadline = now_us + budget;
  return deadline >= 1 ? deadline : 1;  // 0 would mean "no deadline"
}

void DeadlinesFromBudgetsUs(const double* budgets_us, int64_t n, int64_t now_us, int64_t* deadlines_us) {
  for (int64_t i = 0; i < n; ++i) deadlines_us[i] = DeadlineFromBudgetUs(budgets_us[i], now_us);
}

}  // namespace cascadeserve
