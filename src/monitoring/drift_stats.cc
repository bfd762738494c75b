#include "monitoring/drift_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>

namespace lathe::monitoring {

std::vector<double> SturgesEdges(std::span<const double> reference, std::span<const double> current) {
  const size_t size = reference.size() + current.size();
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (auto sample : {reference, current}) {
    for (double value : sample) {
      low = std::min(low, value);
      high = std::max(high, value);
    }
  }
  if (size == 0) return {0.0, 1.0};
  // numpy: the width is ptp / (log2(n) + 1) over the data; the count is ceil((last - first) / width)
  // over the outer edges, which are the data's range widened by 0.5 on each side when it is empty.
  const double width = (high - low) / (std::log2(static_cast<double>(size)) + 1.0);
  double first = low, last = high;
  if (first == last) {
    first -= 0.5;
    last += 0.5;
  }
  const int64_t bins = width != 0 ? static_cast<int64_t>(std::ceil((last - first) / width)) : 1;
  // numpy.linspace(first, last, bins + 1): i * step + first, the last edge exactly `last`.
  std::vector<double> edges(static_cast<size_t>(bins) + 1);
  const double step = (last - first) / static_cast<double>(bins);
  for (int64_t i = 0; i <= bins; ++i) edges[static_cast<size_t>(i)] = static_cast<double>(i) * step + first;
  edges.back() = last;
  return edges;
}

std::vector<int64_t> HistogramCounts(std::span<const double> values, const std::vector<double>& edges) {
  // numpy.histogram with explicit edges: cumulative counts from searchsorted (left for every edge
  // but the last, right for the last), then differences.
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> cumulative(edges.size());
  for (size_t i = 0; i < edges.size(); ++i) {
    auto position = i + 1 < edges.size() ? std::lower_bound(sorted.begin(), sorted.end(), edges[i])
                                          : std::upper_bound(sorted.begin(), sorted.end(), edges[i]);
    cumulative[i] = position - sorted.begin();
  }
  std::vector<int64_t> counts(edges.size() > 0 ? edges.size() - 1 : 0);
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = cumulative[i + 1] - cumulative[i];
  return counts;
}

BinnedShares BinNumeric(std::span<const double> reference, std::span<const double> current) {
  std::vector<double> sorted_reference(reference.begin(), reference.end()), sorted_current(current.begin(), current.end());
  std::sort(sorted_reference.begin(), sorted_reference.end());
  std::sort(sorted_current.begin(), sorted_current.end());
  const auto distinct = std::unique(sorted_reference.begin(), sorted_reference.end()) - sorted_reference.begin();
  BinnedShares shares;
  const double n_reference = static_cast<double>(reference.size()), n_current = static_cast<double>(current.size());
  if (distinct > 20) {
    auto edges = SturgesEdges(reference, current);
    for (int64_t count : HistogramCounts(reference, edges)) shares.reference.push_back(static_cast<double>(count) / n_reference);
    for (int64_t count : HistogramCounts(current, edges)) shares.current.push_back(static_cast<double>(count) / n_current);
    return shares;
  }
  sorted_reference.assign(reference.begin(), reference.end());
  std::sort(sorted_reference.begin(), sorted_reference.end());
  std::vector<double> values;
  std::merge(sorted_reference.begin(), sorted_reference.end(), sorted_current.begin(), sorted_current.end(),
             std::back_inserter(values));
  values.erase(std::unique(values.begin(), values.end()), values.end());
  for (double value : values) {
    auto in_reference = std::equal_range(sorted_reference.begin(), sorted_reference.end(), value);
    auto in_current = std::equal_range(sorted_current.begin(), sorted_current.end(), value);
    shares.reference.push_back(static_cast<double>(in_reference.second - in_reference.first) / n_reference);
    shares.current.push_back(static_cast<double>(in_current.second - in_current.first) / n_current);
  }
  return shares;
}

void FillZeroShares(std::vector<double>& shares) {
  double smallest = std::numeric_limits<double>::infinity();
  for (double share : shares) {
    if (share != 0) smallest = std::min(smallest, share);
  }
  if (!std::isfinite(smallest)) return;  // all zero: Evidently's min() of nothing would fail; leave them
  const double fill = smallest <= 0.0001 ? smallest / 1e6 : 0.0001;
  for (double& share : shares) {
    if (share == 0) share = fill;
  }
}

namespace {

// scipy.special.rel_entr.
double RelativeEntropy(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) return std::nan("");
  if (x > 0 && y > 0) return x * std::log(x / y);
  if (x == 0 && y >= 0) return 0;
  return std::numeric_limits<double>::infinity();
}

std::vector<double> Normalised(std::span<const double> shares) {
  const double total = std::accumulate(shares.begin(), shares.end(), 0.0);
  std::vector<double> out(shares.begin(), shares.end());
  for (double& share : out) share /= total;
  return out;
}

}  // namespace

