#include "monitoring/drift_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "monitoring/drift_stats.h"
#include "storage/duckdb.h"

namespace lathe::monitoring {
namespace {

using storage::Cell;
using storage::DuckDb;
using storage::SqlIdentifier;

bool IsFloat(const std::string& type) {
  return type == "DOUBLE" || type == "FLOAT" || type.rfind("DECIMAL", 0) == 0;
}
bool IsInteger(const std::string& type) {
  static const std::set<std::string> kIntegers = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                                                  "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"};
  return kIntegers.count(type) > 0;
}
bool IsCategoricalType(const std::string& type) { return type == "VARCHAR" || type == "BOOLEAN"; }

Result<std::vector<std::pair<std::string, std::string>>> Columns(DuckDb& db, const std::string& table) {
  LATHE_ASSIGN_OR_RETURN(auto described, db.Query("DESCRIBE " + table));
  std::vector<std::pair<std::string, std::string>> columns;
  for (const auto& row : described.rows) columns.emplace_back(std::get<std::string>(row[0]), std::get<std::string>(row[1]));
  return columns;
}

Result<std::vector<double>> Numbers(DuckDb& db, const std::string& table, const std::string& column) {
  std::vector<double> values;
  LATHE_RETURN_IF_ERROR(db.ForEachRow(fmt::format("SELECT CAST({} AS DOUBLE) FROM {}", SqlIdentifier(column), table), {"v"},
                                      [&](const std::vector<Cell>& row) {
                                        values.push_back(std::holds_alternative<double>(row[0]) ? std::get<double>(row[0])
                                                                                                 : std::nan(""));
                                        return Status::Ok();
                                      }));
  return values;
}

Result<std::vector<std::optional<std::string>>> Strings(DuckDb& db, const std::string& table, const std::string& column) {
  std::vector<std::optional<std::string>> values;
  LATHE_RETURN_IF_ERROR(db.ForEachRow(fmt::format("SELECT CAST({} AS VARCHAR) FROM {}", SqlIdentifier(column), table), {"v"},
                                      [&](const std::vector<Cell>& row) {
                                        if (std::holds_alternative<std::string>(row[0])) {
                                          values.emplace_back(std::get<std::string>(row[0]));
                                        } else {
                                          values.emplace_back(std::nullopt);
                                        }
                                        return Status::Ok();
                                      }));
  return values;
}

// The kind of a column from its type and (for integers) its distinct reference values.
Result<ColumnKind> InferKind(DuckDb& db, const std::string& reference, const std::string& column, const std::string& type) {
  if (IsFloat(type)) return ColumnKind::kNumerical;
  if (IsCategoricalType(type)) return ColumnKind::kCategorical;
  if (IsInteger(type)) {
    LATHE_ASSIGN_OR_RETURN(auto distinct, db.Query(fmt::format("SELECT count(DISTINCT {}) FROM {}", SqlIdentifier(column), reference)));
    return std::get<int64_t>(distinct.rows[0][0]) <= 10 ? ColumnKind::kCategorical : ColumnKind::kNumerical;
  }
  return Status::InvalidParameter(fmt::format("type {} is neither numerical nor categorical: give the column's kind", type));
}

std::optional<ColumnHistogram> NumericalHistogram(std::span<const double> reference, std::span<const double> current) {
  std::vector<double> finite_reference, finite_current;
  std::copy_if(reference.begin(), reference.end(), std::back_inserter(finite_reference), [](double v) { return std::isfinite(v); });
  std::copy_if(current.begin(), current.end(), std::back_inserter(finite_current), [](double v) { return std::isfinite(v); });
  if (finite_reference.empty() && finite_current.empty()) return std::nullopt;
  ColumnHistogram histogram;
  histogram.edges = SturgesEdges(finite_reference, finite_current);
  if (histogram.edges.size() - 1 > kMaxHistogramBins) {
    const double first = histogram.edges.front(), last = histogram.edges.back();
    histogram.edges.resize(kMaxHistogramBins + 1);
    for (size_t i = 0; i < kMaxHistogramBins; ++i) {
      histogram.edges[i] = first + (last - first) * static_cast<double>(i) / static_cast<double>(kMaxHistogramBins);
    }
    histogram.edges.back() = last;
  }
  histogram.reference_counts = HistogramCounts(finite_reference, histogram.edges);
  histogram.current_counts = HistogramCounts(finite_current, histogram.edges);
  return histogram;
}

std::optional<ColumnHistogram> CategoricalHistogram(std::span<const std::optional<std::string>> reference,
                                                    std::span<const std::optional<std::string>> current) {
  std::unordered_map<std::string_view, std::pair<int64_t, int64_t>> counts;
  int64_t reference_size = 0, current_size = 0;
  for (const auto& value : reference) {
    if (!value) continue;
    ++counts[*value].first;
    ++reference_size;
  }
  for (const auto& value : current) {
    if (!value) continue;
    ++counts[*value].second;
    ++current_size;
  }
  if (counts.empty()) return std::nullopt;
  using Entry = std::pair<std::string_view, std::pair<int64_t, int64_t>>;
  std::vector<Entry> ranked(counts.begin(), counts.end());
  auto share = [&](const Entry& entry) {
    return (reference_size ? static_cast<double>(entry.second.first) / static_cast<double>(reference_size) : 0.0) +
           (current_size ? static_cast<double>(entry.second.second) / static_cast<double>(current_size) : 0.0);
  };
  const size_t kept = std::min(ranked.size(), kMaxHistogramCategories);
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(kept), ranked.end(),
                    [&](const Entry& a, const Entry& b) {
                      const double share_a = share(a), share_b = share(b);
                      return share_a != share_b ? share_a > share_b : a.first < b.first;
                    });
  ColumnHistogram histogram;
  for (size_t i = 0; i < ranked.size(); ++i) {
    const auto& [category, pair] = ranked[i];
    if (i < kept) {
      histogram.categories.emplace_back(category);
      histogram.reference_counts.push_back(pair.first);
      histogram.current_counts.push_back(pair.second);
    } else {
      ++histogram.other_categories;
      histogram.reference_other += pair.first;
      histogram.current_other += pair.second;
    }
  }
  return histogram;
}

}  // namespace

