// The drift report over two DuckDB relations: every statistic per column on request, the same
// report whatever the number of threads, and one bad column reported without stopping the others.
#include "monitoring/drift_report.h"

#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "monitoring/column_drift.h"
#include "storage/duckdb.h"

namespace lathe::monitoring {
namespace {

// 20,000 reference and 15,000 current rows: `a` shifts, `b` does not and has NULLs and NaNs,
// `n` is NULL throughout the reference, `city` gains a category, `flag` is an integer with three
// values (categorical).
class DriftReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::DuckDbOptions options;
    options.threads = 2;
    auto db = storage::DuckDb::Open(options);
    ASSERT_TRUE(db.ok()) << db.status().message();
    db_ = std::move(db).value();
    const char* columns =
        "SELECT sqrt(-2 * ln(1 - (hash(i, 1) >> 11) / 9007199254740992.0)) * cos(2 * pi() * (hash(i, 2) >> 11) / 9007199254740992.0) "
        "+ {shift} AS a, "
        "CASE WHEN i % 50 = 0 THEN NULL WHEN i % 77 = 0 THEN 'NaN'::DOUBLE ELSE round(((hash(i, 3) >> 11) / 9007199254740992.0) * 100, 1) END AS b, "
        "CASE WHEN {side} = 0 THEN NULL ELSE i::DOUBLE END AS n, "
        "CASE WHEN {side} = 1 AND i % 10 = 0 THEN 'new' ELSE 'c' || (hash(i, 4) % 6) END AS city, "
        "(hash(i, 5) % 3)::INTEGER AS flag FROM range({rows}) t(i)";
    auto table = [&](const std::string& name, int side, double shift, int rows) {
      std::string sql = columns;
      auto replace = [&](const std::string& key, const std::string& value) {
        for (size_t at = sql.find(key); at != std::string::npos; at = sql.find(key)) sql.replace(at, key.size(), value);
      };
      replace("{shift}", std::to_string(shift));
      replace("{side}", std::to_string(side));
      replace("{rows}", std::to_string(rows));
      // The current rows get other hashes than the reference rows.
      if (side == 1) replace("range(15000) t(i)", "(SELECT r + 1000000 FROM range(15000) s(r)) t(i)");
      ASSERT_TRUE(db_->Exec("CREATE TABLE " + name + " AS " + sql).ok()) << sql;
    };
    table("reference", 0, 0.0, 20000);
    table("current", 1, 0.3, 15000);
  }

  std::unique_ptr<storage::DuckDb> db_;
};

TEST_F(DriftReportTest, EveryStatisticOnRequest) {
  DriftReportOptions options;
  options.all_statistics = true;
  auto report = DriftReportForTables(*db_, "reference", "current", options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->columns.size(), 5u);
  const auto& a = report->columns[0];
  ASSERT_TRUE(a.drift && a.numerical_statistics) << a.error;
  EXPECT_EQ(a.drift->test, "wasserstein");
  EXPECT_EQ(a.drift->statistic, a.numerical_statistics->wasserstein);
  EXPECT_GT(a.numerical_statistics->ks_statistic, 0.05);
  EXPECT_LT(a.numerical_statistics->ks_p_value, 1e-10);
  const auto& b = report->columns[1];
  ASSERT_TRUE(b.drift && b.numerical_statistics) << b.error;
  EXPECT_EQ(b.drift->dropped_reference, 400 + 260 - 6);  // NULL every 50 rows, NaN every 77 but not both
  // The statistics are those of the column's own tests.
  for (const char* test : {"ks", "psi", "jensenshannon"}) {
    DriftReportOptions one;
    one.columns = {"b"};
    one.settings["b"].test = test;
    auto alone = DriftReportForTables(*db_, "reference", "current", one);
    ASSERT_TRUE(alone.ok() && alone->columns[0].drift) << test;
    const double expected = std::string(test) == "ks" ? b.numerical_statistics->ks_p_value
                            : std::string(test) == "psi" ? b.numerical_statistics->psi
                                                         : b.numerical_statistics->jensenshannon;
    EXPECT_EQ(alone->columns[0].drift->statistic, expected) << test;
    EXPECT_FALSE(alone->columns[0].numerical_statistics) << "only on request";
  }
  const auto& city = report->columns[3];
  ASSERT_TRUE(city.categorical_statistics) << city.error;
  EXPECT_TRUE(std::isinf(city.categorical_statistics->chisquare_statistic)) << "a category new in current";
  EXPECT_EQ(city.drift->statistic, city.categorical_statistics->jensenshannon);
  const auto& flag = report->columns[4];
  EXPECT_EQ(flag.kind, ColumnKind::kCategorical);
  ASSERT_TRUE(flag.categorical_statistics);
  EXPECT_GT(flag.categorical_statistics->chisquare_p_value, 1e-6);
  const auto json = ToJson(*report);
  EXPECT_TRUE(json["columns"][0]["statistics"].contains("ks_p_value"));
  EXPECT_TRUE(json["columns"][3]["statistics"]["chisquare_statistic"].is_null()) << "infinite";
}

