#include "monitoring/integrity.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "monitoring/column_types.h"
#include "monitoring/drift_report.h"

namespace lathe::monitoring {
namespace {

using storage::Cell;
using storage::DuckDb;
using storage::SqlIdentifier;

// Detail lists at most this many unseen values; the count says how many there are.
constexpr size_t kListedValues = 10;
// Up to this many unseen values of a column (repeated key hashes), the rows holding one are found
// with an IN list of them; beyond, with an anti-join on the reference (a GROUP BY of the hashes).
constexpr size_t kMaxInList = 1000;

struct Column {
  std::string name;
  std::string type;  // DESCRIBE's full name, e.g. DECIMAL(18,3)
};

Result<std::vector<Column>> Columns(DuckDb& db, const std::string& relation) {
  LATHE_ASSIGN_OR_RETURN(auto described, db.Query("DESCRIBE " + relation));
  std::vector<Column> columns;
  for (const auto& row : described.rows)
    columns.push_back({std::get<std::string>(row[0]), std::get<std::string>(row[1])});
  return columns;
}

const Column* Find(const std::vector<Column>& columns, const std::string& name) {
  for (const auto& column : columns) {
    if (column.name == name) return &column;
  }
  return nullptr;
}

int64_t Int(const Cell& cell) {
  return std::holds_alternative<int64_t>(cell) ? std::get<int64_t>(cell) : 0;
}
std::optional<double> Double(const Cell& cell) {
  if (std::holds_alternative<double>(cell)) return std::get<double>(cell);
  return std::nullopt;
}
double Share(int64_t count, int64_t rows) {
  return rows > 0 ? static_cast<double>(count) / static_cast<double>(rows) : 0.0;
}

// Through a string so that infinite bounds are literals too.
std::string SqlDouble(double value) {
  return fmt::format("CAST('{}' AS DOUBLE)", value);
}

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

// One row of aggregates over a relation: all columns' statistics in a single scan.
class Aggregate {
 public:
  size_t Add(std::string expression) {
    expressions_.push_back(std::move(expression));
    return expressions_.size() - 1;
  }
  size_t size() const { return expressions_.size(); }
  Result<std::vector<Cell>> Run(DuckDb& db, const std::string& relation) const {
    LATHE_ASSIGN_OR_RETURN(auto table, db.Query(fmt::format("SELECT {} FROM {}", Join(expressions_, ", "), relation)));
    return table.rows.at(0);
  }

 private:
  std::vector<std::string> expressions_;
};

// A rule is spliced into larger statements, so it may not close what it did not open nor end the
// statement. Quotes are skipped (a doubled quote reads as a closing and an opening one), and so
// are comments.
Status CheckSingleExpression(std::string_view sql) {
  if (sql.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return Status::InvalidParameter("the expression is empty");
  int depth = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      i = sql.find(c, i + 1);
      if (i == std::string_view::npos) {
        return Status::InvalidParameter(c == '\'' ? "unterminated string literal" : "unterminated quoted identifier");
      }
    } else if (sql.substr(i, 2) == "--") {
      i = sql.find('\n', i);
      if (i == std::string_view::npos) break;
    } else if (sql.substr(i, 2) == "/*") {
      i = sql.find("*/", i + 2);
      if (i == std::string_view::npos) return Status::InvalidParameter("unterminated comment");
      ++i;
    } else if (c == ';') {
      return Status::InvalidParameter("';' is not allowed: a rule is a single SQL expression");
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && --depth < 0) {
      return Status::InvalidParameter("unbalanced parentheses");
    }
  }
  if (depth != 0) return Status::InvalidParameter("unbalanced parentheses");
  return Status::Ok();
}

// Binds `sql` as a per-row boolean over `relation` without running it: the WHERE clause refuses
// aggregates and window functions, DESCRIBE gives the expression's type.
Status BindRule(DuckDb& db, const std::string& relation, const std::string& sql) {
  LATHE_RETURN_IF_ERROR(CheckSingleExpression(sql));
  LATHE_ASSIGN_OR_RETURN(
      auto described,
      db.Query(fmt::format("DESCRIBE SELECT ({0}) AS lathe_rule FROM {1} WHERE ({0}) IS NULL", sql, relation)));
  if (described.rows.size() != 1) return Status::InvalidParameter("not a single expression");
  const auto& type = std::get<std::string>(described.rows[0][1]);
  if (type != "BOOLEAN") return Status::InvalidParameter(fmt::format("not a boolean expression: its type is {}", type));
  return Status::Ok();
}

// NULL is not FALSE: a rule over a missing value is not broken (see IntegrityRule).
std::string RuleViolation(const std::string& sql) {
  return fmt::format("NOT coalesce(({}), TRUE)", sql);
}

Status CheckRuleNames(const std::vector<IntegrityRule>& rules) {
  std::set<std::string> names;
  for (size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].name.empty()) return Status::InvalidParameter(fmt::format("rule #{} has no name", i + 1));
    if (!names.insert(rules[i].name).second) {
      return Status::InvalidParameter(fmt::format("two rules are named '{}'", rules[i].name));
    }
  }
  return Status::Ok();
}

