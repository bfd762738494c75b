// The drift statistics of a column, with Evidently's data-drift semantics and the numbers of the
// reference libraries (scipy, numpy): what each test computes is written beside it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace lathe::monitoring {

// numpy.histogram_bin_edges(concat(reference, current), bins="sturges"): equal-width edges over
// [min, max] of both samples together (min - 0.5 .. max + 0.5 when they are equal). Finite values.
std::vector<double> SturgesEdges(std::span<const double> reference, std::span<const double> current);

// numpy.histogram(values, edges)[0]: counts per bin, the last bin closed on the right; values
// outside the edges are not counted.
std::vector<int64_t> HistogramCounts(std::span<const double> values, const std::vector<double>& edges);

// Evidently's get_binned_data for numbers: when the reference has more than 20 distinct values,
// shares per SturgesEdges bin (counts / sample size); else one share per distinct value of either
// sample, in ascending order.
struct BinnedShares {
  std::vector<double> reference;
  std::vector<double> current;
};
BinnedShares BinNumeric(std::span<const double> reference, std::span<const double> current);

// Evidently's zero fill of a share vector (get_binned_data, feel_zeroes=True): zero shares become
// 1e-4, or the smallest non-zero share / 1e6 when that is <= 1e-4.
void FillZeroShares(std::vector<double>& shares);

// sum((r - c) * ln(r / c)) over shares already zero-filled.
double PopulationStabilityIndex(std::span<const double> reference_shares, std::span<const double> current_shares);
// scipy.stats.entropy(r, c): KL(r || c) in nats, both normalised to sum 1 first.
double KlDivergence(std::span<const double> reference_shares, std::span<const double> current_shares);
// scipy.spatial.distance.jensenshannon(r, c): the Jensen–Shannon distance (natural log), both
// normalised to sum 1 first.
double JensenShannonDistance(std::span<const double> reference_shares, std::span<const double> current_shares);

// scipy.stats.wasserstein_distance(reference, current) / max(numpy.std(reference), 0.001).
double NormedWasserstein(std::span<const double> reference, std::span<const double> current);

struct PValueResult {
  double statistic = 0;
  double p_value = 1;
};

// scipy.stats.chisquare(current_counts, expected) with expected = reference_counts * (n_current /
// n_reference), over the same categories in the same order; p from chi2(k - 1).
PValueResult ChiSquareGoodnessOfFit(std::span<const double> reference_counts, std::span<const double> current_counts);

// Evidently's two-proportion z-test for a two-valued column: `reference_first` of `reference_size`
// reference values (and `current_first` of `current_size` current ones) equal the first of the
// sorted categories. Two-sided: p = 2 * (1 - Phi(|z|)). p = 1 when both samples are the same
// single value.
PValueResult ProportionZTest(int64_t reference_first, int64_t reference_size, int64_t current_first, int64_t current_size,
                             bool same_single_value);

}  // namespace lathe::monitoring
