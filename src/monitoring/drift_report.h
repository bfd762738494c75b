// Data drift between two files (reference and current): every column the two have in common, its
// kind inferred (or given), tested with column_drift.h; one bad column is reported and never stops
// the others.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "monitoring/column_drift.h"
#include "monitoring/column_facts.h"
#include "storage/duckdb.h"

namespace lathe::monitoring {

struct DriftReportOptions {
  std::vector<std::string> columns;                 // empty: every common column
  std::map<std::string, ColumnKind> kinds;          // overrides of the inferred kind
  std::map<std::string, DriftSettings> settings;    // per column test and threshold
  double drift_share = 0.5;
  // Also every statistic of each column (NumericalStatistics, CategoricalStatistics), for a full
  // evaluation; computed from the same sorted values as the column's test.
  bool all_statistics = false;
  // Columns evaluated at once; 0: one per core.
  int threads = 0;
};

// The two distributions of a column for a person to look at, over the values tested (NaN,
// infinities and nulls excluded): counts per shared bin for a numerical column, per category for a
// categorical one. Its size depends on the bins and categories kept, never on the row count.
struct ColumnHistogram {
  // Numerical: SturgesEdges over both samples, at most kMaxHistogramBins bins (equal-width over
  // the same range when Sturges asks for more); counts has edges.size() - 1 entries.
  std::vector<double> edges;
  // Categorical: the kMaxHistogramCategories categories with the largest reference share plus
  // current share (so a category new in the current data shows even when the reference is much
  // larger), in that order (ties by name); the rest are folded into the three other_* numbers.
  std::vector<std::string> categories;
  std::vector<int64_t> reference_counts;
  std::vector<int64_t> current_counts;
  int64_t other_categories = 0;
  int64_t reference_other = 0;
  int64_t current_other = 0;
};
inline constexpr size_t kMaxHistogramBins = 30;
inline constexpr size_t kMaxHistogramCategories = 20;

struct ColumnReport {
  std::string column;
  std::string reference_type;  // DuckDB's type names
  std::string current_type;
  std::optional<ColumnKind> kind;
  std::optional<ColumnDrift> drift;
  // Present whenever the column's values could be read and either side has one, tested or not.
  std::optional<ColumnHistogram> histogram;
  // With DriftReportOptions::all_statistics, whichever fits the column's kind, when it was tested.
  std::optional<NumericalStatistics> numerical_statistics;
  std::optional<CategoricalStatistics> categorical_statistics;
  std::string error;  // why the column was not tested
  // Counts for CheckIntegrity over the same relations, when the column's values could be read.
  std::optional<ColumnFacts> facts;
};

struct DriftReport {
  int64_t reference_rows = 0;
  int64_t current_rows = 0;
  std::vector<ColumnReport> columns;
  std::vector<std::string> missing_in_current;     // reference columns the current data lacks
  std::vector<std::string> unexpected_in_current;  // current columns the reference lacks
  int64_t drifted = 0;
  int64_t tested = 0;
  bool dataset_drift = false;
};

// Column kinds as Evidently infers them (InferColumnKind): floating point -> numerical; integers
// with at most 10 distinct values in the reference -> categorical, else numerical; strings and
// booleans -> categorical; dates and times -> datetime. Text and datetime columns are reported
// with their kind and an error saying they are not tested.
Result<DriftReport> DriftReportForFiles(const std::string& reference_path, const std::string& current_path,
                                        const DriftReportOptions& options = {});

// The same over two relations already in `db` (table or view names, or parenthesised queries).
// Columns are evaluated on `options.threads` threads, each reading its column from `db` (one
// query at a time) and then sorting and testing it alone; the caller must not use `db` meanwhile.
Result<DriftReport> DriftReportForTables(storage::DuckDb& db, const std::string& reference, const std::string& current,
                                         const DriftReportOptions& options = {});
// Each of `columns` (name, DuckDB type) of `relation` with its kind: `given` where it names the
// column, else InferColumnKind's, the integer columns' distinct values counted in one query.
// Columns of no kind (nested, BLOB, ...) are absent.
Result<std::map<std::string, ColumnKind>> ColumnKinds(storage::DuckDb& db, const std::string& relation,
                                                     const std::vector<std::pair<std::string, std::string>>& columns,
                                                     const std::map<std::string, ColumnKind>& given);
// Makes a CSV, Parquet or JSON file the relation `table` of `db`; `side` names it in errors. CSV
// and JSON files are read into a temporary table; a Parquet file becomes a temporary view that
// reads it again as queries need its columns, so it must stay in place while `db` uses it.
Status LoadFile(storage::DuckDb& db, const std::string& table, const std::string& path, const char* side);

nlohmann::json ToJson(const DriftReport& report);

}  // namespace lathe::monitoring
