// Microbenchmark of the engine core's hot path, printing one JSON object:
//  - batch assembly GB/s vs one plain memcpy of the same bytes: the image path (one FP32
//    input, no dynamic axis) through GatherRows and through GatherPadded (what lanes run), and
//    the token path (INT64 [-1], a tweet-like length mix, padded to the batch's longest);
//  - threshold evaluation rows/s per certainty measure on 10-class logits;
//  - engine per-request overhead: items/s at saturation, 1 lane, batch 32, trivial runner,
//    for images (Submit) and for two INT64 token inputs of mixed lengths (SubmitTensors), with
//    the padding waste (padded / own positions) of FIFO batches of that mix at batch 8 and 32.
// Medians over repetitions. Built by native/tests/CMakeLists.txt (target bench_engine_core).
#include <algorithm>
#include <cmath>
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
#include "engine/input_layout.h"

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

struct GatherResult { double gather_gbps, padded_gbps, memcpy_gbps; };

// Tweet-like token counts: log-normal with median 18, sigma 0.6, clamped to [3, 64].
std::vector<int32_t> LengthMix(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::lognormal_distribution<double> dist(std::log(18.0), 0.6);
  std::vector<int32_t> lengths(n);
  for (int32_t& l : lengths) l = static_cast<int32_t>(std::min(64.0, std::max(3.0, std::round(dist(rng)))));
  return lengths;
}

GatherResult BenchGather(int64_t rows, int64_t row_elems, int repetitions) {
  // Rows live in separate allocations, as requests' inputs do.
  std::vector<std::vector<float>> inputs(rows, std::vector<float>(row_elems, 1.0f));
  std::vector<const float*> pointers;
  for (auto& row : inputs) pointers.push_back(row.data());
  std::vector<float> contiguous(rows * row_elems, 2.0f), dst(rows * row_elems);
  const double bytes = static_cast<double>(rows * row_elems * sizeof(float));
  const int inner = 50;
  ItemLayout layout;
  CompileItemLayout({InputSpec{"x", TensorElement::kFloat32, {row_elems}, 0.0}}, &layout);
  std::vector<const uint8_t*> byte_pointers;
  for (auto& row : inputs) byte_pointers.push_back(reinterpret_cast<const uint8_t*>(row.data()));
  std::vector<double> gather, padded, copy;
  for (int rep = 0; rep < repetitions; ++rep) {
    auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) GatherRows(pointers.data(), rows, row_elems, dst.data());
    auto t1 = Clock::now();
    Sink(dst[rep % dst.size()]);
    for (int i = 0; i < inner; ++i) std::memcpy(dst.data(), contiguous.data(), static_cast<size_t>(bytes));
    auto t2 = Clock::now();
    Sink(dst[rep % dst.size()]);
    for (int i = 0; i < inner; ++i) {
      GatherPadded(layout.inputs[0], byte_pointers.data(), nullptr, rows, 0, reinterpret_cast<uint8_t*>(dst.data()));
    }
    auto t3 = Clock::now();
    Sink(dst[rep % dst.size()]);
    gather.push_back(bytes * inner / Seconds(t1 - t0) / 1e9);
    copy.push_back(bytes * inner / Seconds(t2 - t1) / 1e9);
    padded.push_back(bytes * inner / Seconds(t3 - t2) / 1e9);
  }
  return {Median(gather), Median(padded), Median(copy)};
}

struct TokenGatherResult { double padded_gbps, memcpy_gbps; int32_t batch_length; };

