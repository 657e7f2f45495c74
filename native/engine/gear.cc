#include "engine/gear.h"

#include <cmath>
#include <string>
#include <utility>

namespace cascadeserve {
namespace {

std::string Index(const char* field, size_t i) { return std::string(field) + "[" + std::to_string(i) + "]"; }

std::string ModelLabel(const EngineConfig& config, int model) {
  return "model " + std::to_string(model) + " ('" + config.models[model].name + "')";
}

bool Hosts(const EngineConfig& config, int model, int lane) {
  for (int hosting : config.placement[model]) {
    if (hosting == lane) return true;
  }
  return false;
}

Status ValidateLaneWeights(const EngineConfig& config, const GearStage& stage, const std::string& field) {
  const std::vector<double>& weights = stage.lane_weights;
  if (weights.empty()) return Status::Ok();
  if (weights.size() != config.lanes.size()) {
    return Status::InvalidArgument(field + ": has " + std::to_string(weights.size()) +
                                   " entries, there are " + std::to_string(config.lanes.size()) +
                                   " lanes");
  }
  double hosting_total = 0.0;
  for (size_t lane = 0; lane < weights.size(); ++lane) {
    const std::string lane_field = Index(field.c_str(), lane);
    if (!std::isfinite(weights[lane]) || weights[lane] < 0.0) {
      return Status::InvalidArgument(lane_field + ": must be a finite number >= 0");
    }
    const bool hosts = Hosts(config, stage.model, static_cast<int>(lane));
    if (!hosts && weights[lane] != 0.0) {
      return Status::InvalidArgument(lane_field + ": lane " + std::to_string(lane) +
                                     " does not host " + ModelLabel(config, stage.model) +
                                     ", so its weight must be 0");
    }
    if (hosts) hosting_total += weights[lane];
  }
  if (!(hosting_total > 0.0)) {
    return Status::InvalidArgument(field + ": every lane hosting " + ModelLabel(config, stage.model) +
                                   " has weight 0");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateEngineConfig(const EngineConfig& config) {
  if (config.models.empty()) return Status::InvalidArgument("models: at least one model is required");
  for (size_t m = 0; m < config.models.size(); ++m) {
    const ModelConfig& model = config.models[m];
    const std::string field = Index("models", m);
    if (config.inputs.empty() && model.input_elems <= 0) {
      return Status::InvalidArgument(field + ".input_elems: must be > 0 (got " +
                                     std::to_string(model.input_elems) + ")");
    }
    if (model.output_elems <= 0) {
      return Status::InvalidArgument(field + ".output_elems: must be > 0 (got " +
                                     std::to_string(model.output_elems) + ")");
    }
    if (!IsValidOutputKind(static_cast<int>(model.output_kind))) {
      return Status::InvalidArgument(field +
                                     ".output_kind: must be 0 (logits), 1 (probabilities), 2 (binary logit) or 3 (binary probability)");
    }
    if (IsBinaryScore(model.output_kind) && model.output_elems != 2) {
      return Status::InvalidArgument(field + ".output_elems: a binary score answers 2 classes (got " +
                                     std::to_string(model.output_elems) + ")");
    }
    for (size_t j = 0; j < model.input_indices.size(); ++j) {
      const int k = model.input_indices[j];
      if (k < 0 || static_cast<size_t>(k) >= config.inputs.size()) {
        return Status::InvalidArgument(Index((field + ".input_indices").c_str(), j) + ": input " + std::to_string(k) +
                                       " does not exist (" + std::to_string(config.inputs.size()) + " inputs)");
      }
      for (size_t i = 0; i < j; ++i) {
        if (model.input_indices[i] == k) {
          return Status::InvalidArgument(Index((field + ".input_indices").c_str(), j) + ": input " + std::to_string(k) +
                                         " is listed twice");
        }
      }
    }
  }
  if (config.lanes.empty()) return Status::InvalidArgument("lanes: at least one lane is required");
  for (size_t l = 0; l < config.lanes.size(); ++l) {
    const LaneConfig& lane = config.lanes[l];
    if (lane.kind != LaneConfig::kCpu && lane.kind != LaneConfig::kCuda) {
      return Status::InvalidArgument(Index("lanes", l) + ".kind: must be 0 (cpu) or 1 (cuda)");
    }
    if (lane.device_id < 0) return Status::InvalidArgument(Index("lanes", l) + ".device_id: must be >= 0");
  }
  if (config.placement.size() != config.models.size()) {
    return Status::InvalidArgument("placement: has " + std::to_string(config.placement.size()) +
                                   " entries, models has " + std::to_string(config.models.size()));
  }
  const int lane_count = static_cast<int>(config.lanes.size());
  for (size_t m = 0; m < config.placement.size(); ++m) {
    const std::vector<int>& lanes = config.placement[m];
    for (size_t j = 0; j < lanes.size(); ++j) {
      const std::string field = Index(Index("placement", m).c_str(), j);
      if (lanes[j] < 0 || lanes[j] >= lane_count) {
        return Status::InvalidArgument(field + ": lane " + std::to_string(lanes[j]) +
                                       " does not exist (" + std::to_string(lane_count) + " lanes)");
      }
      for (size_t k = 0; k < j; ++k) {
        if (lanes[k] == lanes[j]) {
          return Status::InvalidArgument(field + ": lane " + std::to_string(lanes[j]) + " is listed twice");
        }
      }
    }
  }
  if (config.max_queue_size_per_stage < 1) {
    return Status::InvalidArgument("max_queue_size_per_stage: must be >= 1 (got " +
                                   std::to_string(config.max_queue_size_per_stage) + ")");
  }
  return Status::Ok();
}

Status CompileGear(const EngineConfig& config, int64_t item_elems, GearConfig gear_config,
                   const Gear* previous, std::shared_ptr<const Gear>* out) {
  const int model_count = static_cast<int>(config.models.size());
  if (gear_config.stages.empty()) return Status::InvalidArgument("gear.stages: at least one stage is required");

  auto gear = std::make_shared<Gear>();
  gear->stage_of_model.assign(model_count, -1);
  for (size_t s = 0; s < gear_config.stages.size(); ++s) {
    const GearStage& stage = gear_config.stages[s];
    const std::string field = Index("gear.stages", s);
    if (stage.model < 0 || stage.model >= model_count) {
      return Status::InvalidArgument(field + ".model: model " + std::to_string(stage.model) +
                                     " does not exist (" + std::to_string(model_count) + " models)");
    }
    if (config.placement[stage.model].empty()) {
      return Status::InvalidArgument(field + ".model: " + ModelLabel(config, stage.model) +
                                     " is not placed on any lane");
    }
    if (gear->stage_of_model[stage.model] >= 0) {
      return Status::InvalidArgument(field + ".model: " + ModelLabel(config, stage.model) +
                                     " is already stage " +
                                     std::to_string(gear->stage_of_model[stage.model]));
    }
    if (item_elems >= 0 && config.models[stage.model].input_elems != item_elems) {
      return Status::InvalidArgument(field + ".model: " + ModelLabel(config, stage.model) + " takes " +
                                     std::to_string(config.models[stage.model].input_elems) +
                                     " input elements, the engine's items have " + std::to_string(item_elems));
    }
    gear->stage_of_model[stage.model] = static_cast<int32_t>(s);
    if (std::isnan(stage.threshold)) return Status::InvalidArgument(field + ".threshold: must be a number");
    if (!IsValidCertaintyMeasure(static_cast<int>(stage.measure))) {
      return Status::InvalidArgument(field + ".measure: must be 0 (max_prob), 1 (margin) or 2 (entropy)");
    }
    if (stage.max_batch < 1) {
      return Status::InvalidArgument(field + ".max_batch: must be >= 1 (got " + std::to_string(stage.max_batch) + ")");
    }
    if (stage.max_queue_delay_us < 0) {
      return Status::InvalidArgument(field + ".max_queue_delay_us: must be >= 0 (got " +
                                     std::to_string(stage.max_queue_delay_us) + ")");
    }
    CS_RETURN_IF_ERROR(ValidateLaneWeights(config, stage, field + ".lane_weights"));
  }

  gear->params_by_model.resize(model_count);
  for (int m = 0; m < model_count; ++m) {
    Gear::QueueParams& params = gear->params_by_model[m];
    const int32_t s = gear->stage_of_model[m];
    if (s >= 0) {
      const GearStage& stage = gear_config.stages[s];
      params.max_batch = stage.max_batch;
      params.max_queue_delay_us = stage.max_queue_delay_us;
      params.lane_weights = stage.lane_weights;
    } else if (previous != nullptr) {
      params = previous->params_by_model[m];
      params.max_queue_delay_us = 0;  // draining: no reason to wait for arrivals that will not come
    }
  }
  gear->config = std::move(gear_config);
  *out = std::move(gear);
  return Status::Ok();
}

}  // namespace cascadeserve
