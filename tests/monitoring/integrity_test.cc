// Data-integrity checks on a real DuckDB: counts and examples computed by hand from the rows written
// here, and on random data against pandas.
#include "monitoring/integrity.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "monitoring/drift_report.h"
#include "monitoring/python_reference.h"

namespace lathe::monitoring {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Ages 18, 24, ..., 84 (12 values: numerical), incomes 0..11000 with one null, children 0..3 (4
// values: categorical), three cities.
constexpr const char* kReferenceSql = R"sql(
CREATE TABLE ref AS SELECT
  'r' || i AS request_id,
  (18 + 6 * i)::INTEGER AS age,
  CASE WHEN i = 5 THEN NULL ELSE (1000 * i)::DOUBLE END AS income,
  CASE WHEN i % 2 = 0 THEN 'male' ELSE 'female' END AS gender,
  i % 4 = 1 AS pregnant,
  ['paris', 'lyon', 'nice'][i % 3 + 1] AS city,
  (i % 4)::INTEGER AS children
FROM range(12) t(i)
)sql";

// Each row's comment says what it breaks.
constexpr const char* kCurrentSql = R"sql(
CREATE TABLE cur AS SELECT * FROM (VALUES
  ('c01', 30,   5000.0::DOUBLE,  'male',   false, 'paris',  0),  -- nothing
  ('c02', 17,   2000.0,          'female', true,  'lyon',   1),  -- age below 18
  ('c03', NULL, 3000.0,          'female', false, 'nice',   2),  -- age null
  ('c04', 85,   12000.0,         'male',   true,  'paris',  0),  -- age above 84, income above 11000, male pregnant
  ('c05', 40,   NULL,            'male',   NULL,  'rome',   5),  -- income and pregnant null (rule NULL), rome, 5 children
  ('c06', 50,   'NaN'::DOUBLE,   'female', false, 'rome',   1),  -- income NaN, rome
  ('c07', 60,   4000.0,          'male',   false, 'paris',  3),  -- nothing
  ('c08', 60,   4000.0,          'male',   false, 'paris',  3),  -- duplicate of c07
  ('c09', 70,   -1.0,            'male',   true,  'berlin', 2),  -- income below 0, male pregnant, berlin
  ('c10', 18,   11000.0,         'female', true,  'lyon',   3)   -- nothing: on both bounds
) AS t(request_id, age, income, gender, pregnant, city, children)
)sql";

class IntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = storage::DuckDb::Open();
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    db_ = std::move(opened).value();
  }

  void Exec(const std::string& sql) {
    Status status = db_->Exec(sql);
    ASSERT_TRUE(status.ok()) << status.message();
  }

  void CreatePeople() {
    Exec(kReferenceSql);
    Exec(kCurrentSql);
  }

  static IntegrityOptions PeopleOptions() {
    IntegrityOptions options;
    options.ignore_columns = {"request_id"};
    options.id_column = "request_id";
    options.rules = {{"male_pregnant", "NOT (gender = 'male' AND pregnant)"}};
    return options;
  }

  IntegrityReport Check(const IntegrityOptions& options, const std::string& reference = "ref",
                        const std::string& current = "cur") {
    auto report = CheckIntegrity(*db_, reference, current, options);
    EXPECT_TRUE(report.ok()) << report.status().message();
    return report.ok() ? *report : IntegrityReport{};
  }

  std::unique_ptr<storage::DuckDb> db_;
};

// The one check named so; fails the test when there is none or several.
const IntegrityCheck& Find(const IntegrityReport& report, const std::string& check, const std::string& column) {
  const IntegrityCheck* found = nullptr;
  int matches = 0;
  for (const auto& entry : report.checks) {
    if (entry.check == check && entry.column == column) {
      found = &entry;
      ++matches;
    }
  }
  EXPECT_EQ(matches, 1) << check << " " << column;
  static const IntegrityCheck kNone;
  return found ? *found : kNone;
}

bool Has(const IntegrityReport& report, const std::string& check, const std::string& column) {
  for (const auto& entry : report.checks) {
    if (entry.check == check && entry.column == column) return true;
  }
  return false;
}

void ExpectCheck(const IntegrityCheck& check, int64_t violations, bool failed, std::vector<std::string> examples) {
  EXPECT_EQ(check.violations, violations) << check.check << " " << check.column;
  EXPECT_EQ(check.failed, failed) << check.check << " " << check.column;
  EXPECT_EQ(check.examples, examples) << check.check << " " << check.column;
  EXPECT_EQ(check.error, "") << check.check << " " << check.column;
  EXPECT_DOUBLE_EQ(check.share, violations / 10.0) << check.check << " " << check.column;
}

