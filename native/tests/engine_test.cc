// Engine tests without Node: fake runners, exact batch sizes through Pause/Resume, exactly-
// once completion under gear churn, timeouts, failures, refusals and Close.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>
#include <thread>

#include "engine_fixture.h"

using namespace cascadeserve;
using namespace std::chrono_literals;

namespace cstest {
Counters& GetCounters() {
  static Counters counters;
  return counters;
}
std::vector<TestCase>& Registry() {
  static std::vector<TestCase> registry;
  return registry;
}
}  // namespace cstest

using namespace cstest;

TEST(RoutingThreeStageCascadeMatchesReference) {
  Fixture f(3, {{0}, {0, 1}, {1}}, 2);
  GearConfig gear{7, {Stage(0, 0.55f, CertaintyMeasure::kMaxProb, 8, 200),
                      Stage(1, 0.35f, CertaintyMeasure::kMargin, 4, 100),
                      Stage(2, 0.99f, CertaintyMeasure::kEntropy, 16, 0)}};
  CHECK(f.Start(gear).ok());
  const int64_t n = 600;
  std::vector<uint8_t> accepted = f.Submit(0, n, nullptr, nullptr, kResultOutput);
  CHECK(std::all_of(accepted.begin(), accepted.end(), [](uint8_t a) { return a == 1; }));
  CHECK(f.collector.WaitFor(n));
  int64_t exits_by_stage[3] = {0, 0, 0};
  int mismatches = 0;
  std::lock_guard<std::mutex> lock(f.collector.mu);
  for (const ItemResult& r : f.collector.results) {
    const std::vector<float> x = InputFor(r.ticket);
    int expected_stage = 0;
    std::vector<float> logits;
    double certainty = 0;
    for (int s = 0; s < 3; ++s) {
      logits = f.maps[gear.stages[s].model]->Apply(x);
      certainty = RefCertainty(logits, gear.stages[s].measure);
      expected_stage = s;
      if (s == 2 || certainty >= gear.stages[s].threshold) break;
    }
    const int expected_class = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    const bool ok = r.status == StatusCode::kOk && r.exit_stage == expected_stage &&
                    r.model == gear.stages[expected_stage].model && r.predicted_class == expected_class &&
                    std::fabs(r.certainty - certainty) < 1e-6 && r.output == logits;
    if (!ok && ++mismatches <= 3) {
      CHECK(ok);
      std::fprintf(stderr, "  ticket %llu: stage %d vs %d, class %d vs %d, cert %.9f vs %.9f\n",
                   static_cast<unsigned long long>(r.ticket), r.exit_stage, expected_stage, r.predicted_class,
                   expected_class, r.certainty, certainty);
    }
    if (r.exit_stage >= 0 && r.exit_stage < 3) exits_by_stage[r.exit_stage]++;
  }
  CHECK_EQ(mismatches, 0);
  CHECK_EQ(f.collector.results.size(), static_cast<size_t>(n));
  // The thresholds were chosen so that every stage answers some requests.
  CHECK(exits_by_stage[0] > 0 && exits_by_stage[1] > 0 && exits_by_stage[2] > 0);
  std::printf("  exits by stage: %lld %lld %lld\n", static_cast<long long>(exits_by_stage[0]),
              static_cast<long long>(exits_by_stage[1]), static_cast<long long>(exits_by_stage[2]));
  EngineStats stats = f.engine->Stats();
  CHECK_EQ(stats.gear_id, 7);
  CHECK_EQ(stats.queues[0].exits, exits_by_stage[0]);
  CHECK_EQ(stats.queues[1].exits, exits_by_stage[1]);
  CHECK_EQ(stats.queues[2].exits, exits_by_stage[2]);
  CHECK_EQ(stats.queues[1].items, n - exits_by_stage[0]);
}

// kResultCertainties: the answering row's certainty under every measure, the very doubles
// the exit test compares (float(certainties[stage measure]) is the certainty column), and
// nothing for requests that did not ask.
TEST(CertaintiesOfEveryMeasureWhenAsked) {
  Fixture f(2, {{0}, {0}});
  GearConfig gear{3, {Stage(0, 0.4f, CertaintyMeasure::kMargin, 8, 0), Stage(1, 0.f, CertaintyMeasure::kEntropy, 8, 0)}};
  CHECK(f.Start(gear).ok());
  f.Submit(0, 200, nullptr, nullptr, kResultCertainties);
  f.Submit(1000, 50, nullptr, nullptr, kResultOutput);
  CHECK(f.collector.WaitFor(250));
  int exits[2] = {0, 0};
  int bad = 0;
  std::lock_guard<std::mutex> lock(f.collector.mu);
  for (const ItemResult& r : f.collector.results) {
    if (r.status != StatusCode::kOk || r.exit_stage < 0 || r.exit_stage > 1) {
      ++bad;
      continue;
    }
    exits[r.exit_stage]++;
    const GearStage& stage = gear.stages[r.exit_stage];
    if (r.ticket >= 1000) {
      if (r.has_certainties || !std::isnan(r.certainties[0]) || r.output.empty()) ++bad;
      continue;
    }
    const std::vector<float> logits = f.maps[stage.model]->Apply(InputFor(r.ticket));
    bool ok = r.has_certainties && r.output.empty();
    for (int m = 0; m < kCertaintyMeasureCount; ++m) {
      ok = ok && std::fabs(r.certainties[m] - RefCertainty(logits, static_cast<CertaintyMeasure>(m))) < 1e-12;
    }
    const double routed = r.certainties[static_cast<int>(stage.measure)];
    ok = ok && static_cast<float>(routed) == r.certainty;
    if (r.exit_stage == 0) ok = ok && routed >= static_cast<double>(stage.threshold);
    if (!ok && ++bad <= 3) CHECK(ok);
  }
  CHECK_EQ(bad, 0);
  CHECK(exits[0] > 0 && exits[1] > 0);
}

