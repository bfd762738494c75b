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
#include "storage/duckdb.h"

namespace lathe::monitoring {

struct DriftReportOptions {
  std::vector<std::string> columns;                 // empty: every common column
  std::map<std::string, ColumnKind> kinds;          // overrides of the inferred kind
  std::map<std::string, DriftSettings> settings;    // per column test and threshold
  double drift_share = 0.5;
};

struct ColumnReport {
  std::string column;
  std::string reference_type;  // DuckDB's type names
  std::string current_type;
  std::optional<ColumnKind> kind;
  std::optional<ColumnDrift> drift;
  std::string error;  // why the column was not tested
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

// Column kinds as Evidently infers them: floating point -> numerical; integers with at most 10
// distinct values in the reference -> categorical, else numerical; strings and booleans ->
// categorical.
Result<DriftReport> DriftReportForFiles(const std::string& reference_path, const std::string& current_path,
                                        const DriftReportOptions& options = {});

// The same over two relations already in `db` (table or view names, or parenthesised queries).
Result<DriftReport> DriftReportForTables(storage::DuckDb& db, const std::string& reference, const std::string& current,
                                         const DriftReportOptions& options = {});
// Reads a CSV, Parquet or JSON file into a temporary table of `db`; `side` names it in errors.
Status LoadFile(storage::DuckDb& db, const std::string& table, const std::string& path, const char* side);

nlohmann::json ToJson(const DriftReport& report);

}  // namespace lathe::monitoring
