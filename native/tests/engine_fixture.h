// Engine fixture shared by the engine test files: fake models, deterministic inputs.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "test_fakes.h"
#include "test_harness.h"

namespace cstest {
using namespace cascadeserve;


inline constexpr int64_t kIn = 16;
inline constexpr int64_t kClasses = 10;

inline std::vector<float> InputFor(uint64_t ticket) {
  uint64_t state = ticket * 7919 + 17;
  std::vector<float> x(kIn);
  for (float& v : x) v = static_cast<float>(Uniform(&state));
  return x;
}

// Independent certainty (long double, no max shift) for the routing reference.
inline double RefCertainty(const std::vector<float>& logits, CertaintyMeasure measure) {
  long double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<long double>(v));
  std::vector<long double> p;
  for (float v : logits) p.push_back(std::exp(static_cast<long double>(v)) / sum);
  std::vector<long double> sorted = p;
  std::sort(sorted.rbegin(), sorted.rend());
  if (measure == CertaintyMeasure::kMaxProb) return static_cast<double>(sorted[0]);
  if (measure == CertaintyMeasure::kMargin) return static_cast<double>(sorted[0] - sorted[1]);
  long double h = 0;
  for (long double q : p) h -= q > 0 ? q * std::log(q) : 0;
  return static_cast<double>(1 - h / std::log(static_cast<long double>(p.size())));
}

inline GearStage Stage(int model, float threshold, CertaintyMeasure measure, int max_batch, int64_t delay_us,
                std::vector<double> weights = {}) {
  GearStage s;
  s.model = model;
  s.threshold = threshold;
  s.measure = measure;
  s.max_batch = max_batch;
  s.max_queue_delay_us = delay_us;
  s.lane_weights = std::move(weights);
  return s;
}

// Engine + fakes. Members are declared so that the engine is destroyed (closed) first.
struct Fixture {
  Fixture(int models, std::vector<std::vector<int>> placement, int lanes = 1, int64_t max_queue = 100000) {
    for (int m = 0; m < models; ++m) {
      maps.push_back(std::make_unique<LinearMap>(1000 + m, kIn, kClasses, 1.5));
      config.models.push_back({"m" + std::to_string(m), kIn, kClasses, OutputKind::kLogits});
    }
    for (int l = 0; l < lanes; ++l) config.lanes.push_back({LaneConfig::kCpu, 0});
    config.placement = std::move(placement);
    config.max_queue_size_per_stage = max_queue;
  }
  Status Start(GearConfig gear) {
    RunnerFactory factory = [this](int model, int lane, std::unique_ptr<ModelRunner>* out) {
      *out = std::make_unique<FakeRunner>(maps[model].get(), model, lane, &log, runner_delay);
      return Status::Ok();
    };
    return Engine::Create(config, std::move(gear), factory, collector.Fn(), &engine);
  }
  // Submits tickets [first, first + n) with inputs InputFor(ticket), in one call; detail:
  // ResultDetail flags for every item.
  std::vector<uint8_t> Submit(uint64_t first, int64_t n, const int64_t* deadlines = nullptr,
                              const int32_t* priorities = nullptr, uint8_t detail = 0,
                              Status* status_out = nullptr) {
    std::vector<uint64_t> tickets;
    std::vector<float> inputs;
    for (int64_t i = 0; i < n; ++i) {
      tickets.push_back(first + i);
      std::vector<float> x = InputFor(first + i);
      inputs.insert(inputs.end(), x.begin(), x.end());
    }
    std::vector<uint8_t> details(n, detail), accepted(n, 2);
    Status status = engine->Submit(n, tickets.data(), inputs.data(), deadlines, priorities, details.data(), accepted.data());
    if (status_out != nullptr) *status_out = status;
    else CHECK(status.ok());
    return accepted;
  }

  std::vector<std::unique_ptr<LinearMap>> maps;
  EngineConfig config;
  std::chrono::microseconds runner_delay{0};
  RunLog log;
  Collector collector;
  std::unique_ptr<Engine> engine;
};

inline GearConfig SingleStage(int max_batch, int64_t delay_us = 0) {
  return GearConfig{1, {Stage(0, 0.f, CertaintyMeasure::kMaxProb, max_batch, delay_us)}};
}

}  // namespace cstest
