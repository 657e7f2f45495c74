// Certainty of a classifier's output row: the number compared against a stage's threshold
// to decide whether a request exits at that stage or moves on to the next.
//
// Precision contract: everything is computed in double (softmax with the row maximum
// subtracted, sums, logarithms) from the float inputs, and the certainty is returned as a
// double. The threshold test is `certainty >= double(threshold)`, so an oracle recomputing
// in float64 from the same float row agrees to ~1e-15 (far inside 1e-6) and agrees on every
// exit decision that is not within rounding of the threshold. ItemResult::certainty is this
// value rounded to float.
#pragma once

#include <cstdint>

namespace cascadeserve {

// Values are part of the binding surface (mirrored in TypeScript); do not renumber.
enum class CertaintyMeasure : int {
  kMaxProb = 0,  // max softmax probability p1, in [1/classes, 1]
  kMargin = 1,   // p1 - p2 of the softmax probabilities, in [0, 1]; 1 when classes == 1
  kEntropy = 2,  // 1 - H(p) / ln(classes) with H natural-log entropy, in [0, 1]; 1 when classes == 1
};
constexpr int kCertaintyMeasureCount = 3;

enum class OutputKind : int {
  kLogits = 0,         // raw scores; softmax is applied first
  kProbabilities = 1,  // used as given (not renormalized); terms with p <= 0 add 0 entropy
  // A binary classifier's one column per row (common with a sigmoid head). The engine widens
  // each row to the two classes before anything reads it, so certainty, routing and the
  // answer's probabilities see an ordinary two-class row (ExpandBinaryScores).
  kBinaryLogit = 2,        // z, the logit of class 1: widened to logits [0, z]
  kBinaryProbability = 3,  // p, the probability of class 1: widened to probabilities [1 - p, p]
};

// Returns false for values outside the enums (cheap guard for configs that crossed from JS).
bool IsValidCertaintyMeasure(int value);
bool IsValidOutputKind(int value);

inline bool IsBinaryScore(OutputKind kind) {
  return kind == OutputKind::kBinaryLogit || kind == OutputKind::kBinaryProbability;
}

// How a widened row is read: kLogits or kProbabilities.
inline OutputKind RowKind(OutputKind kind) {
  if (kind == OutputKind::kBinaryLogit) return OutputKind::kLogits;
  if (kind == OutputKind::kBinaryProbability) return OutputKind::kProbabilities;
  return kind;
}

// Floats per row the model itself writes: 1 for a binary score, else `classes`.
inline int64_t ModelOutputColumns(OutputKind kind, int64_t classes) { return IsBinaryScore(kind) ? 1 : classes; }

// Widens `rows` binary scores (one float per row) into rows of two columns in `rows2`
// (2 * rows floats; must not overlap `scores`): [0, z] for kBinaryLogit, whose softmax is
// [1 - sigmoid(z), sigmoid(z)]; [1 - p, p] for kBinaryProbability. Requires IsBinaryScore(kind).
void ExpandBinaryScores(const float* scores, int64_t rows, OutputKind kind, float* rows2);

// For each of `rows` rows of `classes` floats in `values` (row-major), writes the argmax
// class (lowest index among ties) to predicted_class[r] and the certainty to certainty[r].
// Requires classes >= 1. A logits row containing NaN yields a NaN certainty, which compares
// false against every threshold (the request moves on; the last stage answers anyway).
// Pure function: no allocation, no shared state; safe from any thread.
void EvaluateCertainty(const float* values, int64_t rows, int64_t classes, OutputKind kind,
                       CertaintyMeasure measure, int32_t* predicted_class, double* certainty);

// Certainty of one row; the building block of EvaluateCertainty.
double RowCertainty(const float* row, int64_t classes, OutputKind kind,
                    CertaintyMeasure measure, int32_t* predicted_class);

// The certainty of one row under every measure: certainties[m] for CertaintyMeasure m, each
// the very double RowCertainty returns for that measure (the profiler stores these, and the
// planner's thresholds must route exactly as a stage with that measure does).
void RowCertainties(const float* row, int64_t classes, OutputKind kind,
                    double certainties[kCertaintyMeasureCount]);

}  // namespace cascadeserve
