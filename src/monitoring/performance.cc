#include "monitoring/performance.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include <fmt/format.h>

namespace lathe::monitoring {

Result<RegressionMetrics> RegressionPerformance(std::span<const double> truth, std::span<const double> predicted) {
  if (truth.size() != predicted.size()) {
    return Status::InvalidParameter(fmt::format("{} labels for {} predictions", truth.size(), predicted.size()));
  }
  if (truth.empty()) return Status::InvalidParameter("no labelled predictions");
  const double n = static_cast<double>(truth.size());
  const double epsilon = std::numeric_limits<double>::epsilon();
  RegressionMetrics metrics;
  metrics.rows = static_cast<int64_t>(truth.size());
  double absolute = 0, squared = 0, percentage = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    const double error = predicted[i] - truth[i];
    absolute += std::abs(error);
    squared += error * error;
    percentage += std::abs(error) / std::max(std::abs(truth[i]), epsilon);
  }
  metrics.mae = absolute / n;
  metrics.rmse = std::sqrt(squared / n);
  metrics.mape = percentage / n;
  const double mean = std::accumulate(truth.begin(), truth.end(), 0.0) / n;
  double total = 0;
  for (double value : truth) total += (value - mean) * (value - mean);
  if (truth.size() < 2) {
    metrics.r2 = std::nan("");  // not defined for one sample
  } else if (total == 0) {
    metrics.r2 = squared == 0 ? 1.0 : 0.0;
  } else {
    metrics.r2 = 1 - squared / total;
  }
  return metrics;
}

namespace {

// Area under the ROC curve of `scores` for `positive` rows: the Mann–Whitney statistic with ties
// counted half, which equals scikit-learn's trapezoidal area.
std::optional<double> BinaryAuc(const std::vector<bool>& positive, const std::vector<double>& scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double positive_rank_sum = 0, positives = 0;
  for (size_t start = 0; start < order.size();) {
    size_t end = start;
    while (end < order.size() && scores[order[end]] == scores[order[start]]) ++end;
    const double midrank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
    for (size_t i = start; i < end; ++i) {
      if (positive[order[i]]) {
        positive_rank_sum += midrank;
        positives += 1;
      }
    }
    start = end;
  }
  const double negatives = static_cast<double>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return std::nullopt;  // undefined with one class
  return (positive_rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives);
}

}  // namespace

Result<ClassificationMetrics> ClassificationPerformance(std::span<const std::string> truth, std::span<const std::string> predicted,
                                                        const std::vector<std::vector<double>>* probabilities) {
  if (truth.size() != predicted.size()) {
    return Status::InvalidParameter(fmt::format("{} labels for {} predictions", truth.size(), predicted.size()));
  }
  if (truth.empty()) return Status::InvalidParameter("no labelled predictions");
  ClassificationMetrics metrics;
  metrics.rows = static_cast<int64_t>(truth.size());
  std::map<std::string, size_t> index;
  for (const auto& label : truth) index.emplace(label, 0);
  for (const auto& label : predicted) index.emplace(label, 0);
  for (auto& [label, position] : index) {
    position = metrics.labels.size();
    metrics.labels.push_back(label);
  }
  const size_t k = metrics.labels.size();
  metrics.confusion.assign(k, std::vector<int64_t>(k, 0));
  int64_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    const size_t t = index[truth[i]], p = index[predicted[i]];
    ++metrics.confusion[t][p];
    correct += t == p;
  }
  const double n = static_cast<double>(truth.size());
  metrics.accuracy = static_cast<double>(correct) / n;
  // Per label; a zero denominator gives 0 (scikit-learn's zero_division default, with its warning).
  for (size_t label = 0; label < k; ++label) {
    double true_positive = static_cast<double>(metrics.confusion[label][label]);
    double predicted_count = 0, support = 0;
    for (size_t other = 0; other < k; ++other) {
      predicted_count += static_cast<double>(metrics.confusion[other][label]);
      support += static_cast<double>(metrics.confusion[label][other]);
    }
    const double precision = predicted_count > 0 ? true_positive / predicted_count : 0;
    const double recall = support > 0 ? true_positive / support : 0;
    const double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    metrics.precision_macro += precision / static_cast<double>(k);
    metrics.recall_macro += recall / static_cast<double>(k);
    metrics.f1_macro += f1 / static_cast<double>(k);
    metrics.precision_weighted += precision * support / n;
    metrics.recall_weighted += recall * support / n;
    metrics.f1_weighted += f1 * support / n;
  }
  if (!probabilities) return metrics;

  // The classes of the probabilities are the true labels, sorted (scikit-learn's LabelBinarizer).
  std::vector<std::string> classes(truth.begin(), truth.end());
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  if (probabilities->size() != truth.size()) {
    return Status::InvalidParameter(fmt::format("{} probability rows for {} labels", probabilities->size(), truth.size()));
  }
  if (classes.size() < 2) return metrics;  // AUC and log loss need two classes among the labels
  const size_t width = (*probabilities)[0].size();
  const bool binary_column = classes.size() == 2 && width == 1;
  if (!binary_column && width != classes.size()) {
    return Status::InvalidParameter(fmt::format("probabilities have {} columns for {} classes among the labels", width, classes.size()));
  }
  // Rows as full distributions over `classes`.
  std::vector<std::vector<double>> rows;
  rows.reserve(truth.size());
  for (const auto& row : *probabilities) {
    if (row.size() != width) return Status::InvalidParameter("probability rows differ in length");
    rows.push_back(binary_column ? std::vector<double>{1 - row[0], row[0]} : row);
  }
  std::vector<size_t> truth_class(truth.size());
  for (size_t i = 0; i < truth.size(); ++i) {
    truth_class[i] = std::lower_bound(classes.begin(), classes.end(), truth[i]) - classes.begin();
  }
  if (classes.size() == 2) {
    std::vector<bool> positive(truth.size());
    std::vector<double> scores(truth.size());
    for (size_t i = 0; i < truth.size(); ++i) {
      positive[i] = truth_class[i] == 1;
      scores[i] = rows[i][1];
    }
    metrics.roc_auc = BinaryAuc(positive, scores);
  } else {
    for (const auto& row : rows) {
      const double sum = std::accumulate(row.begin(), row.end(), 0.0);
      if (std::abs(sum - 1) > 1e-8 + 1e-5) {  // numpy.allclose(1, sum)
        return Status::InvalidParameter("for several classes, each probability row must sum to 1");
      }
    }
    double total = 0;
    for (size_t c = 0; c < classes.size(); ++c) {
      std::vector<bool> positive(truth.size());
      std::vector<double> scores(truth.size());
      for (size_t i = 0; i < truth.size(); ++i) {
        positive[i] = truth_class[i] == c;
        scores[i] = rows[i][c];
      }
      total += BinaryAuc(positive, scores).value_or(std::nan(""));
    }
    metrics.roc_auc = total / static_cast<double>(classes.size());
  }
  // log_loss: clip to [eps, 1 - eps], renormalise each row, mean of -log p(true class).
  const double epsilon = std::numeric_limits<double>::epsilon();
  double loss = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    double sum = 0;
    for (double& p : rows[i]) {
      p = std::clamp(p, epsilon, 1 - epsilon);
      sum += p;
    }
    loss -= std::log(rows[i][truth_class[i]] / sum);
  }
  metrics.log_loss = loss / n;
  return metrics;
}

}  // namespace lathe::monitoring