TEST_F(IntegrityTest, EveryRowLevelCheckWithHandCountedViolations) {
  CreatePeople();
  IntegrityReport report = Check(PeopleOptions());
  EXPECT_EQ(report.current_rows, 10);

  ExpectCheck(Find(report, "null_share", "age"), 1, true, {"c03"});
  // 1 of 10 null against the reference's 1 of 12: above it and above the allowed 0.
  ExpectCheck(Find(report, "null_share", "income"), 1, true, {"c05"});
  ExpectCheck(Find(report, "null_share", "pregnant"), 1, true, {"c05"});
  for (const char* column : {"gender", "city", "children"})
    ExpectCheck(Find(report, "null_share", column), 0, false, {});
  EXPECT_EQ(Find(report, "null_share", "income").detail, "null share 0.1, allowed 0, reference 0.08333");

  ExpectCheck(Find(report, "range", "age"), 2, true, {"c02", "c04"});
  EXPECT_EQ(Find(report, "range", "age").detail, "reference range [18, 84]");
  // NaN is outside every range; the reference's null does not make its range.
  ExpectCheck(Find(report, "range", "income"), 3, true, {"c04", "c06", "c09"});
  EXPECT_EQ(Find(report, "range", "income").detail, "reference range [0, 11000]");
  EXPECT_FALSE(Has(report, "range", "children"));  // categorical: 4 distinct values
  EXPECT_FALSE(Has(report, "range", "city"));

  ExpectCheck(Find(report, "unseen_category", "city"), 3, true, {"c05", "c06", "c09"});
  EXPECT_EQ(Find(report, "unseen_category", "city").detail, "2 unseen values: rome, berlin");
  ExpectCheck(Find(report, "unseen_category", "children"), 1, true, {"c05"});
  EXPECT_EQ(Find(report, "unseen_category", "children").detail, "1 unseen value: 5");
  ExpectCheck(Find(report, "unseen_category", "gender"), 0, false, {});
  ExpectCheck(Find(report, "unseen_category", "pregnant"), 0, false, {});
  EXPECT_FALSE(Has(report, "unseen_category", "age"));

  ExpectCheck(Find(report, "duplicates", ""), 1, true, {"c08"});
  EXPECT_EQ(Find(report, "duplicates", "").detail, "key: age, income, gender, pregnant, city, children");

  // c05 is a man with a NULL pregnancy: the rule is NULL there, not broken.
  ExpectCheck(Find(report, "rule", "male_pregnant"), 2, true, {"c04", "c09"});

  EXPECT_FALSE(Has(report, "null_share", "request_id"));  // ignored
  EXPECT_EQ(report.failed, 9);
  // 14 violations over 9 checks fall on 6 rows: c02, c03, c04, c05, c06, c09 (duplicates are not
  // row-level).
  EXPECT_EQ(report.rows_with_violation, 6);
  EXPECT_DOUBLE_EQ(report.violation_share, 0.6);
}

TEST_F(IntegrityTest, ViolationShareCountsEachRowOnce) {
  Exec("CREATE TABLE ref AS SELECT i AS id, (i * 1.5)::DOUBLE AS x, (i * 2.5)::DOUBLE AS y FROM range(20) t(i)");
  // Row 1 breaks four checks (x range, y null, two rules), row 2 one, row 3 none.
  Exec(
      "CREATE TABLE cur AS SELECT * FROM (VALUES (1, 100.0::DOUBLE, NULL::DOUBLE), (2, 1.0, 99.0), (3, 2.0, 3.0)) "
      "t(id, x, y)");
  IntegrityOptions options;
  options.ignore_columns = {"id"};
  options.id_column = "id";
  options.rules = {{"small_x", "x < 50"}, {"x_below_90", "x < 90"}};
  IntegrityReport report = Check(options);
  EXPECT_EQ(Find(report, "range", "x").violations, 1);
  EXPECT_EQ(Find(report, "null_share", "y").violations, 1);
  EXPECT_EQ(Find(report, "range", "y").violations, 1);
  EXPECT_EQ(Find(report, "rule", "small_x").examples, std::vector<std::string>{"1"});
  EXPECT_EQ(Find(report, "rule", "x_below_90").examples, std::vector<std::string>{"1"});
  EXPECT_EQ(report.failed, 5);
  EXPECT_EQ(report.rows_with_violation, 2);
  EXPECT_DOUBLE_EQ(report.violation_share, 2.0 / 3.0);
}

