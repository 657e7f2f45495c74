// Gear: a validated, immutable GearConfig compiled into the lookups the dispatcher needs.
//
// Lifetime: shared_ptr<const Gear>. The engine publishes the current one atomically
// (std::atomic_load / std::atomic_store on the shared_ptr), and every request holds the one
// it entered with until it exits, so an old gear lives exactly as long as requests need it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "engine/engine_config.h"

namespace cascadeserve {

struct Gear {
  // How a lane batches one model's queue under this gear.
  struct QueueParams {
    int64_t max_batch = 1;
    int64_t max_queue_delay_us = 0;
    // Per lane; empty = any hosting lane (see DesignatedLane in batch_policy.h).
    std::vector<double> lane_weights;
  };

  GearConfig config;
  // stage_of_model[m]: index in config.stages, or -1 when m is not in this gear.
  std::vector<int32_t> stage_of_model;
  // params_by_model[m] for every model, also those not in this gear: their queues may still
  // hold requests of an older gear. Such a draining queue keeps the max_batch and weights it
  // had and gets max_queue_delay_us = 0, so it empties without waiting for more arrivals.
  std::vector<QueueParams> params_by_model;
};

// Guards: check everything Engine::Create relies on; the message names the offending field.
// The full validation, in the caller's option names, is ts/engine/config.ts; whatever it
// accepts passes these (test/engine-guards.test.ts), so they fire only for direct callers.
Status ValidateEngineConfig(const EngineConfig& config);

// Validates `gear` against `config` (models exist and are placed, each used once, all take
// item_elems inputs unless item_elems < 0 (typed inputs, EngineConfig::inputs, shared by
// every model), thresholds, measures, batch sizes, delays, lane weights) and compiles it. `previous` (nullable) supplies the parameters of draining queues. On success *out
// owns the new gear; on failure *out is untouched.
Status CompileGear(const EngineConfig& config, int64_t item_elems, GearConfig gear,
                   const Gear* previous, std::shared_ptr<const Gear>* out);

}  // namespace cascadeserve