Status LoadFile(DuckDb& db, const std::string& table, const std::string& path, const char* side) {
  if (!std::filesystem::exists(path)) return Status::InvalidParameter(fmt::format("{} file {} does not exist", side, path));
  LATHE_ASSIGN_OR_RETURN(auto reader, storage::ReadFileSql(path));
  Status loaded = db.Exec(fmt::format("CREATE TEMP TABLE {} AS SELECT * FROM {}", table, reader));
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
  std::vector<ColumnDrift> results;
  for (const auto& column : wanted) {
    ColumnReport entry;
    entry.column = column;
    auto reference_type = type_in(reference_columns, column);
    auto current_type = type_in(current_columns, column);
    entry.reference_type = reference_type.value_or("");
    entry.current_type = current_type.value_or("");
    Status status = [&]() -> Status {
      if (!reference_type || !current_type) {
        return Status::InvalidParameter(fmt::format("the {} data has no column '{}'", reference_type ? "current" : "reference", column));
      }
      ColumnKind kind;
      if (auto given = options.kinds.find(column); given != options.kinds.end()) {
        kind = given->second;
      } else {
        LATHE_ASSIGN_OR_RETURN(kind, InferKind(db, reference, column, *reference_type));
      }
      entry.kind = kind;
      const bool reference_numeric = IsFloat(*reference_type) || IsInteger(*reference_type);
      const bool current_numeric = IsFloat(*current_type) || IsInteger(*current_type);
      if (kind == ColumnKind::kNumerical && reference_numeric != current_numeric) {
        return Status::InvalidParameter(fmt::format("the reference has {} but the current data has {}", *reference_type, *current_type));
      }
      DriftSettings settings;
      if (auto given = options.settings.find(column); given != options.settings.end()) settings = given->second;
      Result<ColumnDrift> drift = Status::Internal("not computed");
      if (kind == ColumnKind::kNumerical) {
        LATHE_ASSIGN_OR_RETURN(auto reference, Numbers(db, reference, column));
        LATHE_ASSIGN_OR_RETURN(auto current, Numbers(db, current, column));
        entry.histogram = NumericalHistogram(reference, current);
        drift = NumericalColumnDrift(reference, current, settings);
      } else {
        LATHE_ASSIGN_OR_RETURN(auto reference, Strings(db, reference, column));
        LATHE_ASSIGN_OR_RETURN(auto current, Strings(db, current, column));
        entry.histogram = CategoricalHistogram(reference, current);
        drift = CategoricalColumnDrift(reference, current, settings);
      }
      if (!drift.ok()) return drift.status();
      entry.drift = *drift;
      results.push_back(*drift);
      return Status::Ok();
    }();
    if (!status.ok()) entry.error = status.message();
    report.columns.push_back(std::move(entry));
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
    if (column.kind) entry["kind"] = *column.kind == ColumnKind::kNumerical ? "numerical" : "categorical";
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