Status ValidateOptions(const IntegrityOptions& options) {
  for (const auto& [column, range] : options.ranges) {
    if ((range.min && std::isnan(*range.min)) || (range.max && std::isnan(*range.max))) {
      return Status::InvalidParameter(fmt::format("the range of '{}' has a NaN bound", column));
    }
    if (range.min && range.max && *range.min > *range.max) {
      return Status::InvalidParameter(
          fmt::format("the range of '{}' is empty: min {} > max {}", column, *range.min, *range.max));
    }
  }
  // Written so that NaN fails too.
  auto is_share = [](double share) { return share >= 0 && share <= 1; };
  if (!is_share(options.default_max_null_share)) {
    return Status::InvalidParameter(
        fmt::format("default_max_null_share must be in [0, 1], not {}", options.default_max_null_share));
  }
  for (const auto& [column, share] : options.max_null_share) {
    if (!is_share(share))
      return Status::InvalidParameter(fmt::format("max_null_share of '{}' must be in [0, 1], not {}", column, share));
  }
  if (options.max_examples < 0) {
    return Status::InvalidParameter(fmt::format("max_examples must be at least 0, not {}", options.max_examples));
  }
  return CheckRuleNames(options.rules);
}

// A column of both relations and what is checked in it.
struct ColumnPlan {
  std::string name;
  std::string reference_type;
  std::string current_type;
  bool same_family = false;  // both numeric or both not
  const ColumnFacts* facts = nullptr;  // a drift report's counts of it, when they apply
  // Where the reference aggregate holds what the facts do not give, and the values.
  std::optional<size_t> reference_values_at, reference_min_at, reference_max_at, reference_distinct_at;
  int64_t reference_values = 0;
  std::optional<double> reference_min, reference_max;
  std::optional<int64_t> reference_distinct;
  std::optional<ColumnKind> kind;
  // The range check, when there is one: its bounds and the violation, or why it cannot run.
  bool check_range = false;
  bool declared_range = false;
  std::optional<double> low, high;
  std::string range_detail;
  std::string range_error;
  // The same for the current aggregate.
  std::optional<size_t> current_values_at, range_violations_at;
  int64_t current_values = 0;
  std::optional<int64_t> range_violations;
};

std::string RangeText(const std::optional<double>& low, const std::optional<double>& high) {
  return fmt::format("{}{}, {}{}", low ? "[" : "(", low ? fmt::format("{}", *low) : "-inf",
                     high ? fmt::format("{}", *high) : "+inf", high ? "]" : ")");
}

// NULL compares to nothing and so is never outside. NaN sorts above every number in DuckDB, so
// only without an upper bound does it need its own test.
std::string RangeViolation(const ColumnPlan& plan) {
  const std::string column = SqlIdentifier(plan.name);
  std::vector<std::string> outside;
  if (plan.low) outside.push_back(fmt::format("{} < {}", column, SqlDouble(*plan.low)));
  if (plan.high) {
    outside.push_back(fmt::format("{} > {}", column, SqlDouble(*plan.high)));
  } else if (IsIeeeFloatType(plan.current_type)) {
    outside.push_back(fmt::format("isnan({})", column));
  }
  return Join(outside, " OR ");
}

// count_if is several times cheaper in DuckDB than count(*) FILTER (WHERE ...).
std::string CountIf(const std::string& condition) {
  return fmt::format("CAST(count_if({}) AS BIGINT)", condition);
}

