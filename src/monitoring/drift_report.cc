#include "monitoring/drift_report.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "monitoring/column_types.h"
#include "monitoring/drift_stats.h"
#include "storage/duckdb.h"

namespace lathe::monitoring {
namespace {

using storage::DuckDb;
using storage::SqlIdentifier;

Result<std::vector<std::pair<std::string, std::string>>> Columns(DuckDb& db, const std::string& table) {
  LATHE_ASSIGN_OR_RETURN(auto described, db.Query("DESCRIBE " + table));
  std::vector<std::pair<std::string, std::string>> columns;
  for (const auto& row : described.rows) columns.emplace_back(std::get<std::string>(row[0]), std::get<std::string>(row[1]));
  return columns;
}

// A numerical column of one side into values[0] (its capacity reused); NULL reads as NaN, so
// that it is dropped and counted like one, and is counted in `nulls`.
Status Numbers(DuckDb& db, const std::string& table, const std::string& column, std::vector<std::vector<double>>& values,
               int64_t& nulls) {
  std::vector<int64_t> counted;
  LATHE_RETURN_IF_ERROR(db.QueryDoubles(fmt::format("SELECT CAST({} AS DOUBLE) FROM {}", SqlIdentifier(column), table), values, &counted));
  nulls = counted.at(0);
  return Status::Ok();
}

// Integrity's range facts from the two sorted samples of a floating-point column: the reference's
// range over its non-NaN values and the current values outside it (NaN always; an infinity
// unless the range reaches it), as DuckDB's comparisons, where NaN is above every number, count.
ColumnFacts::Range RangeFacts(const SortedSample& reference, const SortedSample& current, int64_t current_nulls) {
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  ColumnFacts::Range range;
  const auto& r = reference.values;
  if (reference.negative_infinities > 0) {
    range.reference_min = -kInfinity;
  } else if (!r.empty()) {
    range.reference_min = r.front();
  } else if (reference.positive_infinities > 0) {
    range.reference_min = kInfinity;
  }
  if (reference.positive_infinities > 0) {
    range.reference_max = kInfinity;
  } else if (!r.empty()) {
    range.reference_max = r.back();
  } else if (reference.negative_infinities > 0) {
    range.reference_max = -kInfinity;
  }
  if (!range.reference_min) return range;
  const double low = *range.reference_min, high = *range.reference_max;
  const auto& c = current.values;
  const auto below = std::lower_bound(c.begin(), c.end(), low) - c.begin();
  const auto above = c.end() - std::upper_bound(c.begin(), c.end(), high);
  const int64_t nan = current.dropped - current.negative_infinities - current.positive_infinities - current_nulls;
  range.current_outside = below + above + nan + (low > -kInfinity ? current.negative_infinities : 0) +
                          (high < kInfinity ? current.positive_infinities : 0);
  return range;
}

// Integrity's facts from the category counts: non-null counts and, for text on both sides, the
// current values the reference lacks.
ColumnFacts CategoricalFacts(const CategoryCounts& counts, const std::string& reference_type, const std::string& current_type) {
  ColumnFacts facts;
  facts.reference_type = reference_type;
  facts.current_type = current_type;
  std::vector<std::pair<std::string, int64_t>> unseen;
  for (size_t i = 0; i < counts.categories.size(); ++i) {
    facts.reference_non_null += counts.reference[i];
    facts.current_non_null += counts.current[i];
    if (counts.reference[i] == 0 && counts.current[i] > 0) unseen.emplace_back(counts.categories[i], counts.current[i]);
  }
  if (reference_type == "VARCHAR" && current_type == "VARCHAR") {
    std::sort(unseen.begin(), unseen.end(), [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
    facts.unseen = std::move(unseen);
  }
  return facts;
}

// Counts per category of a categorical column on both sides, counted by DuckDB so that no value
// is copied out; NULL counts as dropped.
Result<CategoryCounts> Categories(DuckDb& db, const std::string& reference, const std::string& current, const std::string& column) {
  CategoryCounts counts;
  std::unordered_map<std::string, size_t> index;
  for (int side = 0; side < 2; ++side) {
    LATHE_ASSIGN_OR_RETURN(auto grouped, db.Query(fmt::format("SELECT CAST({} AS VARCHAR) AS lathe_value, count(*) FROM {} GROUP BY lathe_value",
                                                              SqlIdentifier(column), side == 0 ? reference : current)));
    for (const auto& row : grouped.rows) {
      const int64_t count = std::get<int64_t>(row[1]);
      if (!std::holds_alternative<std::string>(row[0])) {
        (side == 0 ? counts.dropped_reference : counts.dropped_current) += count;
        continue;
      }
      auto [at, added] = index.emplace(std::get<std::string>(row[0]), counts.categories.size());
      if (added) {
        counts.categories.push_back(at->first);
        counts.reference.push_back(0);
        counts.current.push_back(0);
      }
      (side == 0 ? counts.reference : counts.current)[at->second] += count;
    }
  }
  return counts;
}

std::optional<ColumnHistogram> NumericalHistogram(const SortedSample& reference, const SortedSample& current) {
  const auto& r = reference.values;
  const auto& c = current.values;
  if (r.empty() && c.empty()) return std::nullopt;
  const double low = r.empty() ? c.front() : c.empty() ? r.front() : std::min(r.front(), c.front());
  const double high = r.empty() ? c.back() : c.empty() ? r.back() : std::max(r.back(), c.back());
  ColumnHistogram histogram;
  histogram.edges = SturgesEdgesOfRange(low, high, r.size() + c.size());
  if (histogram.edges.size() - 1 > kMaxHistogramBins) {
    const double first = histogram.edges.front(), last = histogram.edges.back();
    histogram.edges.resize(kMaxHistogramBins + 1);
    for (size_t i = 0; i < kMaxHistogramBins; ++i) {
      histogram.edges[i] = first + (last - first) * static_cast<double>(i) / static_cast<double>(kMaxHistogramBins);
    }
    histogram.edges.back() = last;
  }
  histogram.reference_counts = HistogramCountsSorted(r, histogram.edges);
  histogram.current_counts = HistogramCountsSorted(c, histogram.edges);
  return histogram;
}

std::optional<ColumnHistogram> CategoricalHistogram(const CategoryCounts& counts) {
  int64_t reference_size = 0, current_size = 0;
  std::vector<size_t> ranked;
  for (size_t i = 0; i < counts.categories.size(); ++i) {
    reference_size += counts.reference[i];
    current_size += counts.current[i];
    if (counts.reference[i] != 0 || counts.current[i] != 0) ranked.push_back(i);
  }
  if (ranked.empty()) return std::nullopt;
  auto share = [&](size_t i) {
    return (reference_size ? static_cast<double>(counts.reference[i]) / static_cast<double>(reference_size) : 0.0) +
           (current_size ? static_cast<double>(counts.current[i]) / static_cast<double>(current_size) : 0.0);
  };
  const size_t kept = std::min(ranked.size(), kMaxHistogramCategories);
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(kept), ranked.end(), [&](size_t a, size_t b) {
    const double share_a = share(a), share_b = share(b);
    return share_a != share_b ? share_a > share_b : counts.categories[a] < counts.categories[b];
  });
  ColumnHistogram histogram;
  for (size_t k = 0; k < ranked.size(); ++k) {
    const size_t i = ranked[k];
    if (k < kept) {
      histogram.categories.push_back(counts.categories[i]);
      histogram.reference_counts.push_back(counts.reference[i]);
      histogram.current_counts.push_back(counts.current[i]);
    } else {
      ++histogram.other_categories;
      histogram.reference_other += counts.reference[i];
      histogram.current_other += counts.current[i];
    }
  }
  return histogram;
}

// Runs task(worker, 0) .. task(worker, count - 1) on `workers` threads (the caller's among them);
// `worker` (below `workers`) tells which thread runs the task, for state a thread keeps.
void ParallelFor(size_t count, size_t workers, const std::function<void(size_t worker, size_t i)>& task) {
  std::atomic<size_t> next{0};
  auto work = [&](size_t worker) {
    for (size_t i = next++; i < count; i = next++) task(worker, i);
  };
  std::vector<std::thread> helpers;
  for (size_t worker = 1; worker < workers; ++worker) helpers.emplace_back(work, worker);
  work(0);
  for (auto& helper : helpers) helper.join();
}

}  // namespace

Status LoadFile(DuckDb& db, const std::string& table, const std::string& path, const char* side) {
  if (!std::filesystem::exists(path)) return Status::InvalidParameter(fmt::format("{} file {} does not exist", side, path));
  LATHE_ASSIGN_OR_RETURN(auto reader, storage::ReadFileSql(path));
  // DuckDB reads the columns a query needs straight from a Parquet file faster than it copies the
  // whole file into a table (a drift and integrity evaluation of two 1M x 25 files took 2.5 to
  // 3.1 s over views, 3.9 s with the copies, 2.0 s of it copying); CSV and JSON would be parsed
  // again by every query.
  const char* relation = storage::FileFormat(path) == "parquet" ? "VIEW" : "TABLE";
  Status loaded = db.Exec(fmt::format("CREATE TEMP {} {} AS SELECT * FROM {}", relation, table, reader));
  if (!loaded.ok()) return Status::InvalidParameter(fmt::format("cannot read {} file {}: {}", side, path, loaded.message()));
  return Status::Ok();
}

Result<DriftReport> DriftReportForFiles(const std::string& reference_path, const std::string& current_path,
                                        const DriftReportOptions& options) {
  LATHE_ASSIGN_OR_RETURN(auto db, DuckDb::Open());
  LATHE_RETURN_IF_ERROR(LoadFile(*db, "lathe_reference", reference_path, "reference"));
  LATHE_RETURN_IF_ERROR(LoadFile(*db, "lathe_current", current_path, "current"));
  return DriftReportForTables(*db, "lathe_reference", "lathe_current", options);
}

Result<std::map<std::string, ColumnKind>> ColumnKinds(DuckDb& db, const std::string& relation,
                                                     const std::vector<std::pair<std::string, std::string>>& columns,
                                                     const std::map<std::string, ColumnKind>& given) {
  std::vector<std::string> distinct_counts;
  for (const auto& [column, type] : columns) {
    if (IsIntegerType(type) && !given.count(column)) distinct_counts.push_back(fmt::format("count(DISTINCT {})", SqlIdentifier(column)));
  }
  std::optional<storage::Table> distinct;
  if (!distinct_counts.empty()) {
    LATHE_ASSIGN_OR_RETURN(distinct, db.Query(fmt::format("SELECT {} FROM {}", fmt::join(distinct_counts, ", "), relation)));
  }
  std::map<std::string, ColumnKind> kinds;
  size_t next_count = 0;
  for (const auto& [column, type] : columns) {
    if (auto found = given.find(column); found != given.end()) {
      kinds[column] = found->second;
      continue;
    }
    std::optional<int64_t> integer_distinct;
    if (IsIntegerType(type)) integer_distinct = std::get<int64_t>(distinct->rows[0][next_count++]);
    if (auto kind = InferColumnKind(type, integer_distinct)) kinds[column] = *kind;
  }
  return kinds;
}

Result<DriftReport> DriftReportForTables(storage::DuckDb& db, const std::string& reference, const std::string& current,
                                         const DriftReportOptions& options) {
  DriftReport report;
  LATHE_ASSIGN_OR_RETURN(auto rows, db.Query(fmt::format("SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {})", reference, current)));
  report.reference_rows = std::get<int64_t>(rows.rows[0][0]);
  report.current_rows = std::get<int64_t>(rows.rows[0][1]);
  LATHE_ASSIGN_OR_RETURN(auto reference_columns, Columns(db, reference));
  LATHE_ASSIGN_OR_RETURN(auto current_columns, Columns(db, current));
  auto type_in = [](const auto& columns, const std::string& name) -> std::optional<std::string> {
    for (const auto& [column, type] : columns) {
      if (column == name) return type;
    }
    return std::nullopt;
  };
  for (const auto& [column, type] : reference_columns) {
    if (!type_in(current_columns, column)) report.missing_in_current.push_back(column);
  }
  for (const auto& [column, type] : current_columns) {
    if (!type_in(reference_columns, column)) report.unexpected_in_current.push_back(column);
  }
  std::vector<std::string> wanted = options.columns;
  if (wanted.empty()) {
    for (const auto& [column, type] : reference_columns) {
      if (type_in(current_columns, column)) wanted.push_back(column);
    }
  }
  std::vector<std::pair<std::string, std::string>> typed;  // the wanted columns both sides have
  for (const auto& column : wanted) {
    auto reference_type = type_in(reference_columns, column);
    if (reference_type && type_in(current_columns, column)) typed.emplace_back(column, *reference_type);
  }
  LATHE_ASSIGN_OR_RETURN(auto kinds, ColumnKinds(db, reference, typed, options.kinds));
  // What each column needs is settled here; the columns are then read and tested in parallel.
  struct Planned {
    ColumnKind kind;
    DriftSettings settings;
  };
  std::vector<std::optional<Planned>> plans(wanted.size());
  report.columns.resize(wanted.size());
  for (size_t i = 0; i < wanted.size(); ++i) {
    const auto& column = wanted[i];
    ColumnReport& entry = report.columns[i];
    entry.column = column;
    auto reference_type = type_in(reference_columns, column);
    auto current_type = type_in(current_columns, column);
    entry.reference_type = reference_type.value_or("");
    entry.current_type = current_type.value_or("");
    Status status = [&]() -> Status {
      if (!reference_type || !current_type) {
        return Status::InvalidParameter(fmt::format("the {} data has no column '{}'", reference_type ? "current" : "reference", column));
      }
      auto found = kinds.find(column);
      if (found == kinds.end()) {
        return Status::InvalidParameter(fmt::format("type {} has no kind to test: give the column's kind", *reference_type));
      }
      const ColumnKind kind = found->second;
      entry.kind = kind;
      if (kind == ColumnKind::kText) {
        return Status::InvalidParameter("text columns have no drift test (give the column the kind categorical to compare its values)");
      }
      if (kind == ColumnKind::kDatetime) {
        return Status::InvalidParameter("datetime columns have no drift test");
      }
      const bool reference_numeric = IsFloatType(*reference_type) || IsIntegerType(*reference_type);
      const bool current_numeric = IsFloatType(*current_type) || IsIntegerType(*current_type);
      if (kind == ColumnKind::kNumerical && reference_numeric != current_numeric) {
        return Status::InvalidParameter(fmt::format("the reference has {} but the current data has {}", *reference_type, *current_type));
      }
      DriftSettings settings;
      if (auto given = options.settings.find(column); given != options.settings.end()) settings = given->second;
      plans[i] = Planned{kind, settings};
      return Status::Ok();
    }();
    if (!status.ok()) entry.error = status.message();
  }

  // Columns are read one query at a time (DuckDB's connection runs one), and sorted and tested in
  // parallel; numerical ones first, the longest tasks. Each thread reads every numerical column it
  // takes into the same vectors and sorts it with the same buffers: fresh memory costs a page
  // fault per 4 KiB, which on a million-row column is as much as reading it.
  std::vector<size_t> order;
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (plans[i] && plans[i]->kind == ColumnKind::kNumerical) order.push_back(i);
  }
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (plans[i] && plans[i]->kind == ColumnKind::kCategorical) order.push_back(i);
  }
  struct ThreadBuffers {
    std::vector<std::vector<double>> reference_values;
    std::vector<std::vector<double>> current_values;
    SortBuffers sort;
  };
  const size_t threads = options.threads > 0 ? static_cast<size_t>(options.threads) : std::max(1u, std::thread::hardware_concurrency());
  std::vector<ThreadBuffers> buffers(std::max<size_t>(1, std::min(threads, order.size())));
  for (auto& buffer : buffers) {
    // Sized once: grown by doubling, each vector would be copied and faulted in about twice over.
    buffer.reference_values.resize(1);
    buffer.reference_values[0].reserve(static_cast<size_t>(report.reference_rows));
    buffer.current_values.resize(1);
    buffer.current_values[0].reserve(static_cast<size_t>(report.current_rows));
  }
  std::mutex db_mutex;
  ParallelFor(order.size(), buffers.size(), [&](size_t worker, size_t k) {
    const size_t i = order[k];
    ColumnReport& entry = report.columns[i];
    const Status status = [&]() -> Status {
      if (plans[i]->kind == ColumnKind::kNumerical) {
        auto& [reference_values, current_values, sort_buffers] = buffers[worker];
        int64_t reference_nulls = 0, current_nulls = 0;
        std::unique_lock lock(db_mutex);
        LATHE_RETURN_IF_ERROR(Numbers(db, reference, entry.column, reference_values, reference_nulls));
        LATHE_RETURN_IF_ERROR(Numbers(db, current, entry.column, current_values, current_nulls));
        lock.unlock();
        SortedSample reference_sample = SortFinite(std::move(reference_values[0]), sort_buffers);
        SortedSample current_sample = SortFinite(std::move(current_values[0]), sort_buffers);
        entry.facts.emplace();
        entry.facts->reference_type = entry.reference_type;
        entry.facts->current_type = entry.current_type;
        entry.facts->reference_non_null = report.reference_rows - reference_nulls;
        entry.facts->current_non_null = report.current_rows - current_nulls;
        if (IsIeeeFloatType(entry.reference_type) && IsIeeeFloatType(entry.current_type)) {
          entry.facts->range = RangeFacts(reference_sample, current_sample, current_nulls);
        }
        entry.histogram = NumericalHistogram(reference_sample, current_sample);
        NumericalStatistics statistics;
        auto drift = NumericalColumnDrift(reference_sample, current_sample, plans[i]->settings,
                                          options.all_statistics ? &statistics : nullptr);
        reference_values[0] = std::move(reference_sample.values);
        current_values[0] = std::move(current_sample.values);
        if (!drift.ok()) return drift.status();
        entry.drift = *drift;
        if (options.all_statistics) entry.numerical_statistics = statistics;
        return Status::Ok();
      }
      std::unique_lock lock(db_mutex);
      LATHE_ASSIGN_OR_RETURN(auto counts, Categories(db, reference, current, entry.column));
      lock.unlock();
      entry.histogram = CategoricalHistogram(counts);
      entry.facts = CategoricalFacts(counts, entry.reference_type, entry.current_type);
      CategoricalStatistics statistics;
      LATHE_ASSIGN_OR_RETURN(entry.drift, CategoricalColumnDrift(counts, plans[i]->settings, options.all_statistics ? &statistics : nullptr));
      if (options.all_statistics) entry.categorical_statistics = statistics;
      return Status::Ok();
    }();
    if (!status.ok()) entry.error = status.message();
  });
  std::vector<ColumnDrift> results;
  for (const auto& entry : report.columns) {
    if (entry.drift) results.push_back(*entry.drift);
  }
  report.tested = static_cast<int64_t>(results.size());
  report.drifted = std::count_if(results.begin(), results.end(), [](const ColumnDrift& d) { return d.drifted; });
  report.dataset_drift = DatasetDrifted(results, options.drift_share);
  return report;
}

