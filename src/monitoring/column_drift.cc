#include "monitoring/column_drift.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "monitoring/drift_stats.h"
#include "monitoring/ks_test.h"

namespace lathe::monitoring {

std::string ChooseTest(ColumnKind kind, int64_t reference_rows, int64_t distinct) {
  if (reference_rows <= 1000) {
    if (kind == ColumnKind::kNumerical && distinct > 5) return "ks";
    return distinct > 2 ? "chisquare" : "z";
  }
  if (kind == ColumnKind::kNumerical && distinct > 5) return "wasserstein";
  return "jensenshannon";
}

Status CheckDriftTest(const std::string& test) {
  static const char* const kTests[] = {"ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div"};
  for (const char* known : kTests) {
    if (test == known) return Status::Ok();
  }
  return Status::InvalidParameter(
      fmt::format("unknown drift test '{}' (expected ks, chisquare, z, wasserstein, jensenshannon, psi or kl_div)", test));
}

namespace {

bool IsPValueTest(const std::string& test) { return test == "ks" || test == "chisquare" || test == "z"; }

// Fills in the verdict: p-value tests drift below the threshold (KS at or below, as Evidently),
// distances at or above it.
void Decide(ColumnDrift& drift, const DriftSettings& settings) {
  drift.is_p_value = IsPValueTest(drift.test);
  drift.threshold = settings.threshold.value_or(drift.is_p_value ? 0.05 : 0.1);
  if (drift.test == "ks") {
    drift.drifted = drift.statistic <= drift.threshold;
  } else if (drift.is_p_value) {
    drift.drifted = drift.statistic < drift.threshold;
  } else {
    drift.drifted = drift.statistic >= drift.threshold;
  }
}

// Counts per category in ascending category order: the order the tests below see them in.
struct OrderedCounts {
  std::vector<double> reference;
  std::vector<double> current;
  int64_t reference_size = 0;
  int64_t current_size = 0;
};

// Counts per distinct value of two sorted samples.
OrderedCounts ValueCounts(std::span<const double> reference, std::span<const double> current) {
  OrderedCounts counts;
  counts.reference_size = static_cast<int64_t>(reference.size());
  counts.current_size = static_cast<int64_t>(current.size());
  size_t i = 0, j = 0;
  while (i < reference.size() || j < current.size()) {
    const double value = j == current.size() || (i < reference.size() && reference[i] <= current[j]) ? reference[i] : current[j];
    const size_t reference_start = i, current_start = j;
    while (i < reference.size() && reference[i] == value) ++i;
    while (j < current.size() && current[j] == value) ++j;
    counts.reference.push_back(static_cast<double>(i - reference_start));
    counts.current.push_back(static_cast<double>(j - current_start));
  }
  return counts;
}

// Categories sorted bytewise (std::string's order), those counted on neither side left out.
OrderedCounts SortedCategoryCounts(const CategoryCounts& counts) {
  std::vector<size_t> order;
  for (size_t i = 0; i < counts.categories.size(); ++i) {
    if (counts.reference[i] != 0 || counts.current[i] != 0) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return counts.categories[a] < counts.categories[b]; });
  OrderedCounts ordered;
  for (size_t i : order) {
    ordered.reference.push_back(static_cast<double>(counts.reference[i]));
    ordered.current.push_back(static_cast<double>(counts.current[i]));
    ordered.reference_size += counts.reference[i];
    ordered.current_size += counts.current[i];
  }
  return ordered;
}

struct Shares {
  std::vector<double> reference;
  std::vector<double> current;
};
Shares CategoryShares(const OrderedCounts& counts) {
  Shares shares;
  for (size_t i = 0; i < counts.reference.size(); ++i) {
    shares.reference.push_back(counts.reference[i] / static_cast<double>(counts.reference_size));
    shares.current.push_back(counts.current[i] / static_cast<double>(counts.current_size));
  }
  return shares;
}

// The tests that work on categories (chisquare, z, and the share distances on few values).
Result<double> CategoryTest(const std::string& test, const OrderedCounts& counts) {
  if (test == "chisquare") return ChiSquareGoodnessOfFit(counts.reference, counts.current).p_value;
  if (test == "z") {
    if (counts.reference.size() > 2) {
      return Status::InvalidParameter(
          fmt::format("the z test needs a column with at most 2 values; this one has {}", counts.reference.size()));
    }
    const bool same_single_value = counts.reference.size() == 1;
    return ProportionZTest(static_cast<int64_t>(counts.reference[0]), counts.reference_size,
                           static_cast<int64_t>(counts.current[0]), counts.current_size, same_single_value)
        .p_value;
  }
  Shares shares = CategoryShares(counts);
  if (test == "jensenshannon") return JensenShannonDistance(shares.reference, shares.current);
  FillZeroShares(shares.reference);
  FillZeroShares(shares.current);
  if (test == "psi") return PopulationStabilityIndex(shares.reference, shares.current);
  if (test == "kl_div") return KlDivergence(shares.reference, shares.current);
  return Status::InvalidParameter(fmt::format("the {} test needs a numerical column", test));
}

Status CheckNotEmpty(int64_t reference_size, int64_t current_size, const char* what) {
  if (reference_size == 0) return Status::InvalidParameter(fmt::format("the reference has no {} in this column", what));
  if (current_size == 0) return Status::InvalidParameter(fmt::format("the current data has no {} in this column", what));
  return Status::Ok();
}

}  // namespace

Result<ColumnDrift> NumericalColumnDrift(std::span<const double> reference, std::span<const double> current,
                                         const DriftSettings& settings) {
  return NumericalColumnDrift(SortFinite(reference), SortFinite(current), settings);
}

