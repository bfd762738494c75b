// Data-integrity checks of a current relation against a reference one: schema, null shares, numeric
// ranges, unseen categories, duplicate rows and user rules, each evaluated in DuckDB; one check
// that cannot run is reported and never stops the others.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "monitoring/column_drift.h"
#include "storage/duckdb.h"

namespace lathe::monitoring {

struct DriftReport;

// A SQL boolean expression every current row must satisfy, e.g. NOT (gender = 'male' AND pregnant).
// A row violates the rule only when the expression is FALSE: NULL (e.g. a NULL operand) is not a
// violation, so that missing values are left to the null-share checks.
struct IntegrityRule {
  std::string name;
  std::string sql;
};

// A declared range overrides the reference's [min, max] as a whole: an absent bound is open, and
// a range with neither bound turns the column's range check off.
struct NumericRange {
  std::optional<double> min;
  std::optional<double> max;
};

struct IntegrityOptions {
  std::vector<IntegrityRule> rules;
  std::map<std::string, NumericRange> ranges;    // columns without one use the reference's [min, max]
  std::map<std::string, double> max_null_share;  // per column, in [0, 1]
  // A column fails its null-share check when its null share in the current data exceeds both its
  // allowed share and the reference's.
  double default_max_null_share = 0.0;
  // Excluded from the schema, null, range, category and default duplicate-key checks (e.g. the
  // prediction log's timestamp_ms, latency_ms, request_id); rules may still use them.
  std::vector<std::string> ignore_columns;
  std::string id_column;                    // reported as examples of violating rows; empty: none
  std::vector<std::string> duplicate_key;   // empty: every non-ignored current column but id_column
  std::map<std::string, ColumnKind> kinds;  // overrides of the inferred kind (see below)
  int max_examples = 10;
};

struct IntegrityCheck {
  // "missing_column", "unexpected_column", "type_mismatch", "null_share", "range",
  // "unseen_category", "duplicates" or "rule".
  std::string check;
  std::string column;  // the rule's name for "rule"; empty for "duplicates"
  int64_t violations = 0;
  double share = 0;  // violations / current rows; 0 without rows
  bool failed = false;
  std::vector<std::string> examples;  // of a failed check: id_column values of up to max_examples violating rows
  std::string detail;                 // what was checked against, for people
  std::string error;                  // why the check could not run (it then has not failed)
};

struct IntegrityReport {
  int64_t current_rows = 0;
  std::vector<IntegrityCheck> checks;
  int64_t failed = 0;  // failed checks
  // Rows counted by at least one failed row-level check (null_share, range, unseen_category,
  // rule), each row once however many checks it fails.
  int64_t rows_with_violation = 0;
  double violation_share = 0;
};

// Runs every check of `current` against `reference` (table or view names, or parenthesised
// queries, both in `db`). Which checks appear:
// - schema checks only when they fail: a non-ignored reference column missing from current, a
//   current column the reference lacks, a column whose type family (numeric or not) differs while
//   current holds a non-null value in it (integer vs floating point is no mismatch; an empty CSV
//   column reads as VARCHAR and holds none). Schema checks count no rows.
// - for every non-ignored column of both (one entry each): null_share; range for numeric columns
//   of numerical kind or with a declared range (violations: non-null values outside it, NaN
//   included); unseen_category for columns of categorical kind (violations: non-null values never
//   seen in the reference). Columns whose type family differs get only null_share.
// - duplicates when there is a key: every occurrence of a key but the first (in id_column order)
//   counts; nulls in a key compare equal.
// - one entry per rule, with its error when it does not bind as one boolean expression over
//   current or fails while running.
// Kinds as drift_report.h infers them (InferColumnKind): floating point -> numerical; integers
// with at most 10 distinct reference values -> categorical, else numerical; strings and booleans
// -> categorical. Text, datetime and other columns get neither check unless `kinds` names one.
// Failed checks get examples: the first violating rows in `current`'s order (DuckDB keeps insertion
// order), for duplicates the smallest ids. It all takes a few scans of `current`: one aggregate
// for nulls, ranges and rules, a GROUP BY per categorical column, one read of the key's hashes
// (counted in memory), one count of rows_with_violation, a LIMIT query per failed check, and one
// more when key hashes repeat.
// Bad options (a range whose min exceeds its max or is NaN, a null share outside [0, 1], negative
// max_examples, unnamed or twice-named rules, an id_column current lacks) are an InvalidParameter
// error.
// With `same_data_drift`, a drift report over the same two relations, the counts it made while
// it held the columns (ColumnReport::facts: non-null counts, floating-point ranges, unseen text
// values) are taken from it instead of scanned again.
Result<IntegrityReport> CheckIntegrity(storage::DuckDb& db, const std::string& reference, const std::string& current,
                                       const IntegrityOptions& options, const DriftReport* same_data_drift = nullptr);

nlohmann::json ToJson(const IntegrityReport& report);

// Validates rules before any data is seen (when a monitor config is loaded): each must be named
// once and be one boolean SQL expression that binds against `relation` (no ';' outside literals,
// balanced parentheses, no aggregates). The first bad rule is an InvalidParameter naming it with
// DuckDB's one-line reason.
Status ValidateRules(storage::DuckDb& db, const std::string& relation, const std::vector<IntegrityRule>& rules);

}  // namespace lathe::monitoring
