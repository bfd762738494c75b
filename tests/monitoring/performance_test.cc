// Model quality metrics against scikit-learn (Debian's /usr/bin/python3).
#include "monitoring/performance.h"

#include "monitoring/python_reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

namespace lathe::monitoring {
namespace {

using nlohmann::json;
using testing::ExpectClose;

constexpr const char* kSklearnScript = R"py(
import json, sys
import numpy as np
from sklearn import metrics as m
case = json.load(open(sys.argv[1]))
out = {}
if case["kind"] == "regression":
    y, p = np.array(case["truth"]), np.array(case["predicted"])
    out = {"mae": m.mean_absolute_error(y, p), "rmse": m.mean_squared_error(y, p, squared=False),
           "mape": m.mean_absolute_percentage_error(y, p), "r2": m.r2_score(y, p)}
else:
    y, p = case["truth"], case["predicted"]
    labels = sorted(set(y) | set(p))
    out = {"accuracy": m.accuracy_score(y, p),
           "confusion": m.confusion_matrix(y, p, labels=labels).tolist()}
    for average in ("macro", "weighted"):
        out["precision_" + average] = m.precision_score(y, p, average=average, zero_division=0)
        out["recall_" + average] = m.recall_score(y, p, average=average, zero_division=0)
        out["f1_" + average] = m.f1_score(y, p, average=average, zero_division=0)
    if "probabilities" in case:
        proba = np.array(case["probabilities"])
        classes = sorted(set(y))
        score = proba[:, -1] if len(classes) == 2 and proba.shape[1] <= 2 else proba
        out["roc_auc"] = m.roc_auc_score(y, score, multi_class="ovr", average="macro") if len(classes) > 2 else m.roc_auc_score(y, score)
        out["log_loss"] = m.log_loss(y, proba if proba.shape[1] > 1 else proba[:, 0])
print(json.dumps({k: (v if isinstance(v, list) else None if np.isnan(v) else float(v)) for k, v in out.items()}))
)py";

json RunSklearn(const json& input) { return testing::RunPythonJson(kSklearnScript, input); }

void CheckRegression(const std::vector<double>& truth, const std::vector<double>& predicted, const std::string& name) {
  auto metrics = RegressionPerformance(truth, predicted);
  ASSERT_TRUE(metrics.ok()) << metrics.status().message();
  auto expected = RunSklearn({{"kind", "regression"}, {"truth", truth}, {"predicted", predicted}});
  ExpectClose(metrics->mae, expected["mae"], name + " mae");
  ExpectClose(metrics->rmse, expected["rmse"], name + " rmse");
  ExpectClose(metrics->mape, expected["mape"], name + " mape");
  ExpectClose(metrics->r2, expected["r2"], name + " r2");
}

TEST(PerformanceTest, RegressionMatchesSklearn) {
  std::mt19937_64 random(1);
  std::normal_distribution<double> normal(10, 3);
  std::vector<double> truth(5000), predicted(5000);
  for (size_t i = 0; i < truth.size(); ++i) {
    truth[i] = normal(random);
    predicted[i] = truth[i] + normal(random) / 5 - 2;
  }
  truth[7] = 0;  // MAPE divides by epsilon there, as scikit-learn does
  CheckRegression(truth, predicted, "noisy");
  CheckRegression({1, 1, 1}, {1, 1, 1}, "perfect constant");
  CheckRegression({1, 1, 1}, {1, 2, 1}, "imperfect constant");
  CheckRegression({3}, {2.5}, "one row");
}

void CheckClassification(const std::vector<std::string>& truth, const std::vector<std::string>& predicted,
                         const std::vector<std::vector<double>>* probabilities, const std::string& name) {
  auto metrics = ClassificationPerformance(truth, predicted, probabilities);
  ASSERT_TRUE(metrics.ok()) << metrics.status().message();
  json input = {{"kind", "classification"}, {"truth", truth}, {"predicted", predicted}};
  if (probabilities) input["probabilities"] = *probabilities;
  auto expected = RunSklearn(input);
  ExpectClose(metrics->accuracy, expected["accuracy"], name + " accuracy");
  for (const char* key : {"precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted"}) {
    double actual = std::string(key) == "precision_macro"    ? metrics->precision_macro
                    : std::string(key) == "recall_macro"     ? metrics->recall_macro
                    : std::string(key) == "f1_macro"         ? metrics->f1_macro
                    : std::string(key) == "precision_weighted" ? metrics->precision_weighted
                    : std::string(key) == "recall_weighted"  ? metrics->recall_weighted
                                                             : metrics->f1_weighted;
    ExpectClose(actual, expected[key], name + " " + key);
  }
  EXPECT_EQ(json(metrics->confusion), expected["confusion"]) << name;
  if (probabilities) {
    ASSERT_TRUE(metrics->roc_auc && metrics->log_loss) << name;
    ExpectClose(*metrics->roc_auc, expected["roc_auc"], name + " roc_auc");
    ExpectClose(*metrics->log_loss, expected["log_loss"], name + " log_loss");
  }
}

TEST(PerformanceTest, BinaryClassificationMatchesSklearn) {
  std::mt19937_64 random(2);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::vector<std::string> truth, predicted;
  std::vector<std::vector<double>> probabilities;
  for (int i = 0; i < 3000; ++i) {
    const bool yes = uniform(random) < 0.3;
    double p = std::clamp((yes ? 0.65 : 0.35) + (uniform(random) - 0.5) * 0.6, 0.0, 1.0);
    p = std::round(p * 20) / 20;  // ties in the scores
    if (i == 5) p = 1.0;          // clipped by log loss
    truth.push_back(yes ? "yes" : "no");
    predicted.push_back(p >= 0.5 ? "yes" : "no");
    probabilities.push_back({p});
  }
  CheckClassification(truth, predicted, &probabilities, "binary");
}

TEST(PerformanceTest, MulticlassOneVsRestMatchesSklearn) {
  std::mt19937_64 random(3);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::vector<std::string> classes = {"cat", "dog", "eel"}, truth, predicted;
  std::vector<std::vector<double>> probabilities;
  for (int i = 0; i < 2000; ++i) {
    const size_t label = static_cast<size_t>(uniform(random) * 3) % 3;
    std::vector<double> row = {uniform(random), uniform(random), uniform(random)};
    row[label] += 0.8;
    const double sum = row[0] + row[1] + row[2];
    for (double& p : row) p /= sum;
    truth.push_back(classes[label]);
    predicted.push_back(classes[std::max_element(row.begin(), row.end()) - row.begin()]);
    probabilities.push_back(row);
  }
  predicted[0] = "fox";  // a label only the predictions have: zero precision and recall for it
  CheckClassification(truth, predicted, &probabilities, "multiclass");
}

TEST(PerformanceTest, BadInput) {
  EXPECT_FALSE(RegressionPerformance(std::vector<double>{1, 2}, std::vector<double>{1}).ok());
  EXPECT_FALSE(RegressionPerformance(std::vector<double>{}, std::vector<double>{}).ok());
  std::vector<std::string> truth = {"a", "b", "c"}, predicted = {"a", "b", "b"};
  std::vector<std::vector<double>> not_summing = {{0.5, 0.2, 0.2}, {0.1, 0.8, 0.1}, {0.3, 0.3, 0.4}};
  auto metrics = ClassificationPerformance(truth, predicted, &not_summing);
  ASSERT_FALSE(metrics.ok());
  EXPECT_NE(metrics.status().message().find("sum to 1"), std::string::npos);
}

}  // namespace
}  // namespace lathe::monitoring