TEST_F(IntegrityTest, NullShareAgainstAllowanceAndReference) {
  // x: 2 of 10 null in the reference; y, z: none.
  Exec("CREATE TABLE ref AS SELECT CASE WHEN i < 2 THEN NULL ELSE i END AS x, i AS y, i AS z FROM range(10) t(i)");
  Exec(
      "CREATE TABLE cur AS SELECT CASE WHEN i < 2 THEN NULL ELSE i END AS x, "
      "CASE WHEN i < 3 THEN NULL ELSE i END AS y, CASE WHEN i = 9 THEN NULL ELSE i END AS z FROM range(10) t(i)");
  IntegrityOptions options;
  options.max_null_share = {{"y", 0.5}};
  IntegrityReport report = Check(options);
  EXPECT_FALSE(Find(report, "null_share", "x").failed);  // 0.2, no more than the reference
  EXPECT_EQ(Find(report, "null_share", "x").violations, 2);
  EXPECT_FALSE(Find(report, "null_share", "y").failed);  // 0.3, allowed 0.5
  EXPECT_TRUE(Find(report, "null_share", "z").failed);   // 0.1, allowed 0, reference 0
  EXPECT_DOUBLE_EQ(Find(report, "null_share", "z").share, 0.1);
  EXPECT_EQ(report.rows_with_violation, 1);

  options.default_max_null_share = 0.1;  // "more than", not "at least"
  EXPECT_FALSE(Find(Check(options), "null_share", "z").failed);
  options.default_max_null_share = 0.09;
  EXPECT_TRUE(Find(Check(options), "null_share", "z").failed);
}

TEST_F(IntegrityTest, DeclaredRangesOpenBoundsAndTurnedOff) {
  Exec("CREATE TABLE ref AS SELECT i::DOUBLE AS x, i AS n, i % 3 AS k, 'a' || i AS s FROM range(20) t(i)");
  Exec(
      "CREATE TABLE cur AS SELECT * FROM (VALUES ('inf'::DOUBLE, 100, 7, 'a1'), ('NaN'::DOUBLE, -5, -1, 'a2'), "
      "(-0.5, 25, 2, 'a3'), (NULL, NULL, NULL, NULL)) t(x, n, k, s)");
  IntegrityOptions options;
  options.ranges = {{"x", {.min = 0.0, .max = std::nullopt}},  // +inf is inside, NaN and -0.5 are not
                    {"n", {}},                                 // no range check at all
                    {"k", {.min = std::nullopt, .max = 5.0}},  // categorical, yet range-checked
                    {"s", {.min = 0.0, .max = 1.0}}};
  IntegrityReport report = Check(options);
  EXPECT_EQ(Find(report, "range", "x").violations, 2);
  EXPECT_EQ(Find(report, "range", "x").detail, "declared range [0, +inf)");
  EXPECT_FALSE(Has(report, "range", "n"));
  EXPECT_EQ(Find(report, "range", "k").violations, 1);
  EXPECT_EQ(Find(report, "range", "k").detail, "declared range (-inf, 5]");
  EXPECT_EQ(Find(report, "unseen_category", "k").violations, 2);  // 7 and -1
  EXPECT_EQ(Find(report, "range", "s").error, "VARCHAR is not a numeric type");
  EXPECT_FALSE(Find(report, "range", "s").failed);

  options.ranges.erase("n");  // back to the reference's [0, 19]
  EXPECT_EQ(Find(Check(options), "range", "n").violations, 3);
}

TEST_F(IntegrityTest, UnseenCategoriesListTheTenMostFrequent) {
  Exec("CREATE TABLE ref AS SELECT * FROM (VALUES ('a', true, 1.5), ('b', false, 2.5)) t(c, flag, price)");
  // v01 three times, v02 twice, v03..v12 once; 'true'/'maybe' as text against a BOOLEAN reference.
  Exec(
      "CREATE TABLE cur AS SELECT c, flag, price FROM (VALUES ('v01', 'true', 1.5), ('v01', 'maybe', 9.5), "
      "('v01', 'false', 2.5), ('v02', 'true', 1.5), ('v02', NULL, 1.5), ('a', 'true', 1.5)) t(c, flag, price) "
      "UNION ALL SELECT printf('v%02d', i), 'true', 2.5 FROM range(3, 13) r(i)");
  IntegrityOptions options;
  options.kinds = {{"price", ColumnKind::kCategorical}};
  IntegrityReport report = Check(options);
  const auto& c = Find(report, "unseen_category", "c");
  EXPECT_EQ(c.violations, 15);
  EXPECT_EQ(c.detail, "12 unseen values, the 10 most frequent: v01, v02, v03, v04, v05, v06, v07, v08, v09, v10");
  EXPECT_EQ(Find(report, "unseen_category", "flag").detail, "1 unseen value: maybe");
  EXPECT_EQ(Find(report, "unseen_category", "price").detail, "1 unseen value: 9.5");
  EXPECT_FALSE(Has(report, "range", "price"));
  EXPECT_THAT(c.examples, IsEmpty());  // no id column
}