double PopulationStabilityIndex(std::span<const double> reference_shares, std::span<const double> current_shares) {
  double psi = 0;
  for (size_t i = 0; i < reference_shares.size(); ++i) {
    const double r = reference_shares[i], c = current_shares[i];
    psi += (r - c) * std::log(r / c);
  }
  return psi;
}

double KlDivergence(std::span<const double> reference_shares, std::span<const double> current_shares) {
  auto p = Normalised(reference_shares), q = Normalised(current_shares);
  double total = 0;
  for (size_t i = 0; i < p.size(); ++i) total += RelativeEntropy(p[i], q[i]);
  return total;
}

double JensenShannonDistance(std::span<const double> reference_shares, std::span<const double> current_shares) {
  auto p = Normalised(reference_shares), q = Normalised(current_shares);
  double left = 0, right = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double m = (p[i] + q[i]) / 2.0;
    left += RelativeEntropy(p[i], m);
    right += RelativeEntropy(q[i], m);
  }
  return std::sqrt((left + right) / 2.0);
}

double NormedWasserstein(std::span<const double> reference, std::span<const double> current) {
  std::vector<double> u(reference.begin(), reference.end()), v(current.begin(), current.end());
  std::sort(u.begin(), u.end());
  std::sort(v.begin(), v.end());
  // scipy's _cdf_distance(p=1): sum over consecutive values of both samples of
  // |F_u - F_v| * (next - this), the CDFs counting values <= this.
  const double nu = static_cast<double>(u.size()), nv = static_cast<double>(v.size());
  size_t i = 0, j = 0;
  double distance = 0;
  double previous = std::min(u.front(), v.front());
  while (i < u.size() || j < v.size()) {
    // Advance past every value equal to `previous` in both samples.
    while (i < u.size() && u[i] <= previous) ++i;
    while (j < v.size() && v[j] <= previous) ++j;
    if (i == u.size() && j == v.size()) break;
    double next = std::min(i < u.size() ? u[i] : std::numeric_limits<double>::infinity(),
                           j < v.size() ? v[j] : std::numeric_limits<double>::infinity());
    distance += std::abs(static_cast<double>(i) / nu - static_cast<double>(j) / nv) * (next - previous);
    previous = next;
  }
  double mean = std::accumulate(reference.begin(), reference.end(), 0.0) / nu;
  double squares = 0;
  for (double value : reference) squares += (value - mean) * (value - mean);
  const double deviation = std::sqrt(squares / nu);
  return distance / std::max(deviation, 0.001);
}

PValueResult ChiSquareGoodnessOfFit(std::span<const double> reference_counts, std::span<const double> current_counts) {
  const double n_reference = std::accumulate(reference_counts.begin(), reference_counts.end(), 0.0);
  const double n_current = std::accumulate(current_counts.begin(), current_counts.end(), 0.0);
  const double scale = n_current / n_reference;
  PValueResult result;
  for (size_t i = 0; i < current_counts.size(); ++i) {
    const double expected = reference_counts[i] * scale;
    const double difference = current_counts[i] - expected;
    result.statistic += difference * difference / expected;
  }
  const double degrees = static_cast<double>(current_counts.size()) - 1;
  if (degrees <= 0 || std::isnan(result.statistic)) {
    result.p_value = std::nan("");
  } else if (std::isinf(result.statistic)) {
    result.p_value = 0;
  } else {
    result.p_value = boost::math::cdf(boost::math::complement(boost::math::chi_squared(degrees), result.statistic));
  }
  return result;
}

PValueResult ProportionZTest(int64_t reference_first, int64_t reference_size, int64_t current_first, int64_t current_size,
                             bool same_single_value) {
  PValueResult result;
  if (same_single_value) return result;  // statistic 0, p 1
  // Evidently codes the first category 0 and the other 1, so the proportions are of the other.
  const double n1 = static_cast<double>(reference_size), n2 = static_cast<double>(current_size);
  const double p1 = static_cast<double>(reference_size - reference_first) / n1;
  const double p2 = static_cast<double>(current_size - current_first) / n2;
  const double pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
  result.statistic = (p1 - p2) / std::sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2));
  if (std::isnan(result.statistic)) {
    result.p_value = std::nan("");
  } else {
    result.p_value = 2 * (1 - boost::math::cdf(boost::math::normal(), std::abs(result.statistic)));
  }
  return result;
}

}  // namespace lathe::monitoring
