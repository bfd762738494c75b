// Native XGBoost gbtree evaluation, bit-compatible with XGBoost 1.7's CPU predictor: features are
// compared as float (x < split goes left, NaN follows the default direction), leaf values are
// summed in float in tree order onto the base margin, then the objective's transform is applied in
// float.
#include "models/gbtree_evaluator.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace lathe::models {
namespace {

using nlohmann::json;

Status Unsupported(const std::string& what) { return Status::InvalidState(what); }

// XGBoost writes its parameters as strings ("5E-1"); tolerate numbers too.
Result<double> NumberParam(const json& object, const char* key) {
  auto found = object.find(key);
  if (found == object.end()) return Status::InvalidParameter(fmt::format("the model JSON has no '{}'", key));
  if (found->is_number()) return found->get<double>();
  if (found->is_string()) {
    try {
      return std::stod(found->get<std::string>());
    } catch (const std::exception&) {
    }
  }
  return Status::InvalidParameter(fmt::format("the model JSON's '{}' is not a number", key));
}

bool Truthy(const json& value) { return value.is_boolean() ? value.get<bool>() : value.get<double>() != 0; }

}  // namespace

Result<std::unique_ptr<GbtreeEvaluator>> GbtreeEvaluator::FromXgboostJson(std::string_view model_json) {
  json root = json::parse(model_json, nullptr, /*allow_exceptions=*/false);
  if (!root.is_object() || !root.contains("learner")) {
    return Status::InvalidParameter("not an XGBoost JSON model (no 'learner')");
  }
  std::unique_ptr<GbtreeEvaluator> evaluator(new GbtreeEvaluator());
  try {
    const json& learner = root["learner"];
    const json& booster = learner.at("gradient_booster");
    const std::string booster_name = booster.value("name", "");
    if (booster_name != "gbtree") return Unsupported(fmt::format("booster '{}'", booster_name));
    const json& params = learner.at("learner_model_param");
    LATHE_ASSIGN_OR_RETURN(double base_score, NumberParam(params, "base_score"));
    LATHE_ASSIGN_OR_RETURN(double num_class, NumberParam(params, "num_class"));
    LATHE_ASSIGN_OR_RETURN(double num_feature, NumberParam(params, "num_feature"));
    if (params.contains("num_target")) {
      LATHE_ASSIGN_OR_RETURN(double num_target, NumberParam(params, "num_target"));
      if (num_target > 1) return Unsupported("multi-target models");
    }
    evaluator->num_features_ = static_cast<size_t>(num_feature);
    evaluator->num_groups_ = std::max<size_t>(1, static_cast<size_t>(num_class));
    evaluator->objective_ = learner.at("objective").value("name", "");
    const std::string& objective = evaluator->objective_;
    if (objective == "reg:squarederror" || objective == "reg:linear" || objective == "reg:squaredlogerror" ||
        objective == "reg:pseudohubererror" || objective == "reg:absoluteerror" || objective == "binary:logitraw" ||
        objective == "rank:pairwise" || objective == "rank:ndcg" || objective == "rank:map") {
      evaluator->transform_ = TransformKind::kIdentity;
      evaluator->base_margin_ = static_cast<float>(base_score);
    } else if (objective == "binary:logistic" || objective == "reg:logistic") {
      evaluator->transform_ = TransformKind::kSigmoid;
      // XGBoost keeps base_score as a probability and starts from its logit.
      evaluator->base_margin_ = -std::log(1.0f / static_cast<float>(base_score) - 1.0f);
    } else if (objective == "count:poisson" || objective == "reg:gamma" || objective == "reg:tweedie") {
      evaluator->transform_ = TransformKind::kExp;
      evaluator->base_margin_ = std::log(static_cast<float>(base_score));
    } else if (objective == "multi:softprob") {
      evaluator->transform_ = TransformKind::kSoftmax;
      evaluator->base_margin_ = static_cast<float>(base_score);
    } else if (objective == "multi:softmax") {
      evaluator->transform_ = TransformKind::kArgmax;
      evaluator->base_margin_ = static_cast<float>(base_score);
    } else {
      return Unsupported(fmt::format("objective '{}'", objective));
    }
    evaluator->output_per_row_ = evaluator->transform_ == TransformKind::kArgmax ? 1 : evaluator->num_groups_;

    const json& model = booster.at("model");
    const json& trees = model.at("trees");
    const json& tree_info = model.at("tree_info");
    if (tree_info.size() != trees.size()) return Status::InvalidParameter("tree_info and trees differ in length");
    for (size_t t = 0; t < trees.size(); ++t) {
      const json& tree = trees[t];
      const auto& left = tree.at("left_children");
      const auto& right = tree.at("right_children");
      const auto& split_index = tree.at("split_indices");
      const auto& split_condition = tree.at("split_conditions");
      const auto& default_left = tree.at("default_left");
      const size_t count = left.size();
      if (count == 0 || right.size() != count || split_index.size() != count || split_condition.size() != count ||
          default_left.size() != count) {
        return Status::InvalidParameter(fmt::format("tree {} has inconsistent node arrays", t));
      }
      if (auto types = tree.find("split_type"); types != tree.end()) {
        for (const auto& type : *types) {
          if (type.get<int>() != 0) return Unsupported("categorical splits");
        }
      }
      if (auto param = tree.find("tree_param"); param != tree.end()) {
        auto leaf_vector = NumberParam(*param, "size_leaf_vector");
        if (leaf_vector.ok() && *leaf_vector > 0) return Unsupported("vector leaves");
      }
      const uint32_t group = tree_info[t].get<uint32_t>();
      if (group >= evaluator->num_groups_) return Status::InvalidParameter(fmt::format("tree {} has group {}", t, group));
      // Breadth-first relayout so that a node's two children sit side by side.
      const auto root = static_cast<uint32_t>(evaluator->nodes_.size());
      evaluator->roots_.push_back(root);
      evaluator->groups_.push_back(group);
      std::deque<std::pair<int64_t, uint32_t>> pending{{0, root}};  // (xgboost node id, our index)
      evaluator->nodes_.push_back({});
      size_t visited = 0;
      while (!pending.empty()) {
        auto [id, index] = pending.front();
        pending.pop_front();
        if (id < 0 || static_cast<size_t>(id) >= count || ++visited > count) {
          return Status::InvalidParameter(fmt::format("tree {} links to a node that does not exist", t));
        }
        Node node;
        node.value = static_cast<float>(split_condition[id].get<double>());
        const int64_t left_id = left[id].get<int64_t>();
        if (left_id == -1) {
          node.feature = 0;
          node.left = 0;
        } else {
          const int64_t feature = split_index[id].get<int64_t>();
          if (feature < 0 || static_cast<size_t>(feature) >= evaluator->num_features_) {
            return Status::InvalidParameter(fmt::format("tree {} splits on feature {} of {}", t, feature,
                                                        evaluator->num_features_));
          }
          node.feature = static_cast<uint32_t>(feature) | (Truthy(default_left[id]) ? kDefaultLeft : 0);
          node.left = static_cast<uint32_t>(evaluator->nodes_.size());
          evaluator->nodes_.push_back({});
          evaluator->nodes_.push_back({});
          pending.emplace_back(left_id, node.left);
          pending.emplace_back(right[id].get<int64_t>(), node.left + 1);
        }
        evaluator->nodes_[index] = node;
      }
    }
  } catch (const json::exception& error) {
    return Status::InvalidParameter(fmt::format("malformed XGBoost JSON model: {}", error.what()));
  }
  if (evaluator->num_groups_ > kBlockRows * kMaxClasses) return Unsupported("more than 8192 classes");
  return evaluator;
}