// 32 INT64 [-1] items of the length mix into one batch at its longest, vs one memcpy of the
// batch's bytes (GB/s of the destination written).
TokenGatherResult BenchTokenGather(int64_t rows, int repetitions) {
  ItemLayout layout;
  CompileItemLayout({InputSpec{"input_ids", TensorElement::kInt64, {-1}, 0.0}}, &layout);
  const std::vector<int32_t> lengths = LengthMix(static_cast<size_t>(rows), 3);
  const int32_t batch_length = *std::max_element(lengths.begin(), lengths.end());
  std::vector<std::vector<int64_t>> items;
  std::vector<const uint8_t*> pointers;
  for (int32_t l : lengths) items.emplace_back(static_cast<size_t>(l), 7);
  for (auto& item : items) pointers.push_back(reinterpret_cast<const uint8_t*>(item.data()));
  const size_t bytes = static_cast<size_t>(rows * batch_length) * sizeof(int64_t);
  std::vector<uint8_t> contiguous(bytes, 1), dst(bytes);
  const int inner = 200;
  std::vector<double> padded, copy;
  for (int rep = 0; rep < repetitions; ++rep) {
    auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) GatherPadded(layout.inputs[0], pointers.data(), lengths.data(), rows, batch_length, dst.data());
    auto t1 = Clock::now();
    Sink(dst[rep % dst.size()]);
    for (int i = 0; i < inner; ++i) std::memcpy(dst.data(), contiguous.data(), bytes);
    auto t2 = Clock::now();
    Sink(dst[rep % dst.size()]);
    padded.push_back(static_cast<double>(bytes) * inner / Seconds(t1 - t0) / 1e9);
    copy.push_back(static_cast<double>(bytes) * inner / Seconds(t2 - t1) / 1e9);
  }
  return {Median(padded), Median(copy), batch_length};
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

// Constant logits whatever the inputs (the token benchmark's inputs are not floats).
class ConstantRunner : public ModelRunner {
 public:
  Status Run(const BatchTensor*, int, int64_t rows, float* output) override {
    for (int64_t r = 0; r < rows * 10; ++r) output[r] = r % 10 == 0 ? 5.f : 0.f;
    return Status::Ok();
  }
};

struct EngineResult { double items_per_s; double mean_batch; double padding_waste; };

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
    return {0, 0, 0};
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
          static_cast<double>(stats.queues[0].items) / static_cast<double>(std::max<int64_t>(1, stats.queues[0].batches)), 0.0};
}

// The same loop for token items: input_ids and attention_mask INT64 [-1], chunks of 256 items
// padded to 64 with their own lengths from the mix (SubmitTensors copies only those), FIFO
// batches of max_batch padded to their longest. padding_waste = padded / own positions.
EngineResult BenchTokenEngine(int max_batch, int64_t total_items) {
  EngineConfig config;
  config.inputs = {InputSpec{"input_ids", TensorElement::kInt64, {-1}, 0.0},
                   InputSpec{"attention_mask", TensorElement::kInt64, {-1}, 0.0}};
  ModelConfig model;
  model.name = "trivial";
  model.output_elems = 10;
  config.models = {model};
  config.lanes = {{LaneConfig::kCpu, 0}};
  config.placement = {{0}};
  config.max_queue_size_per_stage = 1 << 20;
  GearStage stage;
  stage.model = 0;
  stage.max_batch = max_batch;
  GearConfig gear{1, {stage}};
  std::mutex mu;
  std::condition_variable done_cv;
  int64_t done = 0;
  std::unique_ptr<Engine> engine;
  Status status = Engine::Create(
      config, gear,
      [](int, int, std::unique_ptr<ModelRunner>* out) {
        *out = std::make_unique<ConstantRunner>();
        return Status::Ok();
      },
      [&](std::vector<ItemResult>&& results, const std::string&) {
        std::lock_guard<std::mutex> lock(mu);
        done += static_cast<int64_t>(results.size());
        done_cv.notify_all();
      },
      &engine);
  if (!status.ok()) {
    std::fprintf(stderr, "token engine: %s\n", status.message().c_str());
    return {0, 0, 0};
  }
  const int64_t chunk = 256, max_in_flight = 4096;
  const int32_t padded = 64;
  const std::vector<int32_t> lengths = LengthMix(static_cast<size_t>(chunk), 5);
  std::vector<int64_t> ids(static_cast<size_t>(chunk * padded), 11), mask(static_cast<size_t>(chunk * padded), 1);
  const void* tensors[2] = {ids.data(), mask.data()};
  std::vector<uint64_t> tickets(chunk);
  std::vector<uint8_t> accepted(chunk);
  const auto t0 = Clock::now();
  for (int64_t submitted = 0; submitted < total_items; submitted += chunk) {
    {
      std::unique_lock<std::mutex> lock(mu);
      done_cv.wait(lock, [&] { return submitted - done <= max_in_flight - chunk; });
    }
    for (int64_t i = 0; i < chunk; ++i) tickets[i] = static_cast<uint64_t>(submitted + i);
    engine->SubmitTensors(chunk, tickets.data(), tensors, 2, padded, lengths.data(), nullptr, nullptr, nullptr, accepted.data());
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    done_cv.wait(lock, [&] { return done >= total_items; });
  }
  const double seconds = Seconds(Clock::now() - t0);
  const StageQueueStats q = engine->Stats().queues[0];
  engine->Close();
  return {static_cast<double>(total_items) / seconds,
          static_cast<double>(q.items) / static_cast<double>(std::max<int64_t>(1, q.batches)),
          static_cast<double>(q.padded_positions) / static_cast<double>(std::max<int64_t>(1, q.item_positions))};
}

}  // namespace