TEST_F(IntegrityTest, DuplicatesByKeyWithExamplesInIdOrder) {
  Exec("CREATE TABLE ref AS SELECT 1 AS id, 'a' AS k, 1 AS v, 0 AS ts");
  Exec(
      "CREATE TABLE cur AS SELECT * FROM (VALUES (5, 'a', 1, 10), (2, 'a', 1, 11), (9, 'a', 2, 12), "
      "(7, 'b', NULL, 13), (3, 'b', NULL, 14), (4, 'a', 1, 15)) t(id, k, v, ts)");
  IntegrityOptions options;
  options.ignore_columns = {"id", "ts"};
  options.id_column = "id";
  // Key (k, v): ('a', 1) three times (2 is the original), ('b', NULL) twice (3 is).
  IntegrityReport report = Check(options);
  const auto& duplicates = Find(report, "duplicates", "");
  EXPECT_EQ(duplicates.violations, 3);
  EXPECT_TRUE(duplicates.failed);
  EXPECT_DOUBLE_EQ(duplicates.share, 0.5);
  EXPECT_EQ(duplicates.examples, (std::vector<std::string>{"4", "5", "7"}));
  EXPECT_EQ(duplicates.detail, "key: k, v");
  // Rows 7 and 3 (null v, unseen 'b') and 9 (unseen v 2): duplicates are not counted per row.
  EXPECT_EQ(report.rows_with_violation, 3);

  options.duplicate_key = {"k"};
  options.max_examples = 2;
  EXPECT_EQ(Find(Check(options), "duplicates", "").examples, (std::vector<std::string>{"4", "5"}));
  options.duplicate_key = {"k", "nope"};
  IntegrityReport with_bad_key = Check(options);
  const auto& bad = Find(with_bad_key, "duplicates", "");
  EXPECT_EQ(bad.error, "the current data has no column 'nope'");
  EXPECT_FALSE(bad.failed);
}

TEST_F(IntegrityTest, SchemaChecksOnCsvFiles) {
  testing::ScratchDir dir;
  auto reference = dir.Write("reference.csv", "id,age,income,city,old\n1,30,100.5,paris,x\n2,40,200.5,lyon,y\n");
  // income holds text (VARCHAR), age floats (DOUBLE vs BIGINT: no mismatch).
  auto current = dir.Write("current.csv", "id,age,income,city,new,ts\n1,30.5,n/a,paris,z,1\n2,41.5,300,lyon,z,2\n");
  ASSERT_TRUE(LoadFile(*db_, "ref", reference.string(), "reference").ok());
  ASSERT_TRUE(LoadFile(*db_, "cur", current.string(), "current").ok());
  IntegrityOptions options;
  options.ignore_columns = {"id", "ts"};
  options.kinds = {{"age", ColumnKind::kNumerical}};  // two distinct integers would make it categorical
  IntegrityReport report = Check(options);
  EXPECT_TRUE(Find(report, "missing_column", "old").failed);
  EXPECT_EQ(Find(report, "missing_column", "old").detail, "the reference has it (VARCHAR), the current data does not");
  EXPECT_TRUE(Find(report, "unexpected_column", "new").failed);
  EXPECT_EQ(Find(report, "type_mismatch", "income").detail, "reference DOUBLE, current VARCHAR");
  EXPECT_FALSE(Has(report, "type_mismatch", "age"));
  EXPECT_FALSE(Has(report, "unexpected_column", "ts"));
  EXPECT_FALSE(Has(report, "range", "income"));  // meaningless across types
  EXPECT_FALSE(Has(report, "unseen_category", "income"));
  EXPECT_TRUE(Has(report, "null_share", "income"));
  EXPECT_EQ(Find(report, "range", "age").violations, 1);  // 41.5 outside [30, 40]
  EXPECT_EQ(report.failed, 4);
  EXPECT_EQ(report.rows_with_violation, 1);
}

TEST_F(IntegrityTest, BadRulesReportTheirErrorAndTheRestRuns) {
  CreatePeople();
  IntegrityOptions options = PeopleOptions();
  options.rules = {{"unknown_column", "weight > 0"},
                   {"invalid_sql", "age >"},
                   {"two_statements", "age > 0; DROP TABLE ref"},
                   {"unbalanced", "age > 0) OR (true"},
                   {"aggregate", "count(*) > 0"},
                   {"not_boolean", "age + 1"},
                   {"fails_while_running", "CAST(city AS INTEGER) > 0"},
                   {"male_pregnant", "NOT (gender = 'male' AND pregnant)"}};
  IntegrityReport report = Check(options);
  auto error = [&](const std::string& rule) {
    const auto& check = Find(report, "rule", rule);
    EXPECT_FALSE(check.failed) << rule;
    EXPECT_EQ(check.violations, 0) << rule;
    EXPECT_EQ(check.error.find('\n'), std::string::npos) << check.error;
    return check.error;
  };
  EXPECT_THAT(error("unknown_column"), HasSubstr("Referenced column \"weight\" not found"));
  EXPECT_THAT(error("invalid_sql"), HasSubstr("syntax error"));
  EXPECT_EQ(error("two_statements"), "';' is not allowed: a rule is a single SQL expression");
  EXPECT_EQ(error("unbalanced"), "unbalanced parentheses");
  EXPECT_THAT(error("aggregate"), HasSubstr("WHERE clause cannot contain aggregates"));
  EXPECT_EQ(error("not_boolean"), "not a boolean expression: its type is INTEGER");
  EXPECT_THAT(error("fails_while_running"), HasSubstr("Could not convert string"));
  ExpectCheck(Find(report, "rule", "male_pregnant"), 2, true, {"c04", "c09"});
  EXPECT_EQ(report.failed, 9);
  EXPECT_EQ(report.rows_with_violation, 6);
  EXPECT_TRUE(db_->Query("SELECT count(*) FROM ref").ok());
}