uint64_t GbtreeEvaluator::memory_bytes() const {
  return sizeof(*this) + nodes_.capacity() * sizeof(Node) + (roots_.capacity() + groups_.capacity()) * sizeof(uint32_t);
}

template <size_t kRows>
void GbtreeEvaluator::PredictBlock(const double* rows, float* margins) const {
  for (size_t i = 0; i < kRows * num_groups_; ++i) margins[i] = base_margin_;
  const Node* nodes = nodes_.data();
  for (size_t t = 0; t < roots_.size(); ++t) {
    // The rows walk the tree in lockstep: their loads are independent, so the CPU overlaps the
    // cache misses that a single walk would wait for one after another.
    const Node* at[kRows];
    for (size_t r = 0; r < kRows; ++r) at[r] = nodes + roots_[t];
    bool walking = true;
    while (walking) {
      walking = false;
      for (size_t r = 0; r < kRows; ++r) {
        const Node* node = at[r];
        if (node->left == 0) continue;
        walking = true;
        const float x = static_cast<float>(rows[r * num_features_ + (node->feature & kFeatureMask)]);
        uint32_t next;
        if (std::isnan(x)) {
          next = (node->feature & kDefaultLeft) ? node->left : node->left + 1;
        } else {
          next = node->left + (x < node->value ? 0 : 1);
        }
        at[r] = nodes + next;
      }
    }
    const uint32_t group = groups_[t];
    for (size_t r = 0; r < kRows; ++r) margins[r * num_groups_ + group] += at[r]->value;
  }
}

void GbtreeEvaluator::Transform(float* margins, double* out) const {
  switch (transform_) {
    case TransformKind::kIdentity:
      for (size_t g = 0; g < num_groups_; ++g) out[g] = margins[g];
      break;
    case TransformKind::kSigmoid:
      for (size_t g = 0; g < num_groups_; ++g) out[g] = 1.0f / (1.0f + std::exp(-margins[g]));
      break;
    case TransformKind::kExp:
      for (size_t g = 0; g < num_groups_; ++g) out[g] = std::exp(margins[g]);
      break;
    case TransformKind::kSoftmax: {
      float largest = margins[0];
      for (size_t g = 1; g < num_groups_; ++g) largest = std::max(largest, margins[g]);
      double sum = 0;  // XGBoost sums in double, divides in float
      for (size_t g = 0; g < num_groups_; ++g) {
        margins[g] = std::exp(margins[g] - largest);
        sum += margins[g];
      }
      for (size_t g = 0; g < num_groups_; ++g) out[g] = margins[g] / static_cast<float>(sum);
      break;
    }
    case TransformKind::kArgmax:
      out[0] = static_cast<double>(std::max_element(margins, margins + num_groups_) - margins);
      break;
  }
}

Status GbtreeEvaluator::Predict(const double* features, size_t rows, double* out) const {
  // Margins live on the stack; FromXgboostJson bounds blocks × classes to fit.
  float margins[kBlockRows * kMaxClasses];
  size_t r = 0;
  if (num_groups_ <= kMaxClasses) {
    for (; r + kBlockRows <= rows; r += kBlockRows) {
      PredictBlock<kBlockRows>(features + r * num_features_, margins);
      for (size_t i = 0; i < kBlockRows; ++i) Transform(margins + i * num_groups_, out + (r + i) * output_per_row_);
    }
  }
  for (; r < rows; ++r) {
    PredictBlock<1>(features + r * num_features_, margins);
    Transform(margins, out + r * output_per_row_);
  }
  return Status::Ok();
}

}  // namespace lathe::models
