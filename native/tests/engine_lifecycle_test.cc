// Engine tests of gear changes, lane weights, validation and shutdown.
#include <atomic>
#include <cstdio>
#include <thread>

#include "engine_fixture.h"

using namespace cascadeserve;
using namespace cstest;
using namespace std::chrono_literals;

TEST(SetGearEveryMillisecondUnderLoadCompletesEachTicketOnce) {
  Fixture f(3, {{0, 1}, {0, 1}, {1}}, 2);
  const std::vector<GearConfig> gears = {
      {1, {Stage(0, 0.5f, CertaintyMeasure::kMaxProb, 16, 300), Stage(1, 0.3f, CertaintyMeasure::kMargin, 8, 100),
           Stage(2, 0.f, CertaintyMeasure::kEntropy, 32, 0)}},
      {2, {Stage(2, 0.7f, CertaintyMeasure::kMaxProb, 4, 0), Stage(0, 0.f, CertaintyMeasure::kMaxProb, 8, 500, {1, 3})}},
      {3, {Stage(1, 0.f, CertaintyMeasure::kEntropy, 32, 1000, {0, 1})}},
  };
  CHECK(f.Start(gears[0]).ok());
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 5000;
  constexpr uint64_t kTotal = kThreads * kPerThread;
  std::atomic<bool> submitting{true};
  std::atomic<int64_t> refused{0};
  std::thread switcher([&] {
    // Keeps switching until every ticket is answered, so requests also drain under churn.
    for (int i = 1; submitting.load() || f.collector.Count() < kTotal; ++i) {
      CHECK(f.engine->SetGear(gears[i % gears.size()]).ok());
      std::this_thread::sleep_for(1ms);
    }
  });
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      for (uint64_t first = t * kPerThread; first < (t + 1) * kPerThread; first += 50) {
        const std::vector<uint8_t> accepted = f.Submit(first, 50, nullptr, nullptr, first % 100 == 0 ? kResultOutput : 0);
        for (uint8_t a : accepted) refused += a ? 0 : 1;
        std::this_thread::sleep_for(200us);  // spread submissions over many gear switches
      }
    });
  }
  for (auto& thread : submitters) thread.join();
  submitting = false;
  CHECK_EQ(refused.load(), 0);
  CHECK(f.collector.WaitFor(kTotal, 60000ms));
  switcher.join();
  std::this_thread::sleep_for(10ms);  // a duplicate, if any, would show up now
  f.engine->Close();

  std::vector<int> completions(kTotal, 0);
  int bad_status = 0, bad_prediction = 0;
  std::lock_guard<std::mutex> lock(f.collector.mu);
  for (const ItemResult& r : f.collector.results) {
    if (r.ticket < kTotal) completions[r.ticket]++;
    if (r.status != StatusCode::kOk) {
      bad_status++;
      continue;
    }
    // Batch assembly under churn: the answer is the exit model's map of this ticket's input.
    const std::vector<float> logits = f.maps[r.model]->Apply(InputFor(r.ticket));
    const int expected = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (r.predicted_class != expected) bad_prediction++;
  }
  CHECK_EQ(f.collector.results.size(), static_cast<size_t>(kTotal));
  CHECK(std::all_of(completions.begin(), completions.end(), [](int c) { return c == 1; }));
  CHECK_EQ(bad_status, 0);
  CHECK_EQ(bad_prediction, 0);
  const EngineStats stats = f.engine->Stats();
  std::printf("  gear switches: %lld, lane batches: %lld / %lld\n", static_cast<long long>(stats.gear_switches),
              static_cast<long long>(stats.lanes[0].batches), static_cast<long long>(stats.lanes[1].batches));
  CHECK(stats.gear_switches > 10);
}

TEST(RequestKeepsItsGearWhenItsModelLeaves) {
  Fixture f(3, {{0}, {0}, {0}});
  // Stage 0 never exits (threshold above any certainty); stage 1 waits for a full batch.
  CHECK(f.Start({1, {Stage(0, 2.f, CertaintyMeasure::kMaxProb, 8, 0),
                     Stage(1, 0.f, CertaintyMeasure::kMaxProb, 8, 60'000'000)}}).ok());
  f.Submit(0, 5);
  while (f.engine->Stats().queues[1].queue_length < 5) std::this_thread::sleep_for(1ms);
  CHECK_EQ(f.collector.Count(), 0u);
  CHECK(f.engine->SetGear({2, {Stage(2, 0.f, CertaintyMeasure::kMaxProb, 8, 0)}}).ok());
  CHECK(f.collector.WaitFor(5));  // model 1's queue drains without waiting
  f.Submit(100, 3);
  CHECK(f.collector.WaitFor(8));
  std::lock_guard<std::mutex> lock(f.collector.mu);
  for (const ItemResult& r : f.collector.results) {
    if (r.ticket < 100) CHECK(r.exit_stage == 1 && r.model == 1);  // old gear, to the end
    else CHECK(r.exit_stage == 0 && r.model == 2);                 // new gear
  }
}