TEST_F(IntegrityTest, NullRuleResultIsNotAViolation) {
  Exec("CREATE TABLE ref AS SELECT * FROM (VALUES (1, 2), (3, 4), (5, 2), (6, 1)) t(a, b)");
  Exec(
      "CREATE TABLE cur AS SELECT * FROM (VALUES ('e', 6, 1), ('d', 1, 2), ('c', NULL, 2), ('b', 3, NULL), "
      "('a', 5, 4)) t(id, a, b)");
  IntegrityOptions options;
  options.ignore_columns = {"id"};
  options.id_column = "id";
  options.max_null_share = {{"a", 1.0}, {"b", 1.0}};
  options.rules = {{"a_below_b", "a < b"}};
  IntegrityReport report = Check(options);
  // ('c', NULL, 2) and ('b', 3, NULL) are unknown, not false: only e and a break the rule, and
  // their examples come in the data's order.
  const auto& rule = Find(report, "rule", "a_below_b");
  EXPECT_EQ(rule.violations, 2);
  EXPECT_EQ(rule.examples, (std::vector<std::string>{"e", "a"}));
  EXPECT_EQ(rule.detail, "a < b");
  EXPECT_EQ(report.failed, 1);
  EXPECT_EQ(report.rows_with_violation, 2);
}

TEST_F(IntegrityTest, EmptyCurrentHasNoFailuresAndNoNaN) {
  CreatePeople();
  Exec("CREATE TABLE cur_empty AS SELECT * FROM cur LIMIT 0");
  IntegrityReport report = Check(PeopleOptions(), "ref", "cur_empty");
  EXPECT_EQ(report.current_rows, 0);
  EXPECT_EQ(report.failed, 0);
  EXPECT_EQ(report.rows_with_violation, 0);
  EXPECT_EQ(report.violation_share, 0.0);
  EXPECT_GE(report.checks.size(), 12u);
  for (const auto& check : report.checks) {
    EXPECT_EQ(check.share, 0.0) << check.check << " " << check.column;
    EXPECT_EQ(check.error, "") << check.check << " " << check.column;
  }
  json out = ToJson(report);
  EXPECT_EQ(out["violation_share"], 0.0);
  EXPECT_EQ(out.dump().find("null,"), std::string::npos) << out.dump();

  // A header-only CSV has every column VARCHAR and no values: not a type mismatch.
  testing::ScratchDir dir;
  auto file = dir.Write("empty.csv", "request_id,age,income,gender,pregnant,city,children\n");
  ASSERT_TRUE(LoadFile(*db_, "empty_csv", file.string(), "current").ok());
  IntegrityOptions options = PeopleOptions();
  options.rules.clear();
  IntegrityReport from_csv = Check(options, "ref", "empty_csv");
  EXPECT_EQ(from_csv.current_rows, 0);
  EXPECT_EQ(from_csv.failed, 0);
  EXPECT_FALSE(Has(from_csv, "type_mismatch", "age"));
}

TEST_F(IntegrityTest, ValidateRules) {
  CreatePeople();
  EXPECT_TRUE(
      ValidateRules(*db_, "ref", {{"ok", "NOT (gender = 'male' AND pregnant)"}, {"quoted", "city <> 'a;b)'"}}).ok());
  auto message = [&](const std::vector<IntegrityRule>& rules) {
    Status status = ValidateRules(*db_, "ref", rules);
    EXPECT_EQ(status.code(), ErrorCode::kInvalidParameterValue);
    EXPECT_EQ(status.message().find('\n'), std::string::npos) << status.message();
    return status.message();
  };
  EXPECT_THAT(message({{"ok", "age > 0"}, {"heavy", "weight > 0"}}),
              HasSubstr("rule 'heavy': Binder Error: Referenced column \"weight\" not found"));
  EXPECT_THAT(message({{"broken", "age >"}}), HasSubstr("rule 'broken': Parser Error: syntax error"));
  EXPECT_EQ(message({{"drop", "true; DROP TABLE ref"}}),
            "rule 'drop': ';' is not allowed: a rule is a single SQL expression");
  EXPECT_EQ(message({{"escape", "true) FROM ref UNION SELECT (true"}}), "rule 'escape': unbalanced parentheses");
  EXPECT_EQ(message({{"quote", "city = 'paris"}}), "rule 'quote': unterminated string literal");
  EXPECT_EQ(message({{"blank", "  "}}), "rule 'blank': the expression is empty");
  EXPECT_EQ(message({{"text", "city"}}), "rule 'text': not a boolean expression: its type is VARCHAR");
  EXPECT_EQ(message({{"", "true"}}), "rule #1 has no name");
  EXPECT_EQ(message({{"a", "true"}, {"a", "false"}}), "two rules are named 'a'");
}

