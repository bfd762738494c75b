// Native evaluation of XGBoost gbtree models: the booster's JSON laid out as flat arrays of
// 12-byte nodes with siblings adjacent, walked directly (internal to the models module).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "models/dense_predictor.h"

namespace lathe::models {

class GbtreeEvaluator final : public DensePredictor {
 public:
  // Reads XGBoost's JSON model (as XGBoosterSaveModelToBuffer writes it). kInvalidState means
  // "valid, but not something this evaluator covers" (dart, gblinear, categorical splits, vector
  // leaves, an objective it does not know): the caller falls back to the XGBoost C API.
  static Result<std::unique_ptr<GbtreeEvaluator>> FromXgboostJson(std::string_view model_json);

  size_t num_features() const override { return num_features_; }
  size_t num_outputs() const override { return output_per_row_; }
  std::string_view evaluator() const override { return "native-tree-ensemble"; }
  uint64_t memory_bytes() const override;
  Status Predict(const double* features, size_t rows, double* out) const override;

  const std::string& objective() const { return objective_; }
  size_t num_trees() const { return roots_.size(); }

 private:
  // A split node compares feature `feature & kFeatureMask` with `value` and goes to `left` or
  // `left + 1`; NaN goes left when kDefaultLeft is set. A leaf has left == 0 and holds its value.
  struct Node {
    float value;
    uint32_t feature;
    uint32_t left;
  };
  static constexpr uint32_t kDefaultLeft = 1u << 31;
  static constexpr uint32_t kFeatureMask = kDefaultLeft - 1;

  enum class TransformKind { kIdentity, kSigmoid, kExp, kSoftmax, kArgmax };

  static constexpr size_t kBlockRows = 8;    // rows walked in lockstep
  static constexpr size_t kMaxClasses = 1024;  // for blocks; single rows take up to 8 times more

  GbtreeEvaluator() = default;
  // Sums the leaves of every tree onto the base margin for kRows rows: margins[row * groups + g].
  template <size_t kRows>
  void PredictBlock(const double* rows, float* margins) const;
  // The objective's transform of one row's margins, written to `out`.
  void Transform(float* margins, double* out) const;

  std::vector<Node> nodes_;
  std::vector<uint32_t> roots_;   // index of each tree's root in nodes_
  std::vector<uint32_t> groups_;  // each tree's output group (class)
  std::string objective_;
  TransformKind transform_ = TransformKind::kIdentity;
  float base_margin_ = 0;
  size_t num_features_ = 0;
  size_t num_groups_ = 1;       // margins per row
  size_t output_per_row_ = 1;   // values written per row (1 for multi:softmax)
};

}  // namespace lathe::models