Result<ColumnDrift> NumericalColumnDrift(const SortedSample& reference, const SortedSample& current,
                                         const DriftSettings& settings, NumericalStatistics* statistics) {
  ColumnDrift drift;
  drift.dropped_reference = reference.dropped;
  drift.dropped_current = current.dropped;
  drift.reference_size = static_cast<int64_t>(reference.values.size());
  drift.current_size = static_cast<int64_t>(current.values.size());
  LATHE_RETURN_IF_ERROR(CheckNotEmpty(drift.reference_size, drift.current_size, "finite values"));
  const auto& r = reference.values;
  const auto& c = current.values;
  const SortedComparison comparison = CompareSorted(r, c);
  drift.test = settings.test.value_or(ChooseTest(ColumnKind::kNumerical, drift.reference_size, comparison.distinct));
  LATHE_RETURN_IF_ERROR(CheckDriftTest(drift.test));
  std::optional<BinnedShares> shares;
  if (statistics || drift.test == "jensenshannon" || drift.test == "psi" || drift.test == "kl_div") {
    shares = BinNumericSorted(r, c);
  }
  auto filled = [&] {
    BinnedShares copy = *shares;
    FillZeroShares(copy.reference);
    FillZeroShares(copy.current);
    return copy;
  };
  const double wasserstein = statistics || drift.test == "wasserstein"
                                 ? comparison.wasserstein / std::max(PopulationDeviation(r), 0.001)
                                 : 0.0;
  if (statistics) {
    const KsResult ks = KsTwoSampleFromStatistic(comparison.ks_statistic, drift.reference_size, drift.current_size);
    statistics->ks_statistic = ks.statistic;
    statistics->ks_p_value = ks.p_value;
    statistics->wasserstein = wasserstein;
    statistics->jensenshannon = JensenShannonDistance(shares->reference, shares->current);
    const BinnedShares zero_filled = filled();
    statistics->psi = PopulationStabilityIndex(zero_filled.reference, zero_filled.current);
  }
  if (drift.test == "ks") {
    drift.statistic = KsTwoSampleFromStatistic(comparison.ks_statistic, drift.reference_size, drift.current_size).p_value;
  } else if (drift.test == "wasserstein") {
    drift.statistic = wasserstein;
  } else if (drift.test == "chisquare" || drift.test == "z") {
    LATHE_ASSIGN_OR_RETURN(drift.statistic, CategoryTest(drift.test, ValueCounts(r, c)));
  } else if (drift.test == "jensenshannon") {
    drift.statistic = JensenShannonDistance(shares->reference, shares->current);
  } else {
    const BinnedShares zero_filled = filled();
    drift.statistic = drift.test == "psi" ? PopulationStabilityIndex(zero_filled.reference, zero_filled.current)
                                          : KlDivergence(zero_filled.reference, zero_filled.current);
  }
  Decide(drift, settings);
  return drift;
}

Result<ColumnDrift> CategoricalColumnDrift(std::span<const std::optional<std::string>> reference,
                                           std::span<const std::optional<std::string>> current,
                                           const DriftSettings& settings) {
  std::map<std::string_view, std::pair<int64_t, int64_t>> counted;
  CategoryCounts counts;
  for (const auto& value : reference) value ? void(++counted[*value].first) : void(++counts.dropped_reference);
  for (const auto& value : current) value ? void(++counted[*value].second) : void(++counts.dropped_current);
  for (const auto& [category, pair] : counted) {
    counts.categories.emplace_back(category);
    counts.reference.push_back(pair.first);
    counts.current.push_back(pair.second);
  }
  return CategoricalColumnDrift(counts, settings);
}

Result<ColumnDrift> CategoricalColumnDrift(const CategoryCounts& counts, const DriftSettings& settings,
                                           CategoricalStatistics* statistics) {
  if (counts.reference.size() != counts.categories.size() || counts.current.size() != counts.categories.size()) {
    return Status::InvalidParameter("category counts: one reference and one current count per category");
  }
  ColumnDrift drift;
  drift.dropped_reference = counts.dropped_reference;
  drift.dropped_current = counts.dropped_current;
  const OrderedCounts ordered = SortedCategoryCounts(counts);
  drift.reference_size = ordered.reference_size;
  drift.current_size = ordered.current_size;
  LATHE_RETURN_IF_ERROR(CheckNotEmpty(drift.reference_size, drift.current_size, "values"));
  drift.test = settings.test.value_or(
      ChooseTest(ColumnKind::kCategorical, drift.reference_size, static_cast<int64_t>(ordered.reference.size())));
  LATHE_RETURN_IF_ERROR(CheckDriftTest(drift.test));
  if (drift.test == "ks" || drift.test == "wasserstein") {
    return Status::InvalidParameter(fmt::format("the {} test needs a numerical column", drift.test));
  }
  if (statistics) {
    const auto chi = ChiSquareGoodnessOfFit(ordered.reference, ordered.current);
    statistics->chisquare_statistic = chi.statistic;
    statistics->chisquare_p_value = chi.p_value;
    const Shares shares = CategoryShares(ordered);
    statistics->jensenshannon = JensenShannonDistance(shares.reference, shares.current);
  }
  LATHE_ASSIGN_OR_RETURN(drift.statistic, CategoryTest(drift.test, ordered));
  Decide(drift, settings);
  return drift;
}

bool DatasetDrifted(std::span<const ColumnDrift> columns, double share) {
  if (columns.empty()) return false;
  const auto drifted = std::count_if(columns.begin(), columns.end(), [](const ColumnDrift& c) { return c.drifted; });
  return static_cast<double>(drifted) / static_cast<double>(columns.size()) >= share;
}

}  // namespace lathe::monitoring
