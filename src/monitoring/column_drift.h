// Drift of one column between a reference and a current sample, with Evidently's data-drift
// semantics: which test runs by default, its threshold, and when the column counts as drifted.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "monitoring/column_types.h"
#include "monitoring/drift_stats.h"

namespace lathe::monitoring {

// Test names: "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div".
struct DriftSettings {
  std::optional<std::string> test;   // default: chosen from the data (see ChooseTest)
  std::optional<double> threshold;   // default: 0.05 for p-value tests, 0.1 for distances
};

struct ColumnDrift {
  std::string test;
  double statistic = 0;  // the p-value for p-value tests (as Evidently reports it), else the distance
  double threshold = 0;
  bool drifted = false;
  bool is_p_value = false;
  int64_t reference_size = 0;      // values tested, after dropping
  int64_t current_size = 0;
  int64_t dropped_reference = 0;   // NaN, +-inf and nulls removed before testing
  int64_t dropped_current = 0;
};

// InvalidParameter naming the known tests when `test` is not one of them.
Status CheckDriftTest(const std::string& test);

// Evidently's default: with `distinct` non-null values in reference and current together and
// `reference_rows` rows, up to 1000 rows: numerical with more than 5 values -> ks, more than 2 ->
// chisquare, else z; categorical with more than 2 -> chisquare, else z. Above 1000 rows:
// numerical with more than 5 values -> wasserstein, else jensenshannon; categorical ->
// jensenshannon.
std::string ChooseTest(ColumnKind kind, int64_t reference_rows, int64_t distinct);

// Numerical values (NaN and infinities are dropped and counted). An empty sample after dropping is
// an InvalidParameter error naming the side.
Result<ColumnDrift> NumericalColumnDrift(std::span<const double> reference, std::span<const double> current,
                                         const DriftSettings& settings = {});
// Every statistic of a numerical column, for a full evaluation that reports them all: scipy's
// ks_2samp, the normed Wasserstein distance, and PSI (zero-filled) and Jensen–Shannon over
// BinNumeric's shares.
struct NumericalStatistics {
  double ks_statistic = 0;
  double ks_p_value = 1;
  double wasserstein = 0;
  double psi = 0;
  double jensenshannon = 0;
};

// The same over samples SortFinite prepared, whose dropped counts are reported. With
// `statistics`, every statistic is computed into it too, from the same pass over the values (each
// test alone would walk them again).
Result<ColumnDrift> NumericalColumnDrift(const SortedSample& reference, const SortedSample& current,
                                         const DriftSettings& settings = {}, NumericalStatistics* statistics = nullptr);

// A categorical column as counts per category, as a GROUP BY returns them, so that no value needs
// to be held: each category once, in any order; a category counted on neither side is ignored.
struct CategoryCounts {
  std::vector<std::string> categories;
  std::vector<int64_t> reference;
  std::vector<int64_t> current;
  int64_t dropped_reference = 0;  // missing values
  int64_t dropped_current = 0;
};

// Every statistic of a categorical column: chi-square of the current counts against the scaled
// reference counts, and Jensen–Shannon over the category shares.
struct CategoricalStatistics {
  double chisquare_statistic = 0;
  double chisquare_p_value = 1;
  double jensenshannon = 0;
};

// Categories; nullopt is a missing value (dropped and counted).
Result<ColumnDrift> CategoricalColumnDrift(std::span<const std::optional<std::string>> reference,
                                           std::span<const std::optional<std::string>> current,
                                           const DriftSettings& settings = {});
// The same over counts; with `statistics`, every statistic is computed into it too.
Result<ColumnDrift> CategoricalColumnDrift(const CategoryCounts& counts, const DriftSettings& settings = {},
                                           CategoricalStatistics* statistics = nullptr);

// Evidently's dataset drift: drifted when the share of drifted columns is at least `share`.
bool DatasetDrifted(std::span<const ColumnDrift> columns, double share = 0.5);

}  // namespace lathe::monitoring
