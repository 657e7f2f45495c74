// Unit tests of the pure parts: certainty, batch policy, lane weights, stage queue.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "engine/batch_assembly.h"
#include "engine/batch_policy.h"
#include "engine/certainty.h"
#include "engine/stage_queue.h"
#include "test_harness.h"

using namespace cascadeserve;

namespace {

// Independent reference: long double, softmax without the max shift, explicit sort.
std::vector<long double> RefProbs(const std::vector<float>& row, OutputKind kind) {
  std::vector<long double> p(row.size());
  if (kind == OutputKind::kProbabilities) {
    for (size_t i = 0; i < row.size(); ++i) p[i] = row[i];
    return p;
  }
  long double sum = 0;
  for (float x : row) sum += std::exp(static_cast<long double>(x));
  for (size_t i = 0; i < row.size(); ++i) p[i] = std::exp(static_cast<long double>(row[i])) / sum;
  return p;
}

long double RefCertainty(const std::vector<float>& row, OutputKind kind, CertaintyMeasure measure) {
  std::vector<long double> p = RefProbs(row, kind);
  std::vector<long double> sorted = p;
  std::sort(sorted.begin(), sorted.end(), [](long double a, long double b) { return a > b; });
  switch (measure) {
    case CertaintyMeasure::kMaxProb: return sorted[0];
    case CertaintyMeasure::kMargin: return sorted.size() < 2 ? 1.0L : sorted[0] - sorted[1];
    case CertaintyMeasure::kEntropy: {
      if (p.size() < 2) return 1.0L;
      long double h = 0;
      for (long double q : p) if (q > 0) h -= q * std::log(q);
      return 1.0L - h / std::log(static_cast<long double>(p.size()));
    }
  }
  return 0;
}

double Certainty(const std::vector<float>& row, OutputKind kind, CertaintyMeasure measure, int32_t* cls) {
  double c = 0;
  EvaluateCertainty(row.data(), 1, static_cast<int64_t>(row.size()), kind, measure, cls, &c);
  return c;
}

RequestPtr MakeRequest(uint64_t ticket, int32_t priority, int64_t enqueue_us, int64_t deadline_us = 0) {
  auto r = std::make_unique<Request>();
  r->ticket = ticket;
  r->priority = priority;
  r->enqueue_us = enqueue_us;
  r->deadline_us = deadline_us;
  return r;
}

std::vector<uint64_t> Tickets(const std::vector<RequestPtr>& requests) {
  std::vector<uint64_t> out;
  for (const auto& r : requests) out.push_back(r->ticket);
  return out;
}

}  // namespace

TEST(CertaintyKnownValues) {
  int32_t cls = -1;
  CHECK_NEAR(Certainty({0, 0}, OutputKind::kLogits, CertaintyMeasure::kMaxProb, &cls), 0.5, 1e-12);
  CHECK_EQ(cls, 0);  // ties: lowest index
  CHECK_NEAR(Certainty({0, 0}, OutputKind::kLogits, CertaintyMeasure::kMargin, &cls), 0.0, 1e-12);
  CHECK_NEAR(Certainty({0, 0}, OutputKind::kLogits, CertaintyMeasure::kEntropy, &cls), 0.0, 1e-12);
  CHECK_NEAR(Certainty({0.f, 1.f, 0.f}, OutputKind::kProbabilities, CertaintyMeasure::kMaxProb, &cls), 1.0, 1e-12);
  CHECK_EQ(cls, 1);
  CHECK_NEAR(Certainty({0.f, 1.f, 0.f}, OutputKind::kProbabilities, CertaintyMeasure::kMargin, &cls), 1.0, 1e-12);
  CHECK_NEAR(Certainty({0.f, 1.f, 0.f}, OutputKind::kProbabilities, CertaintyMeasure::kEntropy, &cls), 1.0, 1e-12);
  // Large logits: the max shift keeps exp finite.
  CHECK_NEAR(Certainty({1000.f, 0.f}, OutputKind::kLogits, CertaintyMeasure::kMaxProb, &cls), 1.0, 1e-12);
  CHECK_NEAR(Certainty({-1000.f, -1000.f}, OutputKind::kLogits, CertaintyMeasure::kMaxProb, &cls), 0.5, 1e-12);
  // One class: everything is certain.
  CHECK_NEAR(Certainty({3.f}, OutputKind::kLogits, CertaintyMeasure::kMaxProb, &cls), 1.0, 1e-12);
  CHECK_NEAR(Certainty({3.f}, OutputKind::kLogits, CertaintyMeasure::kMargin, &cls), 1.0, 1e-12);
  CHECK_NEAR(Certainty({3.f}, OutputKind::kLogits, CertaintyMeasure::kEntropy, &cls), 1.0, 1e-12);
  // NaN logits never pass a threshold.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isnan(Certainty({0.f, nan}, OutputKind::kLogits, CertaintyMeasure::kMaxProb, &cls)));
  CHECK(std::isnan(Certainty({0.f, nan}, OutputKind::kLogits, CertaintyMeasure::kEntropy, &cls)));
}