TEST_F(IntegrityTest, BadOptionsAreInvalidParameters) {
  CreatePeople();
  auto message = [&](const IntegrityOptions& options) {
    auto report = CheckIntegrity(*db_, "ref", "cur", options);
    EXPECT_FALSE(report.ok());
    EXPECT_EQ(report.status().code(), ErrorCode::kInvalidParameterValue);
    return report.status().message();
  };
  IntegrityOptions options;
  options.ranges = {{"age", {.min = 10.0, .max = 5.0}}};
  EXPECT_EQ(message(options), "the range of 'age' is empty: min 10 > max 5");
  options.ranges = {{"age", {.min = std::nan(""), .max = std::nullopt}}};
  EXPECT_EQ(message(options), "the range of 'age' has a NaN bound");
  options = {};
  options.max_null_share = {{"age", 1.5}};
  EXPECT_EQ(message(options), "max_null_share of 'age' must be in [0, 1], not 1.5");
  options = {};
  options.default_max_null_share = -0.1;
  EXPECT_EQ(message(options), "default_max_null_share must be in [0, 1], not -0.1");
  options = {};
  options.id_column = "uuid";
  EXPECT_EQ(message(options), "the current data has no id column 'uuid'");
  options = {};
  options.max_examples = -1;
  EXPECT_EQ(message(options), "max_examples must be at least 0, not -1");
}

TEST_F(IntegrityTest, ToJson) {
  CreatePeople();
  json out = ToJson(Check(PeopleOptions()));
  EXPECT_EQ(out["current_rows"], 10);
  EXPECT_EQ(out["failed"], 9);
  EXPECT_EQ(out["rows_with_violation"], 6);
  json rule;
  for (const auto& check : out["checks"]) {
    if (check["check"] == "rule") rule = check;
  }
  EXPECT_EQ(rule, json({{"check", "rule"},
                        {"column", "male_pregnant"},
                        {"violations", 2},
                        {"share", 0.2},
                        {"failed", true},
                        {"examples", {"c04", "c09"}},
                        {"detail", "NOT (gender = 'male' AND pregnant)"}}));
}

// A drift report over the same relations hands its counts to CheckIntegrity; the report must be
// the same as the one CheckIntegrity scans for itself.
void ExpectSameWithDriftFacts(storage::DuckDb& db, const IntegrityOptions& options, const std::vector<std::string>& columns_with_facts) {
  DriftReportOptions drift_options;
  drift_options.kinds = options.kinds;
  auto drift = DriftReportForTables(db, "ref", "cur", drift_options);
  ASSERT_TRUE(drift.ok()) << drift.status().message();
  for (const auto& name : columns_with_facts) {
    bool found = false;
    for (const auto& column : drift->columns) {
      if (column.column == name) found = column.facts.has_value();
    }
    EXPECT_TRUE(found) << name << ": the drift report should hold its facts";
  }
  auto scanned = CheckIntegrity(db, "ref", "cur", options);
  auto with_facts = CheckIntegrity(db, "ref", "cur", options, &*drift);
  ASSERT_TRUE(scanned.ok()) << scanned.status().message();
  ASSERT_TRUE(with_facts.ok()) << with_facts.status().message();
  EXPECT_EQ(ToJson(*with_facts).dump(1), ToJson(*scanned).dump(1));
}

TEST_F(IntegrityTest, DriftFactsGiveTheSameReportOnPeople) {
  CreatePeople();
  IntegrityOptions options = PeopleOptions();
  ExpectSameWithDriftFacts(*db_, options, {"age", "income", "gender", "city", "children"});
  options.kinds = {{"children", ColumnKind::kNumerical}, {"age", ColumnKind::kCategorical}};
  options.ranges = {{"income", NumericRange{0.0, std::nullopt}}};
  ExpectSameWithDriftFacts(*db_, options, {"age", "income", "gender", "city", "children"});
}