TEST(BatchSizesWithHoldAreExact) {
  Fixture f(1, {{0}});
  CHECK(f.Start(SingleStage(4)).ok());
  f.engine->Pause();
  f.Submit(0, 10);
  CHECK_EQ(f.engine->Stats().queues[0].queue_length, 10);
  f.engine->Resume();
  CHECK(f.collector.WaitFor(10));
  CHECK((f.log.BatchSizes() == std::vector<int64_t>{4, 4, 2}));
  std::lock_guard<std::mutex> lock(f.collector.mu);
  CHECK((f.collector.call_sizes == std::vector<size_t>{4, 4, 2}));  // one callback per batch
}

TEST(WaitingPartialBatchFollowsSetGear) {
  Fixture f(1, {{0}});
  CHECK(f.Start(SingleStage(4, /*delay_us=*/60'000'000)).ok());
  f.engine->Pause();
  f.Submit(0, 10);
  f.engine->Resume();
  CHECK(f.collector.WaitFor(8));  // two full batches go at once despite the long delay
  std::this_thread::sleep_for(20ms);
  CHECK_EQ(f.collector.Count(), 8u);  // the partial one waits for its delay...
  CHECK(f.engine->SetGear(SingleStage(4, 0)).ok());  // ...until the gear says not to
  CHECK(f.collector.WaitFor(10));
  CHECK((f.log.BatchSizes() == std::vector<int64_t>{4, 4, 2}));
}

