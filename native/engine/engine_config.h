// Plain-data configuration and result types of the engine (engine.h). They carry no logic;
// validation lives in gear.cc and names fields the way the caller wrote them
// ("placement[2][0]: ...", "gear.stages[1].model: ...").
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/certainty.h"
#include "engine/input_layout.h"

namespace cascadeserve {

struct ModelConfig {
  std::string name;
  // Floats per item when EngineConfig::inputs is empty (one FP32 input of this many
  // elements; every model of a gear takes the same items); unused otherwise.
  int64_t input_elems = 0;
  int64_t output_elems = 0;  // floats per output row = number of classes
  OutputKind output_kind = OutputKind::kLogits;
  // Whether padding the dynamic axis leaves the model's answers unchanged. false: its
  // batches hold only items of one length (the head item's; others join in queue order).
  bool pad_invariant = true;
  // The EngineConfig::inputs this model takes, in the order its runner receives them. Empty:
  // all of them, in order. Items carry every input; a model may take a subset (a model
  // without token_type_ids beside one with them, say).
  std::vector<int> input_indices;
};

struct LaneConfig {
  // Values mirrored in TypeScript; do not renumber.
  enum Kind : int { kCpu = 0, kCuda = 1 };
  Kind kind = kCpu;
  int device_id = 0;  // passed through to the RunnerFactory; the engine core does not use it
};

struct EngineConfig {
  // The items' inputs (a cascade passes items from stage to stage): each model takes all of
  // them, or those its ModelConfig::input_indices name.
  // Empty: one FP32 input of models[first stage].input_elems elements, no dynamic axis.
  std::vector<InputSpec> inputs;
  std::vector<ModelConfig> models;
  std::vector<LaneConfig> lanes;  // one thread per lane
  // placement[m]: the lanes hosting a runner of model m (may be empty: m is then unusable
  // in gears). Fixed for the engine's life, so that a gear change never loads a model.
  std::vector<std::vector<int>> placement;
  // Admission bound of each stage-0 queue (see StageQueue); must be >= 1.
  int64_t max_queue_size_per_stage = 1024;
};

struct GearStage {
  int model = 0;               // index into EngineConfig::models; at most once per gear
  float threshold = 0.0f;      // exit when certainty >= threshold; ignored for the last stage
  CertaintyMeasure measure = CertaintyMeasure::kMaxProb;
  int max_batch = 1;           // >= 1
  int64_t max_queue_delay_us = 0;  // >= 0; 0 = dispatch a partial batch at once
  // Per lane (size = number of lanes), >= 0, 0 for lanes not hosting the model, at least one
  // positive; empty = any hosting lane may take the batches (see DesignatedLane).
  std::vector<double> lane_weights;
};

struct GearConfig {
  int id = 0;  // the caller's name for the gear; reported in EngineStats
  std::vector<GearStage> stages;
};

// What a request asks to get back beyond its class and certainty: bit flags of Submit's
// `detail` array. Values are part of the binding surface; do not renumber.
enum ResultDetail : uint8_t {
  kResultOutput = 1,       // ItemResult::output: the answering model's output row
  kResultCertainties = 2,  // ItemResult::certainties: every measure of that row
};

struct ItemResult {
  uint64_t ticket = 0;
  StatusCode status = StatusCode::kOk;
  int32_t predicted_class = -1;  // -1 unless status == kOk
  float certainty = 0.0f;        // of the answering stage (double rounded to float)
  int32_t exit_stage = -1;       // stage index in the request's gear (where it ended)
  int32_t model = -1;            // model of that stage
  int64_t queued_us = 0;         // summed over stages
  int64_t compute_us = 0;        // summed over stages (wall time of its batches)
  // The answering row's certainty under every measure (index = CertaintyMeasure), in
  // double; only when the request asked for them (kResultCertainties) and status == kOk,
  // NaN otherwise. certainties[stage measure] is the value the exit test compared.
  bool has_certainties = false;
  std::array<double, kCertaintyMeasureCount> certainties = {std::numeric_limits<double>::quiet_NaN(),
                                                            std::numeric_limits<double>::quiet_NaN(),
                                                            std::numeric_limits<double>::quiet_NaN()};
  std::vector<float> output;     // the answering model's row, only when kResultOutput && kOk
  std::string error_message;     // the runtime's message, only when status == kRuntimeError
};

// Receives finished requests. Called from lane threads (and from the thread calling
// Close for cancellations), possibly concurrently from several lanes; one call per
// completed batch (all its exits or all its failures), per timeout sweep and per Close.
// error_message is the runtime's message when the items are kRuntimeError, else empty.
// Must not block long (it stalls the lane) and must not throw. It may call Submit, Stats,
// SetGear, Pause and Resume, but not Close or the engine's destructor.
using CompletionFn =
    std::function<void(std::vector<ItemResult>&& results, const std::string& error_message)>;

// Counters are cumulative since Create.
struct StageQueueStats {
  int model = 0;
  int32_t current_stage = -1;  // index in the current gear, -1 when the model is not in it
  int64_t queue_length = 0;
  int64_t batches = 0;         // batches run (including failed ones)
  int64_t items = 0;           // rows run
  int64_t exits = 0;           // requests answered (kOk) by this stage
  int64_t timeouts = 0;        // completed with kTimeout while queued here
  int64_t refusals = 0;        // refused at admission (queue full)
  int64_t failures = 0;        // completed with kRuntimeError here
  int64_t cancellations = 0;   // completed with kCancelled by Close while queued here
  // Positions on the dynamic axis run here (0 without one): the items' own lengths, and the
  // padding added to reach their batch's longest. padded / item = the padding waste.
  int64_t item_positions = 0;
  int64_t padded_positions = 0;
};

struct LaneStats {
  int64_t busy_us = 0;  // wall time spent running batches
  int64_t batches = 0;
  int64_t items = 0;
};

struct EngineStats {
  int gear_id = 0;
  int64_t gear_switches = 0;
  std::vector<StageQueueStats> queues;  // one per model (the engine queues per model)
  std::vector<LaneStats> lanes;         // one per lane
};

}  // namespace cascadeserve
