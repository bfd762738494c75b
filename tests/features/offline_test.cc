// Point-in-time correct training sets: every expectation below is computed by hand from the
// source rows written in SetUp().
#include "features/offline.h"

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "feature_fixtures.h"
#include "features/materialize.h"

namespace lathe::features {
namespace {

using testing::Contains;
using testing::kCustomerRecentViewYaml;
using testing::kCustomerStatsViewYaml;
using testing::kOrderRequestYaml;
using testing::kOrdersCsv;
using testing::kOrdersSourceYaml;
using testing::QueryRows;
using testing::ReadFileBytes;
using testing::Rows;
using testing::TempDir;
using testing::WriteFile;

const std::string kRepoYaml = std::string(
    "project: shop\n"
    "entities:\n"
    "  - name: customer\n"
    "    join_keys: [{name: customer_id, type: int64}]\n"
    "  - name: store\n"
    "    join_keys: [{name: store_id, type: string}]\n"
    "sources:\n") + kOrdersSourceYaml +
    "  - name: visits\n"
    "    path: data/visits.parquet\n"
    "    timestamp_field: visit_ts\n"
    "  - name: orders_tz\n"
    "    path: data/orders_tz.csv\n"
    "    timestamp_field: order_ts\n"
    "feature_views:\n" + kCustomerStatsViewYaml + kCustomerRecentViewYaml +
    "  - name: store_stats\n"
    "    entities: [store]\n"
    "    source: visits\n"
    "    features:\n"
    "      - name: visitors\n"
    "        expression: visitors\n"
    "  - name: customer_tz\n"
    "    entities: [customer]\n"
    "    source: orders_tz\n"
    "    features:\n"
    "      - name: tz_amount\n"
    "        expression: amount\n" + kOrderRequestYaml;

class OfflineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::OpenTestDb();
    ASSERT_TRUE(db_);
    WriteFile(dir_.path() / "repo" / "data" / "orders.csv", kOrdersCsv);
    WriteFile(dir_.path() / "repo" / "data" / "orders_tz.csv",
              "customer_id,order_ts,amount\n"
              "1,2024-01-01T10:00:00+02:00,1.0\n"   // 08:00 UTC
              "1,2024-01-01T09:30:00Z,2.0\n");       // 09:30 UTC
    ASSERT_NO_FATAL_FAILURE(testing::WriteParquet(
        *db_, dir_ / "repo/data/visits.parquet",
        "SELECT * FROM (VALUES ('s1', TIMESTAMP '2024-01-05 00:00:00', 7), ('s1', TIMESTAMP '2024-01-15 00:00:00', 9), "
        "('s2', TIMESTAMP '2024-01-10 00:00:00', 3)) AS t(store_id, visit_ts, visitors)"));
    WriteFile(dir_.path() / "repo" / "features.yaml", kRepoYaml);
    auto repo = LoadFeatureRepo(dir_.path() / "repo" / "features.yaml");
    FS_ASSERT_OK(repo);
    repo_ = std::move(repo).value();
    FS_ASSERT_OK(ValidateAgainstData(repo_, *db_));
  }

  std::vector<FeatureRef> Refs(const std::vector<std::string>& names) {
    auto refs = ParseFeatureRefs(repo_, names);
    EXPECT_TRUE(refs.ok()) << refs.status().message();
    return refs.ok() ? *refs : std::vector<FeatureRef>{};
  }

  // Writes the training set to <dir>/<name> and reads `select` (over `out`) back.
  Rows Historical(const HistoricalRequest& request, const std::string& select, const std::string& name = "out.parquet",
                  std::vector<std::string>* columns = nullptr) {
    std::string out = dir_ / name;
    auto rows = WriteHistorical(repo_, *db_, request, out, "hash123");
    EXPECT_TRUE(rows.ok()) << rows.status().message();
    if (!rows.ok()) return {};
    auto reader = ReadFileSql(out);
    EXPECT_TRUE(reader.ok());
    std::string sql = select;
    sql.replace(sql.find("OUT"), 3, *reader);
    return QueryRows(*db_, sql, columns);
  }