// Decides the column's kind and its range check from the options and the reference's statistics.
void PlanChecks(ColumnPlan& plan, const IntegrityOptions& options) {
  if (auto given = options.kinds.find(plan.name); given != options.kinds.end()) {
    plan.kind = given->second;
  } else {
    plan.kind = InferColumnKind(plan.reference_type, plan.reference_distinct);
  }
  auto declared = options.ranges.find(plan.name);
  const bool has_declared = declared != options.ranges.end();
  if (has_declared && !declared->second.min && !declared->second.max) return;  // turned off
  if (!plan.same_family || (!has_declared && plan.kind != ColumnKind::kNumerical)) return;
  plan.check_range = true;
  plan.declared_range = has_declared;
  if (!IsNumericType(plan.current_type)) {
    plan.range_error = fmt::format("{} is not a numeric type", plan.current_type);
  } else if (has_declared) {
    plan.low = declared->second.min;
    plan.high = declared->second.max;
    plan.range_detail = "declared range " + RangeText(plan.low, plan.high);
  } else {
    plan.low = plan.reference_min;
    plan.high = plan.reference_max;
    if (!plan.low) {
      plan.range_error = "the reference has no values to take a range from";
    } else {
      plan.range_detail = "reference range " + RangeText(plan.low, plan.high);
    }
  }
}

// The drift report's counts of the column, when they were made on the same types (the report was
// made over the same relations, so only a column it read with other types could differ).
const ColumnFacts* FactsOf(const DriftReport* drift, const ColumnPlan& plan) {
  if (!drift) return nullptr;
  for (const auto& column : drift->columns) {
    if (column.column != plan.name || !column.facts) continue;
    const ColumnFacts& facts = *column.facts;
    return facts.reference_type == plan.reference_type && facts.current_type == plan.current_type ? &facts : nullptr;
  }
  return nullptr;
}

IntegrityCheck NewCheck(std::string check, std::string column, std::string detail = "") {
  IntegrityCheck out;
  out.check = std::move(check);
  out.column = std::move(column);
  out.detail = std::move(detail);
  return out;
}

// Counts the current values of a categorical column never seen in the reference and sets
// `condition` to the SQL that holds for a row with one. The values come from the drift report's
// facts when they apply, else from DuckDB.
Status CheckUnseen(DuckDb& db, const std::string& reference, const std::string& current, const ColumnPlan& plan,
                   IntegrityCheck& check, std::string& condition) {
  const std::string column = SqlIdentifier(plan.name);
  // Same types compare as they are; different non-numeric ones (BOOLEAN vs VARCHAR) as text.
  const bool as_is = plan.reference_type == plan.current_type || IsNumericType(plan.current_type);
  const std::string value = as_is ? column : fmt::format("CAST({} AS VARCHAR)", column);
  const std::string seen = fmt::format("SELECT DISTINCT {} FROM {} WHERE {} IS NOT NULL", value, reference, column);
  // The most frequent unseen values (up to kMaxInList + 1), how many there are, and their rows.
  std::vector<std::pair<std::string, int64_t>> unseen;
  size_t distinct = 0;
  if (plan.facts && plan.facts->unseen) {
    const auto& known = *plan.facts->unseen;
    distinct = known.size();
    for (const auto& [text, rows] : known) check.violations += rows;
    unseen.assign(known.begin(), known.begin() + static_cast<std::ptrdiff_t>(std::min(known.size(), kMaxInList + 1)));
  } else {
    // Both sides grouped first: the anti-join then matches distinct values, not rows.
    LATHE_ASSIGN_OR_RETURN(
        auto found,
        db.Query(fmt::format(
            "SELECT CAST(lathe_value AS VARCHAR), lathe_rows, count(*) OVER (), CAST(sum(lathe_rows) OVER () AS BIGINT) "
            "FROM (SELECT {} AS lathe_value, count(*) AS lathe_rows FROM {} WHERE {} IS NOT NULL GROUP BY lathe_value) "
            "WHERE lathe_value NOT IN ({}) ORDER BY lathe_rows DESC, lathe_value LIMIT {}",
            value, current, column, seen, kMaxInList + 1)));
    if (found.rows.empty()) return Status::Ok();
    distinct = static_cast<size_t>(Int(found.rows[0][2]));
    check.violations = Int(found.rows[0][3]);
    for (const auto& row : found.rows) unseen.emplace_back(std::get<std::string>(row[0]), Int(row[1]));
  }
  if (unseen.empty()) return Status::Ok();
  std::vector<std::string> listed, literals;
  for (const auto& [text, rows] : unseen) {
    if (listed.size() < kListedValues) listed.push_back(text);
    literals.push_back(as_is ? fmt::format("CAST({} AS {})", storage::SqlString(text), plan.current_type)
                             : storage::SqlString(text));
  }
  check.detail =
      distinct > listed.size()
          ? fmt::format("{} unseen values, the {} most frequent: {}", distinct, listed.size(), Join(listed, ", "))
          : fmt::format("{} unseen value{}: {}", distinct, distinct == 1 ? "" : "s", Join(listed, ", "));
  condition = distinct <= kMaxInList ? fmt::format("{} IN ({})", value, Join(literals, ", "))
                                     : fmt::format("{} IS NOT NULL AND {} NOT IN ({})", column, value, seen);
  return Status::Ok();
}

