#include "engine/certainty.h"

#include <cmath>
#include <limits>

namespace cascadeserve {

bool IsValidCertaintyMeasure(int value) { return value >= 0 && value <= 2; }
bool IsValidOutputKind(int value) { return value >= 0 && value <= 3; }

namespace {

int32_t ArgMax(const float* row, int64_t classes) {
  int32_t best = 0;
  for (int64_t c = 1; c < classes; ++c) {
    if (row[c] > row[best]) best = static_cast<int32_t>(c);
  }
  return best;
}

// Probability of class c: softmax for logits (shift = row max, inv_sum = 1 / sum of
// exp(x - max)), the value itself for probabilities.
inline double Prob(const float* row, int64_t c, OutputKind kind, double shift, double inv_sum) {
  if (kind == OutputKind::kProbabilities) return static_cast<double>(row[c]);
  return std::exp(static_cast<double>(row[c]) - shift) * inv_sum;
}

}  // namespace

double RowCertainty(const float* row, int64_t classes, OutputKind kind,
                    CertaintyMeasure measure, int32_t* predicted_class) {
  const int32_t best = ArgMax(row, classes);
  *predicted_class = best;
  if (classes == 1 && measure != CertaintyMeasure::kMaxProb) return 1.0;

  // Softmax normalizer, stable: subtract the maximum before exponentiating.
  double shift = 0.0;
  double inv_sum = 1.0;
  if (kind == OutputKind::kLogits) {
    shift = static_cast<double>(row[best]);
    double sum = 0.0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(row[c]) - shift);
    inv_sum = 1.0 / sum;
  }

  switch (measure) {
    case CertaintyMeasure::kMaxProb:
      return Prob(row, best, kind, shift, inv_sum);
    case CertaintyMeasure::kMargin: {
      // Second best by value; the softmax is monotone, so rank on the raw values.
      int64_t second = (best == 0) ? 1 : 0;
      for (int64_t c = 0; c < classes; ++c) {
        if (c != best && row[c] > row[second]) second = c;
      }
      return Prob(row, best, kind, shift, inv_sum) - Prob(row, second, kind, shift, inv_sum);
    }
    case CertaintyMeasure::kEntropy: {
      double entropy = 0.0;
      for (int64_t c = 0; c < classes; ++c) {
        const double p = Prob(row, c, kind, shift, inv_sum);
        if (p > 0.0) entropy -= p * std::log(p);
        else if (std::isnan(p)) return std::numeric_limits<double>::quiet_NaN();
      }
      return 1.0 - entropy / std::log(static_cast<double>(classes));
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

void RowCertainties(const float* row, int64_t classes, OutputKind kind,
                    double certainties[kCertaintyMeasureCount]) {
  // One RowCertainty per measure rather than a shared softmax: the values are then the
  // routing decision's by construction. Only requests that ask for them pay the extra work.
  int32_t predicted_class = -1;
  for (int m = 0; m < kCertaintyMeasureCount; ++m) {
    certainties[m] = RowCertainty(row, classes, kind, static_cast<CertaintyMeasure>(m), &predicted_class);
  }
}

void ExpandBinaryScores(const float* scores, int64_t rows, OutputKind kind, float* rows2) {
  if (kind == OutputKind::kBinaryLogit) {
    for (int64_t r = 0; r < rows; ++r) {
      rows2[2 * r] = 0.0f;
      rows2[2 * r + 1] = scores[r];
    }
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      rows2[2 * r] = 1.0f - scores[r];
      rows2[2 * r + 1] = scores[r];
    }
  }
}

void EvaluateCertainty(const float* values, int64_t rows, int64_t classes, OutputKind kind,
                       CertaintyMeasure measure, int32_t* predicted_class, double* certainty) {
  for (int64_t r = 0; r < rows; ++r) {
    certainty[r] = RowCertainty(values + r * classes, classes, kind, measure, &predicted_class[r]);
  }
}

}  // namespace cascadeserve