  // The error of a WriteHistorical that must fail, after checking it left no file behind.
  Status FailingWrite(const HistoricalRequest& request) {
    std::string out = dir_ / "failed.parquet";
    auto rows = WriteHistorical(repo_, *db_, request, out, "hash123");
    EXPECT_FALSE(rows.ok());
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
    return rows.ok() ? Status::Ok() : rows.status();
  }

  TempDir dir_;
  std::unique_ptr<DuckDb> db_;
  FeatureRepo repo_;
};

TEST_F(OfflineTest, PointInTimeJoinTtlTiesAndOrder) {
  // Entity rows deliberately out of time order; the output keeps this order.
  WriteFile(dir_.path() / "entities.csv",
            "customer_id,event_timestamp,request_amount\n"
            "1,2024-02-10 00:00:00,50\n"    // latest before: Jan 21 (30); 20 days > TTL 10d
            "1,2024-01-21 00:00:00,10\n"    // a source row exactly at T is included
            "3,2024-02-01 00:00:00,1\n"     // no history: nulls, row kept
            "2,2024-01-20 00:00:00,60\n"    // Jan 10: tie broken by created time (200); exactly 10d: kept
            "2,2024-01-20 00:00:01,60\n"    // one second past the TTL: null for customer_recent
            "1,2023-12-31 23:59:59,5\n"     // before every source row
            "1,2024-03-01 00:00:00,80\n");  // Feb 20 (50), exactly 10 days (leap year)
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.csv";
  request.features = Refs({"customer_stats:last_amount", "customer_stats:avg_amount_30d", "customer_stats:order_weekday",
                           "customer_recent:last_amount", "order_request:amount_over_avg"});
  request.full_feature_names = true;
  std::vector<std::string> columns;
  Rows rows = Historical(request,
                         "SELECT customer_id, strftime(event_timestamp, '%Y-%m-%d %H:%M:%S'), request_amount, "
                         "customer_stats__last_amount, customer_stats__avg_amount_30d, customer_stats__order_weekday, "
                         "customer_recent__last_amount, order_request__amount_over_avg FROM OUT");
  EXPECT_EQ(rows, (Rows{
                      {"1", "2024-02-10 00:00:00", "50", "30", "20", "7", "NULL", "2.5"},
                      {"1", "2024-01-21 00:00:00", "10", "30", "20", "7", "30", "0.5"},
                      {"3", "2024-02-01 00:00:00", "1", "NULL", "NULL", "NULL", "NULL", "NULL"},
                      {"2", "2024-01-20 00:00:00", "60", "200", "120", "3", "200", "0.5"},
                      {"2", "2024-01-20 00:00:01", "60", "200", "120", "3", "NULL", "0.5"},
                      {"1", "2023-12-31 23:59:59", "5", "NULL", "NULL", "NULL", "NULL", "NULL"},
                      {"1", "2024-03-01 00:00:00", "80", "50", "40", "2", "50", "2"},
                  }));
  // The output's own column list: entity columns, then the features in request order.
  auto all = QueryRows(*db_, "SELECT * FROM read_parquet(" + SqlString(dir_ / "out.parquet") + ") LIMIT 0", &columns);
  EXPECT_EQ(columns, (std::vector<std::string>{"customer_id", "event_timestamp", "request_amount", "customer_stats__last_amount",
                                               "customer_stats__avg_amount_30d", "customer_stats__order_weekday",
                                               "customer_recent__last_amount", "order_request__amount_over_avg"}));
}

TEST_F(OfflineTest, PrepareHistoricalQueryOverACallerTable) {
  FS_ASSERT_OK(db_->Exec("CREATE TEMP TABLE my_rows AS SELECT * FROM (VALUES (2, TIMESTAMP '2024-01-09 00:00:00'), "
                         "(1, TIMESTAMP '2024-01-20 23:59:59')) AS t(customer_id, event_timestamp)"));
  HistoricalRequest request;
  request.entity_table = "my_rows";
  request.features = Refs({"customer_stats:last_amount"});
  auto query = PrepareHistorical(repo_, *db_, request);
  FS_ASSERT_OK(query);
  std::vector<std::string> columns;
  Rows rows = QueryRows(*db_, *query, &columns);
  EXPECT_EQ(columns, (std::vector<std::string>{"customer_id", "event_timestamp", "last_amount"}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][2], "60");
  EXPECT_EQ(rows[1][2], "10");
}