int main() {
  const int64_t item_elems = 784;  // a 28x28 image
  const GatherResult gather = BenchGather(32, item_elems, 31);
  const TokenGatherResult tokens = BenchTokenGather(32, 31);
  const double maxprob = BenchCertainty(CertaintyMeasure::kMaxProb, 15);
  const double margin = BenchCertainty(CertaintyMeasure::kMargin, 15);
  const double entropy = BenchCertainty(CertaintyMeasure::kEntropy, 15);
  std::vector<double> engine_rates, batch_means, token_rates, token_waste;
  for (int rep = 0; rep < 5; ++rep) {
    EngineResult r = BenchEngine(item_elems, 200000);
    engine_rates.push_back(r.items_per_s);
    batch_means.push_back(r.mean_batch);
    EngineResult t = BenchTokenEngine(32, 200000);
    token_rates.push_back(t.items_per_s);
    token_waste.push_back(t.padding_waste);
  }
  const EngineResult waste8 = BenchTokenEngine(8, 50000);
  const std::vector<int32_t> mix = LengthMix(256, 5);
  double mean_length = 0;
  for (int32_t l : mix) mean_length += l;
  mean_length /= static_cast<double>(mix.size());
  std::printf(
      "{\n"
      "  \"batch_assembly\": {\"rows\": 32, \"row_elems\": %lld, \"gather_gbps\": %.2f, \"gather_padded_gbps\": %.2f, \"memcpy_gbps\": %.2f},\n"
      "  \"token_batch_assembly\": {\"rows\": 32, \"datatype\": \"INT64\", \"batch_length\": %d, \"gather_padded_gbps\": %.2f, \"memcpy_gbps\": %.2f},\n"
      "  \"certainty_rows_per_s\": {\"classes\": 10, \"max_prob\": %.0f, \"margin\": %.0f, \"entropy\": %.0f},\n"
      "  \"engine\": {\"lanes\": 1, \"max_batch\": 32, \"item_elems\": %lld, \"items_per_s\": %.0f, "
      "\"us_per_item\": %.3f, \"mean_batch\": %.1f},\n"
      "  \"token_engine\": {\"lanes\": 1, \"max_batch\": 32, \"inputs\": \"2 x INT64 [-1]\", \"length_mix\": \"log-normal median 18 sigma 0.6 in [3, 64]\", "
      "\"mean_length\": %.1f, \"items_per_s\": %.0f, \"us_per_item\": %.3f, \"padding_waste_b32\": %.3f, \"padding_waste_b8\": %.3f}\n"
      "}\n",
      static_cast<long long>(item_elems), gather.gather_gbps, gather.padded_gbps, gather.memcpy_gbps, tokens.batch_length,
      tokens.padded_gbps, tokens.memcpy_gbps, maxprob, margin, entropy, static_cast<long long>(item_elems),
      Median(engine_rates), 1e6 / Median(engine_rates), Median(batch_means), mean_length, Median(token_rates),
      1e6 / Median(token_rates), Median(token_waste), waste8.padding_waste);
  return 0;
}
