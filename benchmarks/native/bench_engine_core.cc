// Microbenchmark of the engine core's hot path, printing one JSON object:
//  - batch assembly (GatherRows) GB/s vs one plain memcpy of the same bytes;
//  - threshold evaluation rows/s per certainty measure on 10-class logits;
//  - engine per-request overhead: items/s at saturation, 1 lane, batch 32, trivial runner.
// Medians over repetitions. Built by native/tests/CMakeLists.txt (target bench_engine_core).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "engine/batch_assembly.h"
#include "engine/certainty.h"
#include "engine/engine.h"

using namespace cascadeserve;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Keeps the optimizer from dropping work whose result is otherwise unused.
volatile double g_sink_value = 0;  // benchmark-local sink, not engine state
void Sink(double v) { g_sink_value = g_sink_value + v; }

struct GatherResult { double gather_gbps, memcpy_gbps; };

GatherResult BenchGather(int64_t rows, int64_t row_elems, int repetitions) {
  // Rows live in separate allocations, as requests' inputs do.
  std::vector<std::vector<float>> inputs(rows, std::vector<float>(row_elems, 1.0f));
  std::vector<const float*> pointers;
  for (auto& row : inputs) pointers.push_back(row.data());
  std::vector<float> contiguous(rows * row_elems, 2.0f), dst(rows * row_elems);
  const double bytes = static_cast<double>(rows * row_elems * sizeof(float));
  const int inner = 50;
  std::vector<double> gather, copy;
  for (int rep = 0; rep < repetitions; ++rep) {
    auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) GatherRows(pointers.data(), rows, row_elems, dst.data());
    auto t1 = Clock::now();
    Sink(dst[rep % dst.size()]);
    for (int i = 0; i < inner; ++i) std::memcpy(dst.data(), contiguous.data(), static_cast<size_t>(bytes));
    auto t2 = Clock::now();
    Sink(dst[rep % dst.size()]);
    gather.push_back(bytes * inner / Seconds(t1 - t0) / 1e9);
    copy.push_back(bytes * inner / Seconds(t2 - t1) / 1e9);
  }
  return {Median(gather), Median(copy)};
}

double BenchCertainty(CertaintyMeasure measure, int repetitions) {
  const int64_t rows = 4096, classes = 10;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.f, 3.f);
  std::vector<float> logits(rows * classes);
  for (float& v : logits) v = dist(rng);
  std::vector<int32_t> cls(rows);
  std::vector<double> cert(rows);
  std::vector<double> rates;
  for (int rep = 0; rep < repetitions; ++rep) {
    auto t0 = Clock::now();
    for (int i = 0; i < 20; ++i) {
      EvaluateCertainty(logits.data(), rows, classes, OutputKind::kLogits, measure, cls.data(), cert.data());
      Sink(cert[i]);
    }
    rates.push_back(20.0 * rows / Seconds(Clock::now() - t0));
  }
  return Median(rates);
}

class TrivialRunner : public ModelRunner {
 public:
  explicit TrivialRunner(int64_t classes) : classes_(classes) {}
  Status Run(const BatchTensor* inputs, int, int64_t rows, float* output) override {
    const float* input = static_cast<const float*>(inputs[0].data);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < classes_; ++c) output[r * classes_ + c] = c == 0 ? input[0] + 5.f : 0.f;
    }
    return Status::Ok();
  }

 private:
  int64_t classes_;
};

struct EngineResult { double items_per_s; double mean_batch; };

// Items/s through Submit -> batch -> certainty -> completion, 1 lane, batch 32, with the
// submitter keeping the queue non-empty (chunks of 256, at most 4096 in flight).
EngineResult BenchEngine(int64_t item_elems, int64_t total_items) {
  EngineConfig config;
  config.models = {{"trivial", item_elems, 10, OutputKind::kLogits}};
  config.lanes = {{LaneConfig::kCpu, 0}};
  config.placement = {{0}};
  config.max_queue_size_per_stage = 1 << 20;
  GearStage stage;
  stage.model = 0;
  stage.max_batch = 32;
  GearConfig gear{1, {stage}};
  std::mutex mu;
  std::condition_variable done_cv;
  int64_t done = 0;
  std::unique_ptr<Engine> engine;
  Status status = Engine::Create(
      config, gear,
      [](int, int, std::unique_ptr<ModelRunner>* out) {
        *out = std::make_unique<TrivialRunner>(10);
        return Status::Ok();
      },
      [&](std::vector<ItemResult>&& results, const std::string&) {
        std::lock_guard<std::mutex> lock(mu);
        done += static_cast<int64_t>(results.size());
        done_cv.notify_all();
      },
      &engine);
  if (!status.ok()) {
    std::fprintf(stderr, "engine: %s\n", status.message().c_str());
    return {0, 0};
  }
  const int64_t chunk = 256, max_in_flight = 4096;
  std::vector<uint64_t> tickets(chunk);
  std::vector<float> inputs(chunk * item_elems, 0.5f);
  std::vector<uint8_t> accepted(chunk);
  const auto t0 = Clock::now();
  for (int64_t submitted = 0; submitted < total_items; submitted += chunk) {
    {
      std::unique_lock<std::mutex> lock(mu);
      done_cv.wait(lock, [&] { return submitted - done <= max_in_flight - chunk; });
    }
    for (int64_t i = 0; i < chunk; ++i) tickets[i] = static_cast<uint64_t>(submitted + i);
    engine->Submit(chunk, tickets.data(), inputs.data(), nullptr, nullptr, nullptr, accepted.data());
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    done_cv.wait(lock, [&] { return done >= total_items; });
  }
  const double seconds = Seconds(Clock::now() - t0);
  const EngineStats stats = engine->Stats();
  engine->Close();
  return {static_cast<double>(total_items) / seconds,
          static_cast<double>(stats.queues[0].items) / static_cast<double>(std::max<int64_t>(1, stats.queues[0].batches))};
}

}  // namespace

int main() {
  const int64_t item_elems = 784;  // a 28x28 image
  const GatherResult gather = BenchGather(32, item_elems, 31);
  const double maxprob = BenchCertainty(CertaintyMeasure::kMaxProb, 15);
  const double margin = BenchCertainty(CertaintyMeasure::kMargin, 15);
  const double entropy = BenchCertainty(CertaintyMeasure::kEntropy, 15);
  std::vector<double> engine_rates, batch_means;
  for (int rep = 0; rep < 5; ++rep) {
    EngineResult r = BenchEngine(item_elems, 200000);
    engine_rates.push_back(r.items_per_s);
    batch_means.push_back(r.mean_batch);
  }
  std::printf(
      "{\n"
      "  \"batch_assembly\": {\"rows\": 32, \"row_elems\": %lld, \"gather_gbps\": %.2f, \"memcpy_gbps\": %.2f},\n"
      "  \"certainty_rows_per_s\": {\"classes\": 10, \"max_prob\": %.0f, \"margin\": %.0f, \"entropy\": %.0f},\n"
      "  \"engine\": {\"lanes\": 1, \"max_batch\": 32, \"item_elems\": %lld, \"items_per_s\": %.0f, "
      "\"us_per_item\": %.3f, \"mean_batch\": %.1f}\n"
      "}\n",
      static_cast<long long>(item_elems), gather.gather_gbps, gather.memcpy_gbps, maxprob, margin, entropy,
      static_cast<long long>(item_elems), Median(engine_rates), 1e6 / Median(engine_rates), Median(batch_means));
  return 0;
}