TEST_F(OfflineTest, TimeZonesInEntityAndSourceFiles) {
  WriteFile(dir_.path() / "entities.csv",
            "customer_id,event_timestamp\n"
            "1,2024-01-01T09:00:00+00:00\n"   // 09:00 UTC: only the 08:00 UTC row
            "1,2024-01-01T10:00:00+01:00\n"   // 09:00 UTC as well (10:00 if the zone were dropped)
            "1,2024-01-01T11:45:00+02:00\n"   // 09:45 UTC: the 09:30 row
            "1,2024-01-01T07:59:59Z\n");      // before both
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.csv";
  request.features = Refs({"customer_tz:tz_amount"});
  Rows rows = Historical(request, "SELECT strftime(event_timestamp, '%Y-%m-%d %H:%M:%S'), tz_amount FROM OUT");
  EXPECT_EQ(rows, (Rows{{"2024-01-01 09:00:00", "1"},
                        {"2024-01-01 09:00:00", "1"},
                        {"2024-01-01 09:45:00", "2"},
                        {"2024-01-01 07:59:59", "NULL"}}));
}

TEST_F(OfflineTest, TwoViewsWithDifferentEntitiesFromParquet) {
  ASSERT_NO_FATAL_FAILURE(testing::WriteParquet(
      *db_, dir_ / "entities.parquet",
      "SELECT * FROM (VALUES (1, 's1', TIMESTAMP '2024-01-21 12:00:00'), (2, 's2', TIMESTAMP '2024-01-09 00:00:00'), "
      "(3, 's1', TIMESTAMP '2024-01-10 00:00:00'), (2, 's9', TIMESTAMP '2024-01-31 00:00:00')) "
      "AS t(customer_id, store_id, event_timestamp)"));
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.parquet";
  request.features = Refs({"store_stats:visitors", "customer_stats:last_amount"});
  Rows rows = Historical(request, "SELECT customer_id, store_id, visitors, last_amount FROM OUT");
  EXPECT_EQ(rows, (Rows{{"1", "s1", "9", "30"}, {"2", "s2", "NULL", "60"}, {"3", "s1", "7", "NULL"}, {"2", "s9", "NULL", "200"}}));
}

TEST_F(OfflineTest, FeatureNameCollisionNeedsFullNames) {
  WriteFile(dir_.path() / "entities.csv", "customer_id,event_timestamp\n1,2024-01-21 00:00:00\n");
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.csv";
  request.features = Refs({"customer_stats:last_amount", "customer_recent:last_amount"});
  Status status = FailingWrite(request);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(status.message(),
            "output column 'last_amount' would appear twice (an entity column or another view's feature has that name): use "
            "full feature names");

  request.full_feature_names = true;
  Rows rows = Historical(request, "SELECT customer_stats__last_amount, customer_recent__last_amount FROM OUT");
  EXPECT_EQ(rows, (Rows{{"30", "30"}}));

  // An entity column of the same name as a feature collides too.
  WriteFile(dir_.path() / "entities2.csv", "customer_id,event_timestamp,last_amount\n1,2024-01-21 00:00:00,1\n");
  HistoricalRequest clash;
  clash.entities_path = dir_ / "entities2.csv";
  clash.features = Refs({"customer_stats:last_amount"});
  EXPECT_EQ(FailingWrite(clash).code(), ErrorCode::kInvalidParameterValue);
}

