// Exports the native enums by name (see enum_table.h). The static_asserts pin each C++ value
// to the number in ts/contracts/enums.ts, so renumbering an enum here fails the build; the
// TypeScript side compares the exported values with its tables at load, so editing one table
// without the other fails the load.
#include "enum_table.h"

#include "common/status.h"
#include "engine_binding.h"
#include "engine/certainty.h"
#include "engine/input_layout.h"
#include "ort/tensor.h"

namespace cascadeserve::bindings {
namespace {

static_assert(static_cast<int>(StatusCode::kOk) == 0, "kStatusCodes.ok in ts/contracts/enums.ts");
static_assert(static_cast<int>(StatusCode::kInvalidArgument) == 1, "kStatusCodes.invalid_argument");
static_assert(static_cast<int>(StatusCode::kRuntimeError) == 2, "kStatusCodes.runtime_error");
static_assert(static_cast<int>(StatusCode::kOverloaded) == 3, "kStatusCodes.overloaded");
static_assert(static_cast<int>(StatusCode::kTimeout) == 4, "kStatusCodes.timeout");
static_assert(static_cast<int>(StatusCode::kCancelled) == 5, "kStatusCodes.cancelled");
static_assert(static_cast<int>(StatusCode::kUnavailable) == 6, "kStatusCodes.unavailable");

static_assert(static_cast<int>(CertaintyMeasure::kMaxProb) == 0, "kCertaintyMeasureCodes.max_prob");
static_assert(static_cast<int>(CertaintyMeasure::kMargin) == 1, "kCertaintyMeasureCodes.margin");
static_assert(static_cast<int>(CertaintyMeasure::kEntropy) == 2, "kCertaintyMeasureCodes.entropy");

static_assert(static_cast<int>(OutputKind::kLogits) == 0, "kOutputKindCodes.logits");
static_assert(static_cast<int>(OutputKind::kProbabilities) == 1, "kOutputKindCodes.probabilities");
static_assert(static_cast<int>(OutputKind::kBinaryLogit) == 2, "kOutputKindCodes['binary_logit']");
static_assert(static_cast<int>(OutputKind::kBinaryProbability) == 3, "kOutputKindCodes['binary_probability']");

// Engine inputs carry ONNX's numbers: TensorElement equals ElementType where both exist.
static_assert(static_cast<int>(TensorElement::kFloat32) == static_cast<int>(ElementType::kFloat32), "FP32");
static_assert(static_cast<int>(TensorElement::kUint8) == static_cast<int>(ElementType::kUint8), "UINT8");
static_assert(static_cast<int>(TensorElement::kInt32) == static_cast<int>(ElementType::kInt32), "INT32");
static_assert(static_cast<int>(TensorElement::kInt64) == static_cast<int>(ElementType::kInt64), "INT64");
static_assert(static_cast<int>(TensorElement::kBool) == static_cast<int>(ElementType::kBool), "BOOL");
static_assert(static_cast<int>(TensorElement::kFloat16) == static_cast<int>(ElementType::kFloat16), "FP16");
static_assert(static_cast<int>(ElementType::kFloat32) == 1, "kDatatypeCodes.FP32");
static_assert(static_cast<int>(ElementType::kUint8) == 2, "kDatatypeCodes.UINT8");
static_assert(static_cast<int>(ElementType::kInt32) == 6, "kDatatypeCodes.INT32");
static_assert(static_cast<int>(ElementType::kInt64) == 7, "kDatatypeCodes.INT64");
static_assert(static_cast<int>(ElementType::kBool) == 9, "kDatatypeCodes.BOOL");
static_assert(static_cast<int>(ElementType::kFloat16) == 10, "kDatatypeCodes.FP16");

static_assert(static_cast<int>(ResultRowField::kTicket) == 0, "kResultRowFields.ticket");
static_assert(static_cast<int>(ResultRowField::kStatus) == 1, "kResultRowFields.status");
static_assert(static_cast<int>(ResultRowField::kPredictedClass) == 2, "kResultRowFields.predictedClass");
static_assert(static_cast<int>(ResultRowField::kCertainty) == 3, "kResultRowFields.certainty");
static_assert(static_cast<int>(ResultRowField::kExitStage) == 4, "kResultRowFields.exitStage");
static_assert(static_cast<int>(ResultRowField::kModel) == 5, "kResultRowFields.model");
static_assert(static_cast<int>(ResultRowField::kQueuedUs) == 6, "kResultRowFields.queuedUs");
static_assert(static_cast<int>(ResultRowField::kComputeUs) == 7, "kResultRowFields.computeUs");
static_assert(static_cast<int>(ResultRowField::kWidth) == 8, "kResultRowFields.width");

struct Entry {
  const char* name;
  int value;
};

template <size_t N>
Napi::Object Table(Napi::Env env, const Entry (&entries)[N]) {
  Napi::Object table = Napi::Object::New(env);
  for (const Entry& e : entries) table.Set(e.name, Napi::Number::New(env, e.value));
  return table;
}

}  // namespace

Napi::Object EnumTables(Napi::Env env) {
  const Entry status[] = {
      {"ok", static_cast<int>(StatusCode::kOk)},
      {"invalid_argument", static_cast<int>(StatusCode::kInvalidArgument)},
      {"runtime_error", static_cast<int>(StatusCode::kRuntimeError)},
      {"overloaded", static_cast<int>(StatusCode::kOverloaded)},
      {"timeout", static_cast<int>(StatusCode::kTimeout)},
      {"cancelled", static_cast<int>(StatusCode::kCancelled)},
      {"unavailable", static_cast<int>(StatusCode::kUnavailable)},
  };
  const Entry measures[] = {
      {"max_prob", static_cast<int>(CertaintyMeasure::kMaxProb)},
      {"margin", static_cast<int>(CertaintyMeasure::kMargin)},
      {"entropy", static_cast<int>(CertaintyMeasure::kEntropy)},
  };
  const Entry kinds[] = {
      {"logits", static_cast<int>(OutputKind::kLogits)},
      {"probabilities", static_cast<int>(OutputKind::kProbabilities)},
      {"binary_logit", static_cast<int>(OutputKind::kBinaryLogit)},
      {"binary_probability", static_cast<int>(OutputKind::kBinaryProbability)},
  };
  // ONNX's element type numbers (native/ort/tensor.h), the subset engine inputs may have.
  const Entry element_types[] = {
      {"FP32", static_cast<int>(ElementType::kFloat32)}, {"UINT8", static_cast<int>(ElementType::kUint8)},
      {"INT32", static_cast<int>(ElementType::kInt32)},  {"INT64", static_cast<int>(ElementType::kInt64)},
      {"BOOL", static_cast<int>(ElementType::kBool)},    {"FP16", static_cast<int>(ElementType::kFloat16)},
  };
  const Entry result_row[] = {
      {"ticket", static_cast<int>(ResultRowField::kTicket)},
      {"status", static_cast<int>(ResultRowField::kStatus)},
      {"predictedClass", static_cast<int>(ResultRowField::kPredictedClass)},
      {"certainty", static_cast<int>(ResultRowField::kCertainty)},
      {"exitStage", static_cast<int>(ResultRowField::kExitStage)},
      {"model", static_cast<int>(ResultRowField::kModel)},
      {"queuedUs", static_cast<int>(ResultRowField::kQueuedUs)},
      {"computeUs", static_cast<int>(ResultRowField::kComputeUs)},
      {"width", static_cast<int>(ResultRowField::kWidth)},
  };
  Napi::Object tables = Napi::Object::New(env);
  tables.Set("statusCodes", Table(env, status));
  tables.Set("certaintyMeasures", Table(env, measures));
  tables.Set("outputKinds", Table(env, kinds));
  tables.Set("elementTypes", Table(env, element_types));
  tables.Set("resultRowFields", Table(env, result_row));
  return tables;
}

}  // namespace cascadeserve::bindings
