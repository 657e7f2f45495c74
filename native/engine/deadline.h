// Budget to deadline: the one place where a caller's time budget (a double, as it arrives
// from JavaScript) becomes an absolute deadline on the engine's steady clock (Engine::NowUs).
//
// Full validation happens before this (ts/engine/engine.ts refuses NaN, negative and too
// long budgets with a message naming the option); these functions are the guard behind it:
// defined for every double and every clock value, with no out-of-range float-to-integer
// conversion and no signed overflow. native/tests runs them under -fsanitize=undefined and
// -fsanitize=float-cast-overflow (scripts/native-tests.mjs).
#pragma once

#include <cstdint>

namespace cascadeserve {

// Longest budget kept as given, microseconds (24 hours); a longer finite budget is clamped
// to it. Mirrored by kMaxBudgetUs in ts/engine/config.ts, which refuses longer ones;
// EngineHandle.maxBudgetUs exports this value so a test pins the two.
constexpr double kMaxBudgetUs = 86400.0 * 1e6;

// The absolute deadline (microseconds, 0 = none) for budget_us microseconds from now_us:
//   +Infinity                     -> 0 (no deadline)
//   > 0 and finite                -> now_us + min(budget_us, kMaxBudgetUs) truncated, at
//                                    least 1 and at most INT64_MAX (saturating)
//   <= 0, -Infinity or NaN        -> a deadline already past (the lane times the item out
//                                    without running it): max(1, now_us - 1)
int64_t DeadlineFromBudgetUs(double budget_us, int64_t now_us);

// DeadlineFromBudgetUs for n budgets against one clock reading.
void DeadlinesFromBudgetsUs(const double* budgets_us, int64_t n, int64_t now_us, int64_t* deadlines_us);

// The integer nearest below x, saturated to [INT64_MIN, INT64_MAX]; NaN gives 0. For
// doubles that crossed from JavaScript into int64 fields (the guard behind validation).
int64_t SaturatingInt64FromDouble(double x);

}  // namespace cascadeserve
