// Fakes for engine tests: a deterministic linear "model" (checked against the same map
// computed in the test), a failure switch, a call log, and a completion collector.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/model_runner.h"

namespace cstest {

inline uint64_t SplitMix(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
inline double Uniform(uint64_t* state) {  // [-1, 1)
  return static_cast<double>(SplitMix(state) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

// out[c] = float(bias[c] + sum_d weight[c][d] * x[d]), accumulated in double.
struct LinearMap {
  LinearMap(uint64_t seed, int64_t in, int64_t out, double scale) : in_elems(in), out_elems(out) {
    uint64_t state = seed;
    weight.resize(static_cast<size_t>(in * out));
    bias.resize(static_cast<size_t>(out));
    for (double& w : weight) w = scale * Uniform(&state);
    for (double& b : bias) b = 0.5 * Uniform(&state);
  }
  void Apply(const float* x, float* y) const {
    for (int64_t c = 0; c < out_elems; ++c) {
      double sum = bias[c];
      for (int64_t d = 0; d < in_elems; ++d) sum += weight[c * in_elems + d] * static_cast<double>(x[d]);
      y[c] = static_cast<float>(sum);
    }
  }
  std::vector<float> Apply(const std::vector<float>& x) const {
    std::vector<float> y(static_cast<size_t>(out_elems));
    Apply(x.data(), y.data());
    return y;
  }
  int64_t in_elems, out_elems;
  std::vector<double> weight, bias;
};

// What the runners did, shared between the test and the runners the engine owns.
struct RunLog {
  std::mutex mu;
  std::vector<int64_t> batch_sizes;           // in call order
  std::vector<int> batch_lanes;               // lane of each call
  std::vector<int> batch_models;
  int64_t rows = 0;
  std::vector<int64_t> BatchSizes() {
    std::lock_guard<std::mutex> lock(mu);
    return batch_sizes;
  }
  int64_t Rows() {
    std::lock_guard<std::mutex> lock(mu);
    return rows;
  }
};

// A row whose first element equals this value makes its batch fail.
constexpr float kFailMarker = -12345.0f;

class FakeRunner : public cascadeserve::ModelRunner {
 public:
  FakeRunner(const LinearMap* map, int model, int lane, RunLog* log, std::chrono::microseconds delay)
      : map_(map), model_(model), lane_(lane), log_(log), delay_(delay) {}
  cascadeserve::Status Run(const cascadeserve::BatchTensor* inputs, int input_count, int64_t rows,
                           float* output) override {
    if (input_count != 1 || inputs[0].type != cascadeserve::TensorElement::kFloat32) {
      return cascadeserve::Status::InvalidArgument("FakeRunner takes one FP32 input");
    }
    const float* input = static_cast<const float*>(inputs[0].data);
    {
      std::lock_guard<std::mutex> lock(log_->mu);
      log_->batch_sizes.push_back(rows);
      log_->batch_lanes.push_back(lane_);
      log_->batch_models.push_back(model_);
      log_->rows += rows;
    }
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    for (int64_t r = 0; r < rows; ++r) {
      if (input[r * map_->in_elems] == kFailMarker) return cascadeserve::Status::RuntimeError("injected failure");
    }
    for (int64_t r = 0; r < rows; ++r) map_->Apply(input + r * map_->in_elems, output + r * map_->out_elems);
    return cascadeserve::Status::Ok();
  }

 private:
  const LinearMap* map_;
  int model_, lane_;
  RunLog* log_;
  std::chrono::microseconds delay_;
};

// Collects completions; tests wait on it with a generous timeout (a cv, not polling).
struct Collector {
  std::mutex mu;
  std::condition_variable changed;
  std::vector<cascadeserve::ItemResult> results;
  std::vector<size_t> call_sizes;
  std::vector<std::string> call_errors;
  std::vector<std::thread::id> call_threads;

  cascadeserve::CompletionFn Fn() {
    return [this](std::vector<cascadeserve::ItemResult>&& batch, const std::string& error) {
      std::lock_guard<std::mutex> lock(mu);
      call_sizes.push_back(batch.size());
      call_errors.push_back(error);
      call_threads.push_back(std::this_thread::get_id());
      for (auto& r : batch) results.push_back(std::move(r));
      changed.notify_all();
    };
  }
  bool WaitFor(size_t count, std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) {
    std::unique_lock<std::mutex> lock(mu);
    return changed.wait_for(lock, timeout, [&] { return results.size() >= count; });
  }
  size_t Count() {
    std::lock_guard<std::mutex> lock(mu);
    return results.size();
  }
};

}  // namespace cstest