TEST(CloseCancelsPendingExactlyOnce) {
  Fixture f(1, {{0}});
  CHECK(f.Start(SingleStage(4)).ok());
  f.engine->Pause();
  f.Submit(0, 100);
  f.engine->Close();
  f.engine->Close();  // idempotent
  {
    std::lock_guard<std::mutex> lock(f.collector.mu);
    CHECK_EQ(f.collector.results.size(), 100u);
    std::vector<int> seen(100, 0);
    for (const ItemResult& r : f.collector.results) {
      CHECK(r.status == StatusCode::kCancelled);
      seen[r.ticket]++;
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
    CHECK(f.collector.call_threads.size() == 1 && f.collector.call_threads[0] == std::this_thread::get_id());
  }
  Status status;
  std::vector<uint8_t> accepted = f.Submit(200, 3, nullptr, nullptr, false, &status);
  CHECK(status.code() == StatusCode::kUnavailable);
  CHECK((accepted == std::vector<uint8_t>{0, 0, 0}));
  CHECK_EQ(f.engine->Stats().queues[0].cancellations, 100);
}

TEST(CloseWhileRunningCompletesEachTicketOnce) {
  Fixture f(2, {{0}, {0}});
  f.runner_delay = 500us;
  CHECK(f.Start({1, {Stage(0, 0.6f, CertaintyMeasure::kMaxProb, 8, 0), Stage(1, 0.f, CertaintyMeasure::kMaxProb, 8, 0)}}).ok());
  f.Submit(0, 400);
  // Close once the first batch is answered (not after a fixed sleep: under a sanitizer on a
  // busy machine no batch may have run by then); 400 items at 500 us per batch of 8 are far
  // from done at that point.
  CHECK(f.collector.WaitFor(1));
  f.engine->Close();
  std::lock_guard<std::mutex> lock(f.collector.mu);
  std::vector<int> seen(400, 0);
  int ok = 0, cancelled = 0;
  for (const ItemResult& r : f.collector.results) {
    seen[r.ticket]++;
    ok += r.status == StatusCode::kOk;
    cancelled += r.status == StatusCode::kCancelled;
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
  CHECK_EQ(ok + cancelled, 400);
  CHECK(ok > 0 && cancelled > 0);
}

TEST(LaneWeightsSteerBatches) {
  Fixture f(1, {{0, 1}}, 2);
  CHECK(f.Start({1, {Stage(0, 0.f, CertaintyMeasure::kMaxProb, 1, 0, {1, 0})}}).ok());
  f.Submit(0, 50);
  CHECK(f.collector.WaitFor(50));
  {
    std::lock_guard<std::mutex> lock(f.log.mu);
    CHECK(std::all_of(f.log.batch_lanes.begin(), f.log.batch_lanes.end(), [](int l) { return l == 0; }));
    f.log.batch_lanes.clear();
  }
  CHECK(f.engine->SetGear({2, {Stage(0, 0.f, CertaintyMeasure::kMaxProb, 1, 0, {0, 2})}}).ok());
  f.Submit(100, 50);
  CHECK(f.collector.WaitFor(100));
  std::lock_guard<std::mutex> lock(f.log.mu);
  CHECK_EQ(f.log.batch_lanes.size(), 50u);
  CHECK(std::all_of(f.log.batch_lanes.begin(), f.log.batch_lanes.end(), [](int l) { return l == 1; }));
}

TEST(ValidationMessagesNameTheField) {
  {
    Fixture f(3, {{0}, {1}, {5}}, 2);
    Status status = f.Start(SingleStage(1));
    CHECK_EQ(status.message(), std::string("placement[2][0]: lane 5 does not exist (2 lanes)"));
    CHECK(f.engine == nullptr);
  }
  {
    Fixture f(2, {{0}, {}});
    Status status = f.Start({1, {Stage(0, 0.5f, CertaintyMeasure::kMaxProb, 1, 0), Stage(1, 0.f, CertaintyMeasure::kMaxProb, 1, 0)}});
    CHECK_EQ(status.message(), std::string("gear.stages[1].model: model 1 ('m1') is not placed on any lane"));
  }
  Fixture f(2, {{0, 1}, {1}}, 2);
  CHECK(f.Start(SingleStage(1)).ok());
  Status status = f.engine->SetGear({2, {Stage(0, 0.5f, CertaintyMeasure::kMaxProb, 1, 0), Stage(0, 0.f, CertaintyMeasure::kMaxProb, 1, 0)}});
  CHECK_EQ(status.message(), std::string("gear.stages[1].model: model 0 ('m0') is already stage 0"));
  status = f.engine->SetGear({2, {Stage(1, 0.f, CertaintyMeasure::kMaxProb, 1, 0, {1, 1})}});
  CHECK_EQ(status.message(), std::string("gear.stages[0].lane_weights[0]: lane 0 does not host model 1 ('m1'), so its weight must be 0"));
  status = f.engine->SetGear({2, {Stage(3, 0.f, CertaintyMeasure::kMaxProb, 1, 0)}});
  CHECK_EQ(status.message(), std::string("gear.stages[0].model: model 3 does not exist (2 models)"));
  status = f.engine->SetGear({2, {Stage(0, 0.f, CertaintyMeasure::kMaxProb, 0, 0)}});
  CHECK_EQ(status.message(), std::string("gear.stages[0].max_batch: must be >= 1 (got 0)"));
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK_EQ(f.engine->Stats().gear_id, 1);  // a refused gear changes nothing
  const int32_t bad_priority[1] = {0};
  f.Submit(0, 1, nullptr, bad_priority, false, &status);
  CHECK_EQ(status.message(), std::string("priorities[0]: must be >= 1 (got 0)"));
}

TEST(RunnerFactoryFailureFailsCreate) {
  EngineConfig config;
  config.models = {{"tiny", kIn, kClasses, OutputKind::kLogits}};
  config.lanes = {{LaneConfig::kCuda, 0}};
  config.placement = {{0}};
  Collector collector;
  std::unique_ptr<Engine> engine;
  Status status = Engine::Create(
      config, SingleStage(1),
      [](int, int, std::unique_ptr<ModelRunner>*) { return Status::Unavailable("CUDA provider not available"); },
      collector.Fn(), &engine);
  CHECK(status.code() == StatusCode::kUnavailable);
  CHECK_EQ(status.message(), std::string("models[0] ('tiny') on lane 0: CUDA provider not available"));
  CHECK(engine == nullptr);
}
