// Linear, ridge, lasso and logistic regression over a dense feature matrix: intercept + weights · x,
// then the link sklearn applies (internal to the models module).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "core/status.h"
#include "models/dense_predictor.h"

namespace lathe::models {

enum class LinearLink {
  kIdentity,   // regression: the raw scores, one per output
  kSigmoid,    // binary logistic regression: one probability, of the positive class
  kSoftmax,    // multinomial logistic regression: one probability per class
  kOneVsRest,  // one-vs-rest logistic regression: per-class sigmoids normalised to sum to 1
};

struct LinearParameters {
  size_t num_features = 0;
  std::vector<double> weights;     // num_outputs × num_features, row-major (sklearn's coef_)
  std::vector<double> intercepts;  // num_outputs (sklearn's intercept_)
  LinearLink link = LinearLink::kIdentity;
};

// Checks the shapes (weights = intercepts × num_features; one output for kSigmoid, at least two for
// kSoftmax and kOneVsRest) and returns a predictor whose evaluator() is "linear". Its Predict
// allocates nothing and propagates NaN features into NaN outputs.
Result<std::unique_ptr<DensePredictor>> MakeLinearPredictor(LinearParameters parameters);

}  // namespace lathe::models