TEST_F(DriftReportTest, OneBadColumnDoesNotStopTheOthers) {
  auto report = DriftReportForTables(*db_, "reference", "current");
  ASSERT_TRUE(report.ok()) << report.status().message();
  const auto& n = report->columns[2];
  EXPECT_EQ(n.error, "the reference has no finite values in this column");
  EXPECT_FALSE(n.drift);
  ASSERT_TRUE(n.histogram) << "the current side has values";
  EXPECT_EQ(report->tested, 4);
  for (size_t i : {0, 1, 3, 4}) EXPECT_TRUE(report->columns[i].error.empty()) << report->columns[i].error;
}

// Dates and times are inferred datetime and text is declared; neither is tested, and the dataset
// drift share counts only the tested columns.
TEST_F(DriftReportTest, TextAndDatetimeColumnsAreNotTested) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE ref2 AS SELECT i::DOUBLE AS x, DATE '2026-01-01' + (i % 300)::INTEGER AS day, "
                        "TIMESTAMP '2026-01-01 00:00:00' + to_seconds(i) AS at, 'note ' || i AS note FROM range(2000) t(i)")
                  .ok());
  ASSERT_TRUE(db_->Exec("CREATE TABLE cur2 AS SELECT (i + 5000)::DOUBLE AS x, DATE '2026-06-01' + (i % 300)::INTEGER AS day, "
                        "TIMESTAMP '2026-06-01 00:00:00' + to_seconds(i) AS at, 'other ' || i AS note FROM range(2000) t(i)")
                  .ok());
  DriftReportOptions options;
  options.kinds = {{"note", ColumnKind::kText}};
  auto report = DriftReportForTables(*db_, "ref2", "cur2", options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->columns.size(), 4u);
  EXPECT_EQ(report->columns[1].kind, ColumnKind::kDatetime);
  EXPECT_EQ(report->columns[1].error, "datetime columns have no drift test");
  EXPECT_EQ(report->columns[2].kind, ColumnKind::kDatetime) << report->columns[2].current_type;
  EXPECT_EQ(report->columns[3].kind, ColumnKind::kText);
  EXPECT_EQ(report->columns[3].error, "text columns have no drift test (give the column the kind categorical to compare its values)");
  for (size_t i : {1, 2, 3}) EXPECT_FALSE(report->columns[i].drift) << i;
  EXPECT_EQ(report->tested, 1);
  EXPECT_EQ(report->drifted, 1);
  EXPECT_TRUE(report->dataset_drift);
  const auto json = ToJson(*report);
  EXPECT_EQ(json["columns"][1]["kind"], "datetime");
  EXPECT_EQ(json["columns"][3]["kind"], "text");
  // Without the declaration the same strings are categorical, as Evidently infers them.
  auto inferred = DriftReportForTables(*db_, "ref2", "cur2");
  ASSERT_TRUE(inferred.ok());
  EXPECT_EQ(inferred->columns[3].kind, ColumnKind::kCategorical);
  EXPECT_TRUE(inferred->columns[3].drift);
}

TEST_F(DriftReportTest, SameReportOnAnyNumberOfThreads) {
  DriftReportOptions options;
  options.all_statistics = true;
  options.threads = 1;
  auto one = DriftReportForTables(*db_, "reference", "current", options);
  options.threads = 3;
  auto three = DriftReportForTables(*db_, "reference", "current", options);
  ASSERT_TRUE(one.ok() && three.ok());
  EXPECT_EQ(ToJson(*one), ToJson(*three));
}

}  // namespace
}  // namespace lathe::monitoring