nlohmann::json ToJson(const DriftReport& report) {
  nlohmann::json out = {{"reference_rows", report.reference_rows},
                        {"current_rows", report.current_rows},
                        {"columns_tested", report.tested},
                        {"columns_drifted", report.drifted},
                        {"share_drifted", report.tested ? static_cast<double>(report.drifted) / static_cast<double>(report.tested) : 0.0},
                        {"dataset_drift", report.dataset_drift},
                        {"missing_in_current", report.missing_in_current},
                        {"unexpected_in_current", report.unexpected_in_current},
                        {"columns", nlohmann::json::array()}};
  for (const auto& column : report.columns) {
    nlohmann::json entry = {{"column", column.column}, {"reference_type", column.reference_type}, {"current_type", column.current_type}};
    if (column.kind) entry["kind"] = ColumnKindName(*column.kind);
    if (column.drift) {
      const auto& drift = *column.drift;
      entry["test"] = drift.test;
      entry[drift.is_p_value ? "p_value" : "distance"] = std::isfinite(drift.statistic) ? nlohmann::json(drift.statistic) : nlohmann::json();
      entry["threshold"] = drift.threshold;
      entry["drifted"] = drift.drifted;
      entry["reference_values"] = drift.reference_size;
      entry["current_values"] = drift.current_size;
      entry["dropped_reference"] = drift.dropped_reference;
      entry["dropped_current"] = drift.dropped_current;
    }
    auto number = [](double value) { return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(); };
    if (const auto& s = column.numerical_statistics) {
      entry["statistics"] = {{"ks_statistic", number(s->ks_statistic)}, {"ks_p_value", number(s->ks_p_value)},
                             {"wasserstein", number(s->wasserstein)},   {"psi", number(s->psi)},
                             {"jensenshannon", number(s->jensenshannon)}};
    }
    if (const auto& s = column.categorical_statistics) {
      entry["statistics"] = {{"chisquare_statistic", number(s->chisquare_statistic)},
                             {"chisquare_p_value", number(s->chisquare_p_value)},
                             {"jensenshannon", number(s->jensenshannon)}};
    }
    if (column.histogram) {
      const auto& histogram = *column.histogram;
      nlohmann::json bins = {{"reference", histogram.reference_counts}, {"current", histogram.current_counts}};
      if (!histogram.edges.empty()) {
        bins["edges"] = histogram.edges;
      } else {
        bins["categories"] = histogram.categories;
        bins["other"] = {{"categories", histogram.other_categories},
                         {"reference", histogram.reference_other},
                         {"current", histogram.current_other}};
      }
      entry["histogram"] = std::move(bins);
    }
    if (!column.error.empty()) entry["error"] = column.error;
    out["columns"].push_back(std::move(entry));
  }
  return out;
}

}  // namespace lathe::monitoring
