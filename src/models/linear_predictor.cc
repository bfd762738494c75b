// Linear and logistic regression predictors, computing what sklearn's predict/predict_proba do.
#include "models/linear_predictor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace lathe::models {
namespace {

class LinearPredictor final : public DensePredictor {
 public:
  explicit LinearPredictor(LinearParameters parameters) : p_(std::move(parameters)) {}

  size_t num_features() const override { return p_.num_features; }
  size_t num_outputs() const override { return p_.intercepts.size(); }
  std::string_view evaluator() const override { return "linear"; }
  uint64_t memory_bytes() const override {
    return sizeof(*this) + (p_.weights.size() + p_.intercepts.size()) * sizeof(double);
  }

  Status Predict(const double* features, size_t rows, double* out) const override {
    const size_t width = p_.num_features;
    const size_t outputs = p_.intercepts.size();
    for (size_t r = 0; r < rows; ++r) {
      const double* x = features + r * width;
      double* scores = out + r * outputs;
      for (size_t k = 0; k < outputs; ++k) {
        const double* w = p_.weights.data() + k * width;
        double sum = p_.intercepts[k];
        for (size_t f = 0; f < width; ++f) sum += w[f] * x[f];
        scores[k] = sum;
      }
      ApplyLink(scores, outputs);
    }
    return Status::Ok();
  }

 private:
  static double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

  void ApplyLink(double* scores, size_t outputs) const {
    switch (p_.link) {
      case LinearLink::kIdentity:
        return;
      case LinearLink::kSigmoid:
        scores[0] = Sigmoid(scores[0]);
        return;
      case LinearLink::kSoftmax: {
        const double max = *std::max_element(scores, scores + outputs);
        double total = 0;
        for (size_t k = 0; k < outputs; ++k) total += scores[k] = std::exp(scores[k] - max);
        for (size_t k = 0; k < outputs; ++k) scores[k] /= total;
        return;
      }
      case LinearLink::kOneVsRest: {
        double total = 0;
        for (size_t k = 0; k < outputs; ++k) total += scores[k] = Sigmoid(scores[k]);
        for (size_t k = 0; k < outputs; ++k) scores[k] /= total;
        return;
      }
    }
  }

  LinearParameters p_;
};

}  // namespace

Result<std::unique_ptr<DensePredictor>> MakeLinearPredictor(LinearParameters parameters) {
  const size_t outputs = parameters.intercepts.size();
  if (outputs == 0) return Status::InvalidParameter("a linear model needs at least one intercept");
  if (parameters.weights.size() != outputs * parameters.num_features) {
    return Status::InvalidParameter(
        fmt::format("a linear model with {} outputs over {} features needs {} weights, got {}", outputs,
                    parameters.num_features, outputs * parameters.num_features, parameters.weights.size()));
  }
  if (parameters.link == LinearLink::kSigmoid && outputs != 1) {
    return Status::InvalidParameter(
        fmt::format("binary logistic regression has one row of coefficients, got {}", outputs));
  }
  if ((parameters.link == LinearLink::kSoftmax || parameters.link == LinearLink::kOneVsRest) && outputs < 2) {
    return Status::InvalidParameter("multiclass logistic regression needs one row of coefficients per class (>= 2)");
  }
  return std::unique_ptr<DensePredictor>(new LinearPredictor(std::move(parameters)));
}

}  // namespace lathe::models