// NaN and infinities on both sides, FLOAT against DOUBLE (the facts' types differ, so they are not
// used), an all-null reference column, more unseen values than fit an IN list, integers.
TEST_F(IntegrityTest, DriftFactsGiveTheSameReportOnEdgeCases) {
  Exec(R"sql(CREATE TABLE ref AS SELECT i AS id,
    CASE WHEN i % 10 = 0 THEN 'NaN'::DOUBLE WHEN i = 1 THEN '-inf'::DOUBLE WHEN i % 7 = 0 THEN NULL ELSE i * 0.5 END AS x,
    (i * 0.25)::FLOAT AS f, (i * 0.25)::FLOAT AS g, NULL::DOUBLE AS empty, 'v' || (i % 50) AS s,
    CASE WHEN i % 9 = 0 THEN NULL ELSE 'w' || (i % 3) END AS t, (i % 3)::INTEGER AS small, i::BIGINT AS big
    FROM range(3000) r(i))sql");
  Exec(R"sql(CREATE TABLE cur AS SELECT i AS id,
    CASE WHEN i % 11 = 0 THEN 'NaN'::DOUBLE WHEN i = 2 THEN 'inf'::DOUBLE WHEN i = 3 THEN '-inf'::DOUBLE
         WHEN i % 13 = 0 THEN NULL ELSE i * 0.6 - 50 END AS x,
    (i * 0.3)::DOUBLE AS f, CASE WHEN i = 4 THEN 'inf'::FLOAT ELSE (i * 0.3)::FLOAT END AS g,
    CASE WHEN i = 5 THEN 1.0::DOUBLE END AS empty, 'v' || (i % 1600) AS s,
    CASE WHEN i % 5 = 0 THEN NULL ELSE 'w' || (i % 4) END AS t, (i % 4)::INTEGER AS small, (2 * i)::BIGINT AS big
    FROM range(3000) r(i))sql");
  IntegrityOptions options;
  options.ignore_columns = {"id"};
  options.id_column = "id";
  options.default_max_null_share = 0.01;
  ExpectSameWithDriftFacts(*db_, options, {"x", "g", "s", "t", "small", "big"});
  IntegrityReport report = Check(options);
  EXPECT_EQ(Find(report, "unseen_category", "s").violations, 3000 - 100);  // v0 .. v49 twice
  // The reference's x lies in [-inf, 1499.5]: 273 NaN, one inf and 349 values above it.
  EXPECT_EQ(Find(report, "range", "x").violations, 623);
  EXPECT_EQ(Find(report, "range", "g").violations, 501);  // i * 0.3 > 749.75 for i >= 2500, and one inf
}

// A text column gets its null share but no unseen-category check (every note is new); a datetime
// column its null share and no range.
TEST_F(IntegrityTest, TextAndDatetimeColumnsGetNullSharesOnly) {
  Exec("CREATE TABLE ref AS SELECT i AS id, 'note ' || i AS note, TIMESTAMP '2026-01-01' + to_seconds(i) AS at FROM range(100) r(i)");
  Exec("CREATE TABLE cur AS SELECT i AS id, CASE WHEN i < 3 THEN NULL ELSE 'other ' || i END AS note, "
       "CASE WHEN i = 7 THEN NULL ELSE TIMESTAMP '2026-06-01' + to_seconds(i) END AS at FROM range(10) r(i)");
  IntegrityOptions options;
  options.ignore_columns = {"id"};
  options.id_column = "id";
  options.duplicate_key = {"id"};
  options.kinds = {{"note", ColumnKind::kText}};
  IntegrityReport report = Check(options);
  ExpectCheck(Find(report, "null_share", "note"), 3, true, {"0", "1", "2"});
  ExpectCheck(Find(report, "null_share", "at"), 1, true, {"7"});
  EXPECT_FALSE(Has(report, "unseen_category", "note"));
  EXPECT_FALSE(Has(report, "range", "at"));
  options.kinds.clear();  // the same notes as categories: every one unseen
  EXPECT_EQ(Find(Check(options), "unseen_category", "note").violations, 7);
}

// More repeated keys than an IN list holds: the candidates are found by the GROUP BY instead.
TEST_F(IntegrityTest, DuplicatesBeyondTheInList) {
  Exec("CREATE TABLE ref AS SELECT i AS id, i % 1800 AS k FROM range(10) r(i)");
  Exec("CREATE TABLE cur AS SELECT i AS id, i % 1800 AS k FROM range(3000) r(i)");
  IntegrityOptions options;
  options.id_column = "id";
  options.duplicate_key = {"k"};
  IntegrityReport report = Check(options);
  const IntegrityCheck& duplicates = Find(report, "duplicates", "");
  EXPECT_EQ(duplicates.violations, 1200);
  ASSERT_FALSE(duplicates.examples.empty());
  EXPECT_EQ(duplicates.examples.front(), "1800");
}

