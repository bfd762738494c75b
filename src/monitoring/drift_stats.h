// The drift statistics of a column, with Evidently's data-drift semantics and the numbers of the
// reference libraries (scipy, numpy): what each test computes is written beside it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace lathe::monitoring {

// A numerical sample prepared once for every statistic below: each of them needs the values in
// order, and sorting is most of the cost on large samples.
struct SortedSample {
  std::vector<double> values;  // the finite values, ascending
  int64_t dropped = 0;         // NaN and infinities left out
  int64_t negative_infinities = 0;  // of them
  int64_t positive_infinities = 0;
};

// Leaves out NaN and infinities and sorts the rest with an LSD radix sort on the IEEE-754 bits
// (several times faster than std::sort on a million values). -0.0 sorts before 0.0; they compare
// equal, so no statistic tells them apart.
SortedSample SortFinite(std::span<const double> values);

// The working memory of SortFinite, kept by a caller that sorts one large column after another:
// fresh memory costs a page fault per 4 KiB, which on the machines measured took longer than the
// sort itself.
struct SortBuffers {
  std::vector<uint64_t> keys;
  std::vector<uint64_t> scratch;
};
// The same with `buffers`, in the vector's own storage, which the result takes over: no copy, and
// a caller that moves the storage back after use (sample.values) can read the next column into it.
SortedSample SortFinite(std::vector<double>&& values, SortBuffers& buffers);

// What one ordered pass over two samples sorted ascending gives (each statistic alone would walk
// them again): scipy.stats.ks_2samp's statistic, sup |F_reference - F_current| over the values of
// both; scipy.stats.wasserstein_distance before any norming; the distinct values of both.
struct SortedComparison {
  double ks_statistic = 0;
  double wasserstein = 0;
  int64_t distinct = 0;
};
SortedComparison CompareSorted(std::span<const double> reference, std::span<const double> current);

// numpy.std(values) (ddof 0).
double PopulationDeviation(std::span<const double> values);

// numpy.histogram_bin_edges(concat(reference, current), bins="sturges"): equal-width edges over
// [min, max] of both samples together (min - 0.5 .. max + 0.5 when they are equal). Finite values.
std::vector<double> SturgesEdges(std::span<const double> reference, std::span<const double> current);
// The same from the range [min, max] of the `size` values of both samples together.
std::vector<double> SturgesEdgesOfRange(double min, double max, size_t size);

// numpy.histogram(values, edges)[0]: counts per bin, the last bin closed on the right; values
// outside the edges are not counted.
std::vector<int64_t> HistogramCounts(std::span<const double> values, const std::vector<double>& edges);
// The same over values sorted ascending: one binary search per edge.
std::vector<int64_t> HistogramCountsSorted(std::span<const double> ascending, const std::vector<double>& edges);

// Evidently's get_binned_data for numbers: when the reference has more than 20 distinct values,
// shares per SturgesEdges bin (counts / sample size); else one share per distinct value of either
// sample, in ascending order.
struct BinnedShares {
  std::vector<double> reference;
  std::vector<double> current;
};
BinnedShares BinNumeric(std::span<const double> reference, std::span<const double> current);
// The same over samples sorted ascending.
BinnedShares BinNumericSorted(std::span<const double> reference, std::span<const double> current);

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
