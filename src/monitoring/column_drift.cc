#include "monitoring/column_drift.h"

#include <algorithm>
#include <cmath>
#include <map>

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

// Counts per category over the union of both samples, in a fixed (sorted) order.
template <typename T>
void CountCategories(std::span<const T> reference, std::span<const T> current, std::vector<T>& keys,
                     std::vector<double>& reference_counts, std::vector<double>& current_counts) {
  std::map<T, std::pair<double, double>> counts;
  for (const auto& value : reference) counts[value].first += 1;
  for (const auto& value : current) counts[value].second += 1;
  for (const auto& [key, pair] : counts) {
    keys.push_back(key);
    reference_counts.push_back(pair.first);
    current_counts.push_back(pair.second);
  }
}

// The tests that work on categories (chisquare, z, and the share distances on few values).
template <typename T>
Result<double> CategoryTest(const std::string& test, std::span<const T> reference, std::span<const T> current) {
  std::vector<T> keys;
  std::vector<double> reference_counts, current_counts;
  CountCategories(reference, current, keys, reference_counts, current_counts);
  if (test == "chisquare") return ChiSquareGoodnessOfFit(reference_counts, current_counts).p_value;
  if (test == "z") {
    if (keys.size() > 2) {
      return Status::InvalidParameter(fmt::format("the z test needs a column with at most 2 values; this one has {}", keys.size()));
    }
    const bool same_single_value = keys.size() == 1;
    return ProportionZTest(static_cast<int64_t>(reference_counts[0]), static_cast<int64_t>(reference.size()),
                           static_cast<int64_t>(current_counts[0]), static_cast<int64_t>(current.size()), same_single_value)
        .p_value;
  }
  std::vector<double> reference_shares, current_shares;
  for (size_t i = 0; i < keys.size(); ++i) {
    reference_shares.push_back(reference_counts[i] / static_cast<double>(reference.size()));
    current_shares.push_back(current_counts[i] / static_cast<double>(current.size()));
  }
  if (test == "jensenshannon") return JensenShannonDistance(reference_shares, current_shares);
  FillZeroShares(reference_shares);
  FillZeroShares(current_shares);
  if (test == "psi") return PopulationStabilityIndex(reference_shares, current_shares);
  if (test == "kl_div") return KlDivergence(reference_shares, current_shares);
  return Status::InvalidParameter(fmt::format("the {} test needs a numerical column", test));
}

}  // namespace

Result<ColumnDrift> NumericalColumnDrift(std::span<const double> reference, std::span<const double> current,
                                         const DriftSettings& settings) {
  ColumnDrift drift;
  std::vector<double> kept_reference, kept_current;
  for (double value : reference) std::isfinite(value) ? kept_reference.push_back(value) : void(++drift.dropped_reference);
  for (double value : current) std::isfinite(value) ? kept_current.push_back(value) : void(++drift.dropped_current);
  if (kept_reference.empty()) return Status::InvalidParameter("the reference has no finite values in this column");
  if (kept_current.empty()) return Status::InvalidParameter("the current data has no finite values in this column");
  drift.reference_size = static_cast<int64_t>(kept_reference.size());
  drift.current_size = static_cast<int64_t>(kept_current.size());
  std::vector<double> distinct = kept_reference;
  distinct.insert(distinct.end(), kept_current.begin(), kept_current.end());
  std::sort(distinct.begin(), distinct.end());
  const auto distinct_count = std::unique(distinct.begin(), distinct.end()) - distinct.begin();
  drift.test = settings.test.value_or(ChooseTest(ColumnKind::kNumerical, drift.reference_size, distinct_count));
  LATHE_RETURN_IF_ERROR(CheckDriftTest(drift.test));
  if (drift.test == "ks") {
    LATHE_ASSIGN_OR_RETURN(auto ks, KsTwoSample(kept_reference, kept_current));
    drift.statistic = ks.p_value;
  } else if (drift.test == "wasserstein") {
    drift.statistic = NormedWasserstein(kept_reference, kept_current);
  } else if (drift.test == "chisquare" || drift.test == "z") {
    LATHE_ASSIGN_OR_RETURN(drift.statistic, CategoryTest<double>(drift.test, kept_reference, kept_current));
  } else {
    auto shares = BinNumeric(kept_reference, kept_current);
    if (drift.test == "jensenshannon") {
      drift.statistic = JensenShannonDistance(shares.reference, shares.current);
    } else {
      FillZeroShares(shares.reference);
      FillZeroShares(shares.current);
      drift.statistic = drift.test == "psi" ? PopulationStabilityIndex(shares.reference, shares.current)
                                            : KlDivergence(shares.reference, shares.current);
    }
  }
  Decide(drift, settings);
  return drift;
}

Result<ColumnDrift> CategoricalColumnDrift(std::span<const std::optional<std::string>> reference,
                                           std::span<const std::optional<std::string>> current,
                                           const DriftSettings& settings) {
  ColumnDrift drift;
  std::vector<std::string> kept_reference, kept_current;
  for (const auto& value : reference) value ? kept_reference.push_back(*value) : void(++drift.dropped_reference);
  for (const auto& value : current) value ? kept_current.push_back(*value) : void(++drift.dropped_current);
  if (kept_reference.empty()) return Status::InvalidParameter("the reference has no values in this column");
  if (kept_current.empty()) return Status::InvalidParameter("the current data has no values in this column");
  drift.reference_size = static_cast<int64_t>(kept_reference.size());
  drift.current_size = static_cast<int64_t>(kept_current.size());
  std::vector<std::string> distinct = kept_reference;
  distinct.insert(distinct.end(), kept_current.begin(), kept_current.end());
  std::sort(distinct.begin(), distinct.end());
  const auto distinct_count = std::unique(distinct.begin(), distinct.end()) - distinct.begin();
  drift.test = settings.test.value_or(ChooseTest(ColumnKind::kCategorical, drift.reference_size, distinct_count));
  LATHE_RETURN_IF_ERROR(CheckDriftTest(drift.test));
  if (drift.test == "ks" || drift.test == "wasserstein") {
    return Status::InvalidParameter(fmt::format("the {} test needs a numerical column", drift.test));
  }
  LATHE_ASSIGN_OR_RETURN(drift.statistic, CategoryTest<std::string>(drift.test, kept_reference, kept_current));
  Decide(drift, settings);
  return drift;
}

bool DatasetDrifted(std::span<const ColumnDrift> columns, double share) {
  if (columns.empty()) return false;
  const auto drifted = std::count_if(columns.begin(), columns.end(), [](const ColumnDrift& c) { return c.drifted; });
  return static_cast<double>(drifted) / static_cast<double>(columns.size()) >= share;
}

}  // namespace lathe::monitoring