TEST_F(OfflineTest, TimeRangeWithoutEntities) {
  HistoricalRequest request;
  request.features = Refs({"customer_stats:last_amount", "customer_stats:avg_amount_30d"});
  auto start_parsed = ParseTimestamp(*db_, "2024-01-01");
  auto end_parsed = ParseTimestamp(*db_, "2024-01-31T00:00:00Z");
  FS_ASSERT_OK(start_parsed);
  FS_ASSERT_OK(end_parsed);
  int64_t start = *start_parsed, end = *end_parsed;
  EXPECT_EQ(start, 1704067200000000);
  EXPECT_EQ(end, 1706659200000000);
  request.start_micros = start;
  request.end_micros = end;
  std::vector<std::string> columns;
  Rows rows = Historical(request,
                         "SELECT customer_id, strftime(event_timestamp, '%Y-%m-%d'), last_amount, avg_amount_30d FROM OUT",
                         "range.parquet", &columns);
  // Every entity at each of its source events in the range; the keyless Jan-15 row is no entity.
  // BUG: the entity rows of a time range are SELECT DISTINCT keys, __event_ts over the view rows
  // without the "key IS NOT NULL" filter used everywhere else, so a source row with a null key
  // adds an output row {NULL, 2024-01-15, NULL, NULL}.
  EXPECT_EQ(rows, (Rows{{"1", "2024-01-01", "10", "10"},
                        {"1", "2024-01-21", "30", "20"},
                        {"2", "2024-01-03", "60", "60"},
                        {"2", "2024-01-10", "200", "120"}}));

  HistoricalRequest mixed;
  mixed.features = Refs({"customer_stats:last_amount", "store_stats:visitors"});
  mixed.start_micros = start;
  mixed.end_micros = end;
  Status status = FailingWrite(mixed);
  EXPECT_TRUE(Contains(status.message(), "needs views with the same entities")) << status.message();

  HistoricalRequest neither;
  neither.features = Refs({"customer_stats:last_amount"});
  EXPECT_EQ(FailingWrite(neither).message(), "give entity rows, or a time range (start and end)");
}

TEST_F(OfflineTest, ParquetIsByteIdenticalAndCarriesTheHash) {
  WriteFile(dir_.path() / "entities.csv",
            "customer_id,event_timestamp\n2,2024-01-20 00:00:00\n1,2024-02-10 00:00:00\n3,2024-02-01 00:00:00\n");
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.csv";
  request.features = Refs({"customer_stats:last_amount", "customer_stats:avg_amount_30d"});
  std::string first = dir_ / "first.parquet";
  std::string second = dir_ / "second.parquet";
  auto n1 = WriteHistorical(repo_, *db_, request, first, "hash-of-the-repo");
  FS_ASSERT_OK(n1);
  EXPECT_EQ(*n1, 3);
  std::string bytes = ReadFileBytes(first);
  auto again = WriteHistorical(repo_, *db_, request, first, "hash-of-the-repo");  // over the same file
  FS_ASSERT_OK(again);
  auto n2 = WriteHistorical(repo_, *db_, request, second, "hash-of-the-repo");
  FS_ASSERT_OK(n2);
  EXPECT_FALSE(bytes.empty());
  EXPECT_TRUE(ReadFileBytes(first) == bytes);
  EXPECT_TRUE(ReadFileBytes(second) == bytes);
  EXPECT_FALSE(std::filesystem::exists(first + ".tmp"));

  Rows meta = QueryRows(*db_, "SELECT CAST(key AS VARCHAR), CAST(value AS VARCHAR) FROM parquet_kv_metadata(" + SqlString(first) +
                                  ") WHERE CAST(key AS VARCHAR) LIKE 'lathe.%'");
  EXPECT_EQ(meta, (Rows{{"lathe.feature_repo_hash", "hash-of-the-repo"}}));
}

TEST_F(OfflineTest, CsvOutputHasAMetaFile) {
  WriteFile(dir_.path() / "entities.csv", "customer_id,event_timestamp\n2,2024-01-20 00:00:00\n");
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.csv";
  request.features = Refs({"customer_stats:last_amount"});
  Rows rows = Historical(request, "SELECT customer_id, last_amount FROM OUT", "out.csv");
  EXPECT_EQ(rows, (Rows{{"2", "200"}}));
  auto meta = nlohmann::json::parse(ReadFileBytes(dir_ / "out.csv.meta.json"), nullptr, false);
  ASSERT_FALSE(meta.is_discarded());
  EXPECT_EQ(meta["feature_repo_hash"], "hash123");
  EXPECT_EQ(meta["rows"], 1);
  EXPECT_EQ(meta["features"], nlohmann::json::array({"customer_stats:last_amount"}));
}

// ---- Bad input: precise errors, nothing left behind ----