// A failed row-level check and the SQL condition its violating rows satisfy.
struct Violation {
  size_t check;
  std::string condition;
};

// rows_with_violation, and examples of every failed check: the first violating rows in the
// relation's order (DuckDB keeps insertion order under LIMIT), so a frequent violation costs a few
// chunks, not a scan.
Status FindViolatingRows(DuckDb& db, const std::string& current, const Column* id, int max_examples,
                         const std::vector<Violation>& violations, IntegrityReport& report) {
  std::vector<std::string> conditions;
  for (const auto& violation : violations) {
    conditions.push_back("(" + violation.condition + ")");
    if (!id || max_examples == 0) continue;
    LATHE_ASSIGN_OR_RETURN(auto examples,
                           db.Query(fmt::format("SELECT CAST({} AS VARCHAR) FROM {} WHERE {} LIMIT {}",
                                                SqlIdentifier(id->name), current, violation.condition, max_examples)));
    for (const auto& row : examples.rows) {
      report.checks[violation.check].examples.push_back(
          std::holds_alternative<std::string>(row[0]) ? std::get<std::string>(row[0]) : "NULL");
    }
  }
  LATHE_ASSIGN_OR_RETURN(auto counted,
                         db.Query(fmt::format("SELECT count(*) FROM {} WHERE {}", current, Join(conditions, " OR "))));
  report.rows_with_violation = Int(counted.rows[0][0]);
  return Status::Ok();
}

// The key hashes that occur more than once among `hashes`, and how many rows
// repeat an earlier row's hash. Hashes are uniform, so one pass on their top 16 bits leaves
// buckets of a few values each to sort: faster than a hash set or one sort of them all.
struct RepeatedHashes {
  std::vector<uint64_t> values;
  int64_t extra_rows = 0;
};
RepeatedHashes FindRepeatedHashes(const std::vector<uint64_t>& hashes) {
  constexpr int kBucketShift = 48;
  std::vector<size_t> starts((size_t{1} << (64 - kBucketShift)) + 1, 0);
  for (uint64_t hash : hashes) ++starts[(hash >> kBucketShift) + 1];
  for (size_t b = 1; b < starts.size(); ++b) starts[b] += starts[b - 1];
  std::vector<uint64_t> bucketed(hashes.size());
  {
    std::vector<size_t> next(starts.begin(), starts.end() - 1);
    for (uint64_t hash : hashes) bucketed[next[hash >> kBucketShift]++] = hash;
  }
  RepeatedHashes repeated;
  for (size_t b = 0; b + 1 < starts.size(); ++b) {
    auto* first = bucketed.data() + starts[b];
    auto* last = bucketed.data() + starts[b + 1];
    if (last - first < 2) continue;
    std::sort(first, last);
    for (auto* at = first + 1; at < last; ++at) {
      if (*at != at[-1]) continue;
      ++repeated.extra_rows;
      if (repeated.values.empty() || repeated.values.back() != *at) repeated.values.push_back(*at);
    }
  }
  return repeated;
}

