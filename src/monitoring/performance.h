// Model quality once true labels are known, as scikit-learn 1.2 computes it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace lathe::monitoring {

struct RegressionMetrics {
  double mae = 0;   // mean_absolute_error
  double rmse = 0;  // mean_squared_error(squared=False)
  double mape = 0;  // mean_absolute_percentage_error (a fraction; |y| below machine epsilon counts as epsilon)
  double r2 = 0;    // r2_score (1 for a perfect fit of a constant truth, 0 for an imperfect one, NaN for one row)
  int64_t rows = 0;
};

Result<RegressionMetrics> RegressionPerformance(std::span<const double> truth, std::span<const double> predicted);

struct ClassificationMetrics {
  std::vector<std::string> labels;              // sorted union of true and predicted labels
  std::vector<std::vector<int64_t>> confusion;  // confusion[true][predicted], in `labels` order
  double accuracy = 0;
  double precision_macro = 0, recall_macro = 0, f1_macro = 0;
  double precision_weighted = 0, recall_weighted = 0, f1_weighted = 0;  // weighted by true support
  std::optional<double> roc_auc;   // binary, or one-vs-rest macro for several classes
  std::optional<double> log_loss;  // natural log, probabilities clipped to [eps, 1 - eps]
  int64_t rows = 0;
};

// `probabilities` (optional): one row per prediction; for two classes one column (the probability
// of the greater true label) or two; for more, one column per true label in sorted order, each row
// summing to 1.
Result<ClassificationMetrics> ClassificationPerformance(std::span<const std::string> truth,
                                                        std::span<const std::string> predicted,
                                                        const std::vector<std::vector<double>>* probabilities = nullptr);

}  // namespace lathe::monitoring