TEST_F(OfflineTest, MissingJoinKeyColumn) {
  WriteFile(dir_.path() / "entities.csv", "cust,event_timestamp\n1,2024-01-21 00:00:00\n");
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.csv";
  request.features = Refs({"customer_stats:last_amount"});
  EXPECT_EQ(FailingWrite(request).message(),
            "the entity rows have no column 'customer_id', the join key of feature view 'customer_stats'");
}

TEST_F(OfflineTest, WrongJoinKeyType) {
  WriteFile(dir_.path() / "entities.csv", "customer_id,event_timestamp\nc1,2024-01-21 00:00:00\n");
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.csv";
  request.features = Refs({"customer_stats:last_amount"});
  EXPECT_EQ(FailingWrite(request).message(),
            "entity column 'customer_id' is VARCHAR, but join key 'customer_id' of feature view 'customer_stats' is int64");
}

TEST_F(OfflineTest, UnknownFeature) {
  auto refs = ParseFeatureRefs(repo_, {"customer_stats:no_such_feature"});
  ASSERT_FALSE(refs.ok());
  EXPECT_EQ(refs.status().code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(refs.status().message(), "feature view 'customer_stats' has no feature 'no_such_feature'");
}

TEST_F(OfflineTest, MissingTimestampColumn) {
  WriteFile(dir_.path() / "entities.csv", "customer_id,ts\n1,2024-01-21 00:00:00\n");
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.csv";
  request.features = Refs({"customer_stats:last_amount"});
  EXPECT_EQ(FailingWrite(request).message(), "the entity rows have no timestamp column 'event_timestamp'");
  request.timestamp_column = "ts";
  Rows rows = Historical(request, "SELECT customer_id, last_amount FROM OUT");
  EXPECT_EQ(rows, (Rows{{"1", "30"}}));
}

TEST_F(OfflineTest, MissingRequestField) {
  WriteFile(dir_.path() / "entities.csv", "customer_id,event_timestamp\n1,2024-01-21 00:00:00\n");
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.csv";
  request.features = Refs({"order_request:amount_over_avg"});
  EXPECT_EQ(FailingWrite(request).message(),
            "the entity rows have no column 'request_amount', a request field of on-demand view 'order_request'");
}

TEST_F(OfflineTest, CorruptParquetEntityFile) {
  std::string path = dir_ / "x.parquet";
  WriteFile(path, "this is not a parquet file at all, just some garbage bytes\n");
  HistoricalRequest request;
  request.entities_path = path;
  request.features = Refs({"customer_stats:last_amount"});
  Status status = FailingWrite(request);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(status.message().rfind("cannot read entity file " + path + ": ", 0), 0u) << status.message();
}

TEST_F(OfflineTest, MissingEntityFile) {
  HistoricalRequest request;
  request.entities_path = dir_ / "nope.csv";
  request.features = Refs({"customer_stats:last_amount"});
  EXPECT_EQ(FailingWrite(request).message(), "entity file " + (dir_ / "nope.csv") + " does not exist");
}

TEST_F(OfflineTest, UnparsableTimestampFailsWithoutOutput) {
  // The timestamp is text that only fails when the query runs: the temporary file must go too.
  WriteFile(dir_.path() / "entities.csv", "customer_id,event_timestamp\n1,2024-01-21 00:00:00\n1,not a time\n");
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.csv";
  request.features = Refs({"customer_stats:last_amount"});
  Status status = FailingWrite(request);
  EXPECT_FALSE(status.ok());
}

TEST_F(OfflineTest, UnknownOutputFormat) {
  WriteFile(dir_.path() / "entities.csv", "customer_id,event_timestamp\n1,2024-01-21 00:00:00\n");
  HistoricalRequest request;
  request.entities_path = dir_ / "entities.csv";
  request.features = Refs({"customer_stats:last_amount"});
  auto rows = WriteHistorical(repo_, *db_, request, dir_ / "out.xlsx", "h");
  ASSERT_FALSE(rows.ok());
  EXPECT_TRUE(Contains(rows.status().message(), "use .csv, .parquet or .json")) << rows.status().message();
}

}  // namespace
}  // namespace lathe::features