// Counts the rows whose key occurred before (in id order) and takes examples of them. The key
// hashes are read out and counted here; only the rows of a repeated hash are then compared column
// by column (a repeated hash may be a collision of different keys).
Status CountDuplicates(DuckDb& db, const std::string& current, const std::string& keys, const Column* id,
                       int max_examples, IntegrityCheck& check) {
  std::vector<uint64_t> hashes;
  LATHE_RETURN_IF_ERROR(db.QueryUint64s(fmt::format("SELECT hash({}) FROM {}", keys, current), hashes));
  const RepeatedHashes repeated = FindRepeatedHashes(hashes);
  if (repeated.extra_rows == 0) return Status::Ok();
  std::string candidates;
  if (repeated.values.size() <= kMaxInList) {
    std::vector<std::string> literals;
    for (uint64_t hash : repeated.values) literals.push_back(fmt::format("{}::UBIGINT", hash));
    candidates = Join(literals, ", ");
  } else {
    candidates = fmt::format("SELECT hash({0}) FROM {1} GROUP BY ALL HAVING count(*) > 1", keys, current);
  }
  const std::string id_sql = id ? SqlIdentifier(id->name) : "NULL";
  LATHE_ASSIGN_OR_RETURN(
      auto found,
      db.Query(fmt::format(
          "WITH lathe_candidates AS (SELECT {0} AS lathe_id, {1} FROM {2} WHERE hash({1}) IN ({3})), "
          "lathe_extras AS MATERIALIZED (SELECT lathe_id FROM (SELECT lathe_id, row_number() OVER (PARTITION BY {1} "
          "ORDER BY lathe_id) "
          "AS lathe_occurrence FROM lathe_candidates) WHERE lathe_occurrence > 1) "
          "SELECT lathe_part, lathe_count, CAST(lathe_id AS VARCHAR) FROM ("
          "SELECT 0 AS lathe_part, count(*) AS lathe_count, NULL AS lathe_id FROM lathe_extras UNION ALL "
          "(SELECT 1, NULL, lathe_id FROM lathe_extras ORDER BY lathe_id LIMIT {4})) ORDER BY lathe_part, lathe_id",
          id_sql, keys, current, candidates, id ? max_examples : 0)));
  // Tagged rows: part 0 holds the count, part 1 the examples.
  for (const auto& row : found.rows) {
    if (Int(row[0]) == 0) {
      check.violations = Int(row[1]);
    } else if (std::holds_alternative<std::string>(row[2])) {
      check.examples.push_back(std::get<std::string>(row[2]));
    }
  }
  check.failed = check.violations > 0;
  return Status::Ok();
}

}  // namespace

Status ValidateRules(storage::DuckDb& db, const std::string& relation, const std::vector<IntegrityRule>& rules) {
  LATHE_RETURN_IF_ERROR(CheckRuleNames(rules));
  for (const auto& rule : rules) {
    Status bound = BindRule(db, relation, rule.sql);
    if (!bound.ok()) return Status::InvalidParameter(fmt::format("rule '{}': {}", rule.name, bound.message()));
  }
  return Status::Ok();
}