// Random data with nulls, out-of-range values, new categories and duplicates; every count,
// verdict and example list against pandas.
constexpr const char* kPandasScript = R"py(
import json, sys
import pandas as pd
case = json.load(open(sys.argv[1]))
ref = pd.read_csv(case["reference"], keep_default_na=False, na_values=[""])
cur = pd.read_csv(case["current"], keep_default_na=False, na_values=[""])
allowed = case["max_null_share"]
out, failed_masks = {}, []
def record(name, mask, failed):
    # Examples are reported for failed checks only, in file order.
    out[name] = {"violations": int(mask.sum()), "failed": bool(failed),
                 "examples": [str(i) for i in cur.id[mask]][:10] if failed else []}
    if failed:
        failed_masks.append(mask)
for col in ["x", "n", "cat", "k"]:
    mask = cur[col].isna()
    share, ref_share = mask.mean(), ref[col].isna().mean()
    record("null_share " + col, mask, share > allowed and share > ref_share)
for col in ["x", "n"]:
    lo, hi = ref[col].min(), ref[col].max()
    mask = cur[col].notna() & ((cur[col] < lo) | (cur[col] > hi))
    record("range " + col, mask, mask.any())
for col in ["cat", "k"]:
    mask = cur[col].notna() & ~cur[col].isin(ref[col].dropna())
    record("unseen_category " + col, mask, mask.any())
key = ["x", "n", "cat", "k"]
dup = cur.sort_values("id").duplicated(subset=key, keep="first").reindex(cur.index)
out["duplicates "] = {"violations": int(dup.sum()), "failed": bool(dup.any()),
                      "examples": [str(i) for i in sorted(cur.id[dup])][:10]}
mask = cur.x > 2 * cur.n
record("rule x_within_2n", mask, mask.any())
any_failed = pd.concat(failed_masks, axis=1).any(axis=1)
print(json.dumps({"checks": out, "rows_with_violation": int(any_failed.sum())}))
)py";

TEST_F(IntegrityTest, RandomDataAgainstPandas) {
  std::mt19937_64 random(42);
  auto write = [&](int rows, bool current) {
    std::uniform_real_distribution<double> uniform(0, 1);
    std::ostringstream csv;
    csv << "id,x,n,cat,k\n";
    std::string previous;
    for (int i = 0; i < rows; ++i) {
      auto maybe = [&](double p, const std::string& value) { return uniform(random) < p ? std::string() : value; };
      // The current data spreads wider than the reference: values out of range and new categories.
      const std::string x =
          maybe(0.03, fmt::format("{:.1f}", uniform(random) * (current ? 120 : 100) - (current ? 10 : 0)));
      const std::string n = maybe(0.01, fmt::format("{}", static_cast<int>(uniform(random) * (current ? 60 : 50))));
      const std::string cat =
          maybe(current ? 0.08 : 0.05, fmt::format("c{}", static_cast<int>(uniform(random) * (current ? 9 : 8))));
      const std::string k = maybe(0.02, fmt::format("{}", static_cast<int>(uniform(random) * (current ? 6 : 5))));
      std::string row = fmt::format("{},{},{},{}", x, n, cat, k);
      if (current && uniform(random) < 0.05 && !previous.empty()) row = previous;
      previous = row;
      csv << i << "," << row << "\n";
    }
    return csv.str();
  };
  testing::ScratchDir dir;
  auto reference = dir.Write("reference.csv", write(2000, false));
  auto current = dir.Write("current.csv", write(3000, true));
  ASSERT_TRUE(LoadFile(*db_, "ref", reference.string(), "reference").ok());
  ASSERT_TRUE(LoadFile(*db_, "cur", current.string(), "current").ok());
  IntegrityOptions options;
  options.ignore_columns = {"id"};
  options.id_column = "id";
  options.default_max_null_share = 0.02;
  options.rules = {{"x_within_2n", "x <= 2 * n"}};
  IntegrityReport report = Check(options);
  json expected = testing::RunPythonJson(kPandasScript, {{"reference", reference.string()},
                                                         {"current", current.string()},
                                                         {"max_null_share", options.default_max_null_share}});
  ASSERT_EQ(report.checks.size(), expected["checks"].size()) << ToJson(report).dump(1);
  for (const auto& check : report.checks) {
    const json& want = expected["checks"].at(check.check + " " + check.column);
    EXPECT_EQ(check.violations, want["violations"].get<int64_t>()) << check.check << " " << check.column;
    EXPECT_EQ(check.failed, want["failed"].get<bool>()) << check.check << " " << check.column;
    EXPECT_EQ(check.examples, want["examples"].get<std::vector<std::string>>()) << check.check << " " << check.column;
    EXPECT_GT(check.violations, 0) << check.check << " " << check.column << ": the data should exercise every check";
  }
  EXPECT_EQ(report.rows_with_violation, expected["rows_with_violation"].get<int64_t>());
}

}  // namespace
}  // namespace lathe::monitoring