// Arrivals behind queued items do not wake the lane (ArrivalNeedsWake); the ones that change
// its decision must, or they would wait for the oldest item's long delay.
TEST(ArrivalsThatCompleteABatchOrBringAnEarlierDeadlineWakeTheLane) {
  Fixture f(1, {{0}});
  CHECK(f.Start(SingleStage(4, /*delay_us=*/60'000'000)).ok());
  f.Submit(0, 1);
  std::this_thread::sleep_for(20ms);  // the lane has seen it and waits on its 60 s timer
  f.Submit(1, 2);
  std::this_thread::sleep_for(20ms);
  CHECK_EQ(f.collector.Count(), 0u);
  f.Submit(3, 1);  // the fourth item: a full batch, dispatched at once
  CHECK(f.collector.WaitFor(4, 5000ms));
  CHECK((f.log.BatchSizes() == std::vector<int64_t>{4}));

  f.Submit(4, 1);  // no deadline: the lane's timer is 60 s away
  std::this_thread::sleep_for(20ms);
  const int64_t deadline[1] = {Engine::NowUs() + 10'000};
  f.Submit(5, 1, deadline);  // earlier than any queued deadline: the lane must sweep it
  CHECK(f.collector.WaitFor(5, 5000ms));
  std::lock_guard<std::mutex> lock(f.collector.mu);
  CHECK_EQ(f.collector.results.back().ticket, 5u);
  CHECK(f.collector.results.back().status == StatusCode::kTimeout);
}

TEST(MaxQueueDelayDispatchesPartialBatch) {
  Fixture f(1, {{0}});
  const int64_t delay_us = 50'000;
  CHECK(f.Start(SingleStage(8, delay_us)).ok());
  const int64_t start_us = Engine::NowUs();
  f.Submit(0, 3);
  CHECK(f.collector.WaitFor(3));
  const int64_t elapsed_us = Engine::NowUs() - start_us;
  CHECK(elapsed_us >= delay_us);
  CHECK((f.log.BatchSizes() == std::vector<int64_t>{3}));
  std::lock_guard<std::mutex> lock(f.collector.mu);
  for (const ItemResult& r : f.collector.results) CHECK(r.queued_us >= delay_us);
}

TEST(QueueFullRefusesAtOnce) {
  Fixture f(1, {{0}}, 1, /*max_queue=*/5);
  CHECK(f.Start(SingleStage(8)).ok());
  f.engine->Pause();
  std::vector<uint8_t> accepted = f.Submit(0, 8);
  CHECK((accepted == std::vector<uint8_t>{1, 1, 1, 1, 1, 0, 0, 0}));
  CHECK_EQ(f.engine->Stats().queues[0].refusals, 3);
  f.engine->Resume();
  CHECK(f.collector.WaitFor(5));
  f.engine->Close();
  std::lock_guard<std::mutex> lock(f.collector.mu);
  CHECK_EQ(f.collector.results.size(), 5u);  // refused tickets never reach the callback
  for (const ItemResult& r : f.collector.results) CHECK(r.ticket < 5 && r.status == StatusCode::kOk);
}

TEST(ExpiredDeadlineTimesOutWithoutRunning) {
  Fixture f(1, {{0}});
  CHECK(f.Start(SingleStage(8)).ok());
  f.engine->Pause();
  const int64_t now_us = Engine::NowUs();
  const int64_t deadlines[5] = {now_us + 2000, 0, now_us + 2000, 0, now_us - 1};
  f.Submit(0, 5, deadlines);
  // Paused lanes still sweep deadlines: the three time out without any batch.
  CHECK(f.collector.WaitFor(3));
  CHECK_EQ(f.log.Rows(), 0);
  f.engine->Resume();
  CHECK(f.collector.WaitFor(5));
  CHECK_EQ(f.log.Rows(), 2);
  std::lock_guard<std::mutex> lock(f.collector.mu);
  for (const ItemResult& r : f.collector.results) {
    const bool has_deadline = deadlines[r.ticket] != 0;
    CHECK(r.status == (has_deadline ? StatusCode::kTimeout : StatusCode::kOk));
  }
  CHECK_EQ(f.engine->Stats().queues[0].timeouts, 3);
}

// A failing batch is rerun row by row, so only the row the runner rejects fails; its
// batch-mates (tickets 4, 6, 7) are answered normally.
TEST(InjectedFailureFailsOnlyItsRow) {
  Fixture f(1, {{0}});
  CHECK(f.Start(SingleStage(4)).ok());
  f.engine->Pause();
  std::vector<uint64_t> tickets;
  std::vector<float> inputs;
  for (uint64_t t = 0; t < 12; ++t) {
    tickets.push_back(t);
    std::vector<float> x = InputFor(t);
    if (t == 5) x[0] = kFailMarker;  // second batch: tickets 4..7
    inputs.insert(inputs.end(), x.begin(), x.end());
  }
  std::vector<uint8_t> accepted(12);
  CHECK(f.engine->Submit(12, tickets.data(), inputs.data(), nullptr, nullptr, nullptr, accepted.data()).ok());
  f.engine->Resume();
  CHECK(f.collector.WaitFor(12));
  f.Submit(100, 4);  // the engine keeps serving
  CHECK(f.collector.WaitFor(16));
  std::lock_guard<std::mutex> lock(f.collector.mu);
  for (const ItemResult& r : f.collector.results) {
    const bool poisoned = r.ticket == 5;
    CHECK(r.status == (poisoned ? StatusCode::kRuntimeError : StatusCode::kOk));
    CHECK(r.error_message == (poisoned ? "injected failure" : ""));
  }
  CHECK((f.collector.call_errors == std::vector<std::string>{"", "injected failure", "", ""}));
  CHECK_EQ(f.engine->Stats().queues[0].failures, 1);
  CHECK_EQ(f.engine->Stats().queues[0].exits, 15);
}

TEST(PriorityOrderThenFifo) {
  Fixture f(1, {{0}});
  CHECK(f.Start(SingleStage(1)).ok());
  f.engine->Pause();
  const int32_t priorities[6] = {3, 1, 2, 1, 3, 2};
  f.Submit(0, 6, nullptr, priorities);
  f.engine->Resume();
  CHECK(f.collector.WaitFor(6));
  std::vector<uint64_t> order;
  std::lock_guard<std::mutex> lock(f.collector.mu);
  for (const ItemResult& r : f.collector.results) order.push_back(r.ticket);
  CHECK((order == std::vector<uint64_t>{1, 3, 2, 5, 0, 4}));
}

int main() {
  int failed_tests = 0;
  for (const cstest::TestCase& test : cstest::Registry()) {
    const int before = cstest::GetCounters().failed.load();
    std::printf("[ RUN  ] %s\n", test.name);
    std::fflush(stdout);
    test.fn();
    const bool ok = cstest::GetCounters().failed.load() == before;
    failed_tests += ok ? 0 : 1;
    std::printf("[ %s ] %s\n", ok ? " OK " : "FAIL", test.name);
  }
  std::printf("%zu tests, %d failed\n", cstest::Registry().size(), failed_tests);
  std::printf("%d passed, %d failed\n", cstest::GetCounters().passed.load(), cstest::GetCounters().failed.load());
  return cstest::GetCounters().failed.load() == 0 ? 0 : 1;
}
