// Estimators over a dense feature matrix: the XGBoost booster (native tree-ensemble evaluator with
// the XGBoost C API as fallback) and linear models. Internal to the models module.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace lathe::models {

class DensePredictor {
 public:
  virtual ~DensePredictor() = default;
  virtual size_t num_features() const = 0;
  // Values per row that Predict writes: 1 for regression and binary objectives, the number of
  // classes for multi:softprob (and for multiclass linear models).
  virtual size_t num_outputs() const = 0;
  // "native-tree-ensemble", "xgboost-c-api", "linear", ...: shown in model metadata.
  virtual std::string_view evaluator() const = 0;
  virtual uint64_t memory_bytes() const = 0;
  // `features` holds rows × num_features() values, row-major, NaN = missing. Writes
  // rows × num_outputs() values to `out`: the objective's output (probabilities for logistic and
  // softprob objectives, the class index for multi:softmax, the value for regression). Thread-safe,
  // and allocates nothing per call for the native evaluators.
  virtual Status Predict(const double* features, size_t rows, double* out) const = 0;
};

// Loads an XGBoost model file in any format XGBoost reads (legacy binary `.xgb`/`.bin`, `.json`,
// `.ubj`) through the C API. Uses the native tree-ensemble evaluator when it covers the model
// (gbtree, numerical splits, supported objective), else the C API itself. A model saved by an
// XGBoost newer than the library's supported range is refused with a message naming both
// versions; `declared_xgb_version` is MLmodel's `xgb_version` ("" when unknown).
// `force_c_api` skips the native evaluator (for tests and benchmarks that compare the two).
Result<std::unique_ptr<DensePredictor>> LoadXgboostPredictor(const std::filesystem::path& file,
                                                             std::string_view declared_xgb_version,
                                                             bool force_c_api = false);

// The XGBoost versions whose models Lathe serves (shown in errors and docs).
std::string_view SupportedXgboostVersions();

}  // namespace lathe::models