TEST(CertaintyMatchesIndependentFormulas) {
  std::mt19937 rng(7);
  std::normal_distribution<float> logit(0.f, 3.f);
  double worst = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    const int classes = 2 + trial % 12;
    std::vector<float> rows(static_cast<size_t>(classes) * 4);
    for (float& x : rows) x = logit(rng);
    for (int kind = 0; kind < 2; ++kind) {
      std::vector<float> values = rows;
      if (kind == 1) {  // turn each row into probabilities (float), as a model would output
        for (int r = 0; r < 4; ++r) {
          std::vector<float> row(values.begin() + r * classes, values.begin() + (r + 1) * classes);
          std::vector<long double> p = RefProbs(row, OutputKind::kLogits);
          for (int c = 0; c < classes; ++c) values[r * classes + c] = static_cast<float>(p[c]);
        }
      }
      for (int m = 0; m < 3; ++m) {
        const auto measure = static_cast<CertaintyMeasure>(m);
        const auto output_kind = static_cast<OutputKind>(kind);
        int32_t cls[4];
        double cert[4];
        EvaluateCertainty(values.data(), 4, classes, output_kind, measure, cls, cert);
        for (int r = 0; r < 4; ++r) {
          std::vector<float> row(values.begin() + r * classes, values.begin() + (r + 1) * classes);
          const long double expected = RefCertainty(row, output_kind, measure);
          worst = std::max(worst, std::fabs(cert[r] - static_cast<double>(expected)));
          const int argmax = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
          if (cls[r] != argmax) CHECK_EQ(cls[r], argmax);
        }
      }
    }
  }
  CHECK(worst < 1e-9);
  std::printf("  certainty max |diff| vs long-double reference: %.3g\n", worst);
}

TEST(BinaryScoresWidenToTwoClasses) {
  // A sigmoid head's one column: the widened row's certainty is that of [1 - p, p] with
  // p = sigmoid(z) (logit) or p itself (probability), computed here in long double.
  const std::vector<float> scores = {-4.5f, -0.25f, 0.f, 0.3f, 2.f, 17.f};
  for (OutputKind kind : {OutputKind::kBinaryLogit, OutputKind::kBinaryProbability}) {
    CHECK(IsBinaryScore(kind));
    CHECK_EQ(ModelOutputColumns(kind, 2), 1);
    std::vector<float> in = scores;
    if (kind == OutputKind::kBinaryProbability) {
      for (float& v : in) v = static_cast<float>(1.0L / (1.0L + std::exp(-static_cast<long double>(v))));
    }
    std::vector<float> rows2(in.size() * 2, -1.f);
    ExpandBinaryScores(in.data(), static_cast<int64_t>(in.size()), kind, rows2.data());
    for (size_t r = 0; r < in.size(); ++r) {
      const long double p = kind == OutputKind::kBinaryLogit ? 1.0L / (1.0L + std::exp(-static_cast<long double>(in[r])))
                                                             : static_cast<long double>(in[r]);
      const std::vector<float> two = {static_cast<float>(1.0L - p), static_cast<float>(p)};
      int32_t cls = -1;
      const double got = RowCertainty(rows2.data() + 2 * r, 2, RowKind(kind), CertaintyMeasure::kMaxProb, &cls);
      CHECK_NEAR(got, static_cast<double>(std::max(p, 1.0L - p)), 1e-7);
      CHECK_EQ(cls, p > 0.5L ? 1 : 0);
      for (int m = 1; m < 3; ++m) {
        const auto measure = static_cast<CertaintyMeasure>(m);
        CHECK_NEAR(RowCertainty(rows2.data() + 2 * r, 2, RowKind(kind), measure, &cls),
                   static_cast<double>(RefCertainty(two, OutputKind::kProbabilities, measure)), 1e-6);
      }
    }
  }
  CHECK(!IsBinaryScore(OutputKind::kLogits));
  CHECK_EQ(ModelOutputColumns(OutputKind::kProbabilities, 7), 7);
  CHECK(RowKind(OutputKind::kLogits) == OutputKind::kLogits);
}

TEST(BatchPolicyTritonRule) {
  using K = BatchDecision::Kind;
  CHECK(DecideBatch(0, INT64_MAX, 8, 100, 1000).kind == K::kIdle);
  BatchDecision full = DecideBatch(10, 990, 8, 100, 1000);
  CHECK(full.kind == K::kDispatch);
  CHECK_EQ(full.batch_size, 8);
  BatchDecision wait = DecideBatch(3, 950, 8, 100, 1000);
  CHECK(wait.kind == K::kWait);
  CHECK_EQ(wait.wake_at_us, 1050);
  BatchDecision due = DecideBatch(3, 900, 8, 100, 1000);
  CHECK(due.kind == K::kDispatch);
  CHECK_EQ(due.batch_size, 3);
  BatchDecision no_delay = DecideBatch(1, 1000, 8, 0, 1000);
  CHECK(no_delay.kind == K::kDispatch);
  CHECK_EQ(no_delay.batch_size, 1);
}