Result<IntegrityReport> CheckIntegrity(storage::DuckDb& db, const std::string& reference, const std::string& current,
                                       const IntegrityOptions& options, const DriftReport* same_data_drift) {
  LATHE_RETURN_IF_ERROR(ValidateOptions(options));
  LATHE_ASSIGN_OR_RETURN(auto reference_columns, Columns(db, reference));
  LATHE_ASSIGN_OR_RETURN(auto current_columns, Columns(db, current));
  const Column* id = nullptr;
  if (!options.id_column.empty()) {
    id = Find(current_columns, options.id_column);
    if (!id) return Status::InvalidParameter(fmt::format("the current data has no id column '{}'", options.id_column));
  }
  const std::set<std::string> ignored(options.ignore_columns.begin(), options.ignore_columns.end());

  IntegrityReport report;
  std::vector<ColumnPlan> plans;
  Aggregate reference_stats;
  const size_t reference_rows_at = reference_stats.Add("count(*)");
  for (const auto& column : reference_columns) {
    if (ignored.count(column.name)) continue;
    const Column* in_current = Find(current_columns, column.name);
    if (!in_current) {
      report.checks.push_back(
          NewCheck("missing_column", column.name,
                   fmt::format("the reference has it ({}), the current data does not", column.type)));
      report.checks.back().failed = true;
      continue;
    }
    ColumnPlan plan;
    plan.name = column.name;
    plan.reference_type = column.type;
    plan.current_type = in_current->type;
    plan.same_family = IsNumericType(plan.reference_type) == IsNumericType(plan.current_type);
    plan.facts = FactsOf(same_data_drift, plan);
    const std::string name = SqlIdentifier(column.name);
    if (plan.facts) {
      plan.reference_values = plan.facts->reference_non_null;
    } else {
      plan.reference_values_at = reference_stats.Add(fmt::format("count({})", name));
    }
    if (plan.facts && plan.facts->range) {
      plan.reference_min = plan.facts->range->reference_min;
      plan.reference_max = plan.facts->range->reference_max;
    } else if (IsNumericType(column.type)) {
      // NaN sorts above every number in DuckDB and would stretch the range to include everything;
      // NaN = NaN holds there, so nullif drops it.
      const std::string value = IsIeeeFloatType(column.type) ? fmt::format("nullif({}, 'NaN'::{})", name, column.type) : name;
      plan.reference_min_at = reference_stats.Add(fmt::format("CAST(min({}) AS DOUBLE)", value));
      plan.reference_max_at = reference_stats.Add(fmt::format("CAST(max({}) AS DOUBLE)", value));
    }
    if (IsIntegerType(column.type) && !options.kinds.count(column.name)) {
      plan.reference_distinct_at = reference_stats.Add(fmt::format("count(DISTINCT {})", name));
    }
    plans.push_back(std::move(plan));
  }
  for (const auto& column : current_columns) {
    if (ignored.count(column.name) || Find(reference_columns, column.name)) continue;
    report.checks.push_back(NewCheck("unexpected_column", column.name,
                                     fmt::format("the current data has it ({}), the reference does not", column.type)));
    report.checks.back().failed = true;
  }
  LATHE_ASSIGN_OR_RETURN(auto reference_row, reference_stats.Run(db, reference));
  const int64_t reference_rows = Int(reference_row[reference_rows_at]);
  for (auto& plan : plans) {
    if (plan.reference_values_at) plan.reference_values = Int(reference_row[*plan.reference_values_at]);
    if (plan.reference_min_at) plan.reference_min = Double(reference_row[*plan.reference_min_at]);
    if (plan.reference_max_at) plan.reference_max = Double(reference_row[*plan.reference_max_at]);
    if (plan.reference_distinct_at) plan.reference_distinct = Int(reference_row[*plan.reference_distinct_at]);
  }

  std::vector<std::string> key = options.duplicate_key;
  if (key.empty()) {
    for (const auto& column : current_columns) {
      if (!ignored.count(column.name) && column.name != options.id_column) key.push_back(column.name);
    }
  }
  IntegrityCheck duplicates = NewCheck("duplicates", "", "key: " + Join(key, ", "));
  std::vector<std::string> key_sql;
  for (const auto& column : key) {
    if (!Find(current_columns, column)) duplicates.error = fmt::format("the current data has no column '{}'", column);
    key_sql.push_back(SqlIdentifier(column));
  }
  const std::string keys = Join(key_sql, ", ");

  // Everything counted over the current rows in one scan; rules join it when they bind, and are
  // counted one by one when the scan fails at run time (e.g. a cast in a rule) to find the culprit.
  Aggregate current_stats;
  const size_t current_rows_at = current_stats.Add("count(*)");
  for (auto& plan : plans) {
    PlanChecks(plan, options);
    if (plan.facts) {
      plan.current_values = plan.facts->current_non_null;
    } else {
      plan.current_values_at = current_stats.Add(fmt::format("count({})", SqlIdentifier(plan.name)));
    }
    if (plan.check_range && plan.range_error.empty()) {
      if (plan.facts && plan.facts->range && !plan.declared_range) {
        plan.range_violations = plan.facts->range->current_outside;
      } else {
        plan.range_violations_at = current_stats.Add(CountIf(RangeViolation(plan)));
      }
    }
  }
  std::vector<Status> rule_status;
  std::vector<std::optional<size_t>> rule_at;
  std::vector<int64_t> rule_violations(options.rules.size(), 0);
  Aggregate with_rules = current_stats;
  for (const auto& rule : options.rules) {
    rule_status.push_back(BindRule(db, current, rule.sql));
    rule_at.push_back(rule_status.back().ok() ? std::optional(with_rules.Add(CountIf(RuleViolation(rule.sql))))
                                              : std::nullopt);
  }
  auto current_row = with_rules.Run(db, current);
  if (current_row.ok()) {
    for (size_t i = 0; i < rule_at.size(); ++i) {
      if (rule_at[i]) rule_violations[i] = Int((*current_row)[*rule_at[i]]);
    }
  } else if (with_rules.size() > current_stats.size()) {
    current_row = current_stats.Run(db, current);
    for (size_t i = 0; i < rule_at.size(); ++i) {
      if (!rule_at[i]) continue;
      auto counted =
          db.Query(fmt::format("SELECT count(*) FROM {} WHERE {}", current, RuleViolation(options.rules[i].sql)));
      rule_status[i] = counted.status();
      if (counted.ok()) rule_violations[i] = Int(counted->rows[0][0]);
    }
  }
  if (!current_row.ok()) return current_row.status();
  const std::vector<Cell>& counts = *current_row;
  report.current_rows = Int(counts[current_rows_at]);
  const int64_t rows = report.current_rows;
  for (auto& plan : plans) {
    if (plan.current_values_at) plan.current_values = Int(counts[*plan.current_values_at]);
    if (plan.range_violations_at) plan.range_violations = Int(counts[*plan.range_violations_at]);
  }

  std::vector<Violation> violations;
  auto add = [&](IntegrityCheck check, const std::string& condition) {
    check.share = Share(check.violations, rows);
    if (check.failed) violations.push_back({report.checks.size(), condition});
    report.checks.push_back(std::move(check));
  };
  for (const auto& plan : plans) {
    const int64_t current_values = plan.current_values;
    if (!plan.same_family && current_values > 0) {
      report.checks.push_back(NewCheck(
          "type_mismatch", plan.name, fmt::format("reference {}, current {}", plan.reference_type, plan.current_type)));
      report.checks.back().failed = true;
    }
    const std::string column = SqlIdentifier(plan.name);
    {
      const double reference_share = Share(reference_rows - plan.reference_values, reference_rows);
      auto allowed = options.max_null_share.find(plan.name);
      const double max_share =
          allowed != options.max_null_share.end() ? allowed->second : options.default_max_null_share;
      IntegrityCheck check = NewCheck("null_share", plan.name);
      check.violations = rows - current_values;
      const double share = Share(check.violations, rows);
      check.failed = share > max_share && share > reference_share;
      check.detail =
          fmt::format("null share {:.4g}, allowed {:.4g}, reference {:.4g}", share, max_share, reference_share);
      add(std::move(check), fmt::format("{} IS NULL", column));
    }
    if (plan.check_range) {
      IntegrityCheck check = NewCheck("range", plan.name, plan.range_detail);
      check.error = plan.range_error;
      if (plan.range_violations) {
        check.violations = *plan.range_violations;
        check.failed = check.violations > 0;
      }
      add(std::move(check), plan.range_violations ? RangeViolation(plan) : "");
    }
    if (plan.kind == ColumnKind::kCategorical && plan.same_family) {
      IntegrityCheck check = NewCheck("unseen_category", plan.name);
      std::string condition;
      Status checked = CheckUnseen(db, reference, current, plan, check, condition);
      if (!checked.ok()) check.error = checked.message();
      check.failed = check.violations > 0;
      add(std::move(check), condition);
    }
  }
  if (!key.empty()) {
    if (duplicates.error.empty()) {
      LATHE_RETURN_IF_ERROR(CountDuplicates(db, current, keys, id, options.max_examples, duplicates));
    }
    duplicates.share = Share(duplicates.violations, rows);
    report.checks.push_back(std::move(duplicates));
  }
  for (size_t i = 0; i < options.rules.size(); ++i) {
    IntegrityCheck check = NewCheck("rule", options.rules[i].name, options.rules[i].sql);
    check.error = rule_status[i].message();
    check.violations = rule_violations[i];
    check.failed = check.violations > 0;
    add(std::move(check), RuleViolation(options.rules[i].sql));
  }

  if (!violations.empty())
    LATHE_RETURN_IF_ERROR(FindViolatingRows(db, current, id, options.max_examples, violations, report));
  report.violation_share = Share(report.rows_with_violation, rows);
  for (const auto& check : report.checks) report.failed += check.failed ? 1 : 0;
  return report;
}

nlohmann::json ToJson(const IntegrityReport& report) {
  nlohmann::json out = {{"current_rows", report.current_rows},
                        {"failed", report.failed},
                        {"rows_with_violation", report.rows_with_violation},
                        {"violation_share", report.violation_share},
                        {"checks", nlohmann::json::array()}};
  for (const auto& check : report.checks) {
    nlohmann::json entry = {{"check", check.check}, {"column", check.column}, {"violations", check.violations},
                            {"share", check.share}, {"failed", check.failed}, {"examples", check.examples}};
    if (!check.detail.empty()) entry["detail"] = check.detail;
    if (!check.error.empty()) entry["error"] = check.error;
    out["checks"].push_back(std::move(entry));
  }
  return out;
}

}  // namespace lathe::monitoring