TEST(ArrivalNeedsWakeOnlyWhenItChangesTheLanesDecision) {
  // An empty queue's first items: the lanes have no timer for them yet.
  CHECK(ArrivalNeedsWake(0, 1, 8, INT64_MAX, INT64_MAX));
  // Behind queued items, below a batch: the lanes' timer (the oldest item's delay) stands.
  CHECK(!ArrivalNeedsWake(3, 4, 8, 500, 900));
  CHECK(!ArrivalNeedsWake(3, 7, 8, INT64_MAX, INT64_MAX));
  // A full batch is dispatched at once, so it needs a lane now.
  CHECK(ArrivalNeedsWake(7, 8, 8, 500, 900));
  CHECK(ArrivalNeedsWake(9, 10, 8, 500, 900));
  // An earlier deadline than any queued one moves the lanes' sweep.
  CHECK(ArrivalNeedsWake(3, 4, 8, 500, 400));
  CHECK(ArrivalNeedsWake(3, 4, 8, INT64_MAX, 900));
}

TEST(ChooseReadyStageEarliestDeadlineFirst) {
  CHECK_EQ(ChooseReadyStage({}), -1);
  std::vector<ReadyStage> ready = {{0, INT64_MAX, 10, 1}, {1, 500, 50, 1}, {2, 400, 90, 1}};
  CHECK_EQ(ChooseReadyStage(ready), 2);
  ready = {{0, INT64_MAX, 30, 1}, {1, INT64_MAX, 20, 1}, {2, INT64_MAX, 25, 1}};
  CHECK_EQ(ChooseReadyStage(ready), 1);  // no deadlines: longest waiting
}

TEST(LaneWeightsSmoothRoundRobin) {
  const std::vector<double> weights = {3, 1, 0};
  std::vector<double> credit(3, 0.0);
  int counts[3] = {0, 0, 0};
  std::vector<int> order;
  for (int i = 0; i < 400; ++i) {
    const int lane = DesignatedLane(weights, credit);
    ChargeClaim(weights, lane, &credit);
    counts[lane]++;
    if (i < 8) order.push_back(lane);
  }
  CHECK_EQ(counts[0], 300);
  CHECK_EQ(counts[1], 100);
  CHECK_EQ(counts[2], 0);
  CHECK((order == std::vector<int>{0, 0, 1, 0, 0, 0, 1, 0}));  // spread, not bursts
  CHECK_EQ(DesignatedLane({0, 0}, {0, 0}), -1);
}

TEST(StageQueuePriorityFifoAndBound) {
  StageQueue queue(4);
  RequestPtr a = MakeRequest(1, 2, 100), b = MakeRequest(2, 1, 200), c = MakeRequest(3, 2, 300),
             d = MakeRequest(4, 1, 400), e = MakeRequest(5, 1, 500);
  CHECK(queue.TryAdmit(&a));
  CHECK(queue.TryAdmit(&b));
  CHECK(queue.TryAdmit(&c));
  CHECK(queue.TryAdmit(&d));
  CHECK(!queue.TryAdmit(&e));  // full: refused, still owned by the caller
  CHECK(e != nullptr);
  queue.Push(std::move(e));    // forwarding bypasses the bound
  CHECK_EQ(queue.size(), 5);
  CHECK_EQ(queue.OldestEnqueueUs(), 100);  // oldest across levels, not the head
  CHECK_EQ(queue.Head()->ticket, 2u);
  std::vector<RequestPtr> out;
  queue.PopBatch(3, &out);
  CHECK((Tickets(out) == std::vector<uint64_t>{2, 4, 5}));
  out.clear();
  queue.DrainAll(&out);
  CHECK((Tickets(out) == std::vector<uint64_t>{1, 3}));
  CHECK(queue.empty());
  CHECK_EQ(queue.OldestEnqueueUs(), INT64_MAX);
}

TEST(StageQueueRemoveExpired) {
  StageQueue queue(100);
  queue.Push(MakeRequest(1, 1, 0, 50));
  queue.Push(MakeRequest(2, 1, 0));
  queue.Push(MakeRequest(3, 1, 0, 30));
  queue.Push(MakeRequest(4, 2, 0, 80));
  queue.Push(MakeRequest(5, 1, 0, 200));
  CHECK_EQ(queue.EarliestDeadlineBoundUs(), 30);
  std::vector<RequestPtr> expired;
  queue.RemoveExpired(20, &expired);
  CHECK(expired.empty());
  queue.RemoveExpired(60, &expired);
  CHECK((Tickets(expired) == std::vector<uint64_t>{1, 3}));
  CHECK_EQ(queue.EarliestDeadlineBoundUs(), 80);
  std::vector<RequestPtr> rest;
  queue.DrainAll(&rest);
  CHECK((Tickets(rest) == std::vector<uint64_t>{2, 5, 4}));
}

TEST(GatherRowsMatchesRows) {
  std::vector<std::vector<float>> rows = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}};
  const float* pointers[3] = {rows[2].data(), rows[0].data(), rows[1].data()};
  std::vector<float> dst(9, 0);
  GatherRows(pointers, 3, 3, dst.data());
  CHECK((dst == std::vector<float>{7, 8, 9, 1, 2, 3, 4, 5, 6}));
}
