// Materialisation into a real SQLite online store, and online reads through OnlineFeatures.
#include "features/materialize.h"

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "feature_fixtures.h"
#include "features/offline.h"
#include "features/online.h"

namespace lathe::features {
namespace {

using nlohmann::json;
using testing::Contains;
using testing::kCustomerRecentViewYaml;
using testing::kCustomerStatsViewYaml;
using testing::kOrderRequestYaml;
using testing::kOrdersCsv;
using testing::kOrdersSourceYaml;
using testing::QueryRows;
using testing::Rows;
using testing::TempDir;
using testing::WriteFile;

constexpr const char* kFlagsCsv =
    "customer_id,flag_ts,flag\n"
    "1,2024-01-05 00:00:00,\n"
    "2,2024-01-06 00:00:00,1.5\n";

const std::string kRepoYaml = std::string(
    "project: shop\n"
    "entities:\n"
    "  - name: customer\n"
    "    join_keys: [{name: customer_id, type: int64}]\n"
    "sources:\n") + kOrdersSourceYaml +
    "  - name: flags\n"
    "    path: data/flags.csv\n"
    "    timestamp_field: flag_ts\n"
    "feature_views:\n" + kCustomerStatsViewYaml +
    "  - name: customer_flags\n"
    "    entities: [customer]\n"
    "    source: flags\n"
    "    features:\n"
    "      - name: flag\n"
    "        expression: flag\n"
    "        type: double\n" + kCustomerRecentViewYaml + kOrderRequestYaml;

constexpr int64_t kDay = 86400LL * 1000000;
constexpr int64_t kJan1 = 1704067200000000;  // 2024-01-01T00:00:00Z
int64_t Jan(int day) { return kJan1 + (day - 1) * kDay; }
int64_t Feb(int day) { return Jan(32) + (day - 1) * kDay; }

class MaterializeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::OpenTestDb();
    ASSERT_TRUE(db_);
    WriteFile(dir_.path() / "repo" / "data" / "orders.csv", kOrdersCsv);
    WriteFile(dir_.path() / "repo" / "data" / "flags.csv", kFlagsCsv);
    WriteFile(dir_.path() / "repo" / "features.yaml", kRepoYaml);
    auto repo = LoadFeatureRepo(dir_.path() / "repo" / "features.yaml");
    FS_ASSERT_OK(repo);
    repo_ = std::move(repo).value();
    FS_ASSERT_OK(ValidateAgainstData(repo_, *db_));
    auto store = OpenOnlineStore("sqlite", dir_.path() / "data", repo_.project);
    FS_ASSERT_OK(store);
    store_ = std::shared_ptr<OnlineStore>(std::move(store).value());
    ASSERT_TRUE(std::filesystem::exists(dir_.path() / "data" / "features" / "online.db"));
  }

  Result<std::vector<ViewMaterialization>> Run(int64_t start, int64_t end, std::vector<std::string> views = {},
                                               const std::string& hash = "h1") {
    MaterializeRequest request;
    request.views = std::move(views);
    request.start_micros = start;
    request.end_micros = end;
    return Materialize(repo_, hash, *db_, *store_, request);
  }
  Result<std::vector<ViewMaterialization>> Incremental(int64_t end, std::vector<std::string> views = {}) {
    MaterializeRequest request;
    request.views = std::move(views);
    request.incremental = true;
    request.end_micros = end;
    return Materialize(repo_, "h1", *db_, *store_, request);
  }

  // "<event micros> <payload>" per key, or "-" when not found.
  std::vector<std::string> Read(const std::string& view, const std::vector<std::string>& keys) {
    std::vector<OnlineValue> out;
    Status status = store_->Read(view, keys, out);
    EXPECT_TRUE(status.ok()) << status.message();
    std::vector<std::string> text;
    for (const auto& value : out) {
      if (!value.found) {
        text.push_back("-");
        continue;
      }
      auto payload = json::parse(value.payload, nullptr, false);
      EXPECT_FALSE(payload.is_discarded()) << value.payload;
      text.push_back(std::to_string(value.event_micros) + " " + payload.dump());
    }
    return text;
  }
  static std::string Value(int64_t micros, const json& payload) { return std::to_string(micros) + " " + payload.dump(); }

  TempDir dir_;
  std::unique_ptr<DuckDb> db_;
  FeatureRepo repo_;
  std::shared_ptr<OnlineStore> store_;
};

const std::vector<std::string> kKeys = {"1", "2", "3"};

TEST_F(MaterializeTest, LatestValuePerEntityInRange) {
  auto report = Run(Jan(1), Jan(31));
  FS_ASSERT_OK(report);
  ASSERT_EQ(report->size(), 3u);
  EXPECT_EQ((*report)[0].view, "customer_stats");
  EXPECT_EQ((*report)[0].rows, 2);  // customers 1 and 2; the keyless row is not an entity
  EXPECT_EQ((*report)[0].start_micros, Jan(1));
  EXPECT_EQ((*report)[0].end_micros, Jan(31));
  EXPECT_EQ(Read("customer_stats", kKeys),
            (std::vector<std::string>{
                Value(Jan(21), {{"last_amount", 30.0}, {"avg_amount_30d", 20.0}, {"order_weekday", 7}}),
                Value(Jan(10), {{"last_amount", 200.0}, {"avg_amount_30d", 120.0}, {"order_weekday", 3}}),
                "-"}));
  EXPECT_EQ(Read("customer_flags", kKeys),
            (std::vector<std::string>{Value(Jan(5), {{"flag", nullptr}}), Value(Jan(6), {{"flag", 1.5}}), "-"}));
  auto state = store_->GetViewState("customer_stats");
  FS_ASSERT_OK(state);
  ASSERT_TRUE(state->has_value());
  EXPECT_EQ((*state)->repo_hash, "h1");
  EXPECT_EQ((*state)->materialized_until_micros, Jan(31));
  EXPECT_GT((*state)->committed_at_millis, 0);
  EXPECT_EQ((*state)->run_id.size(), 32u);
}

TEST_F(MaterializeTest, RangeBoundsAreInclusive) {
  FS_ASSERT_OK(Run(Jan(10), Jan(21), {"customer_stats"}));
  EXPECT_EQ(Read("customer_stats", kKeys),
            (std::vector<std::string>{
                Value(Jan(21), {{"last_amount", 30.0}, {"avg_amount_30d", 20.0}, {"order_weekday", 7}}),
                Value(Jan(10), {{"last_amount", 200.0}, {"avg_amount_30d", 120.0}, {"order_weekday", 3}}),
                "-"}));
  EXPECT_EQ(Read("customer_flags", kKeys), (std::vector<std::string>{"-", "-", "-"}));  // not requested
}

TEST_F(MaterializeTest, WindowFeaturesSeeRowsBeforeStart) {
  FS_ASSERT_OK(Run(Feb(1), Feb(29), {"customer_stats"}));
  // Feb 20's 30-day average includes Jan 21 (exactly 30 days back), which is before the range.
  EXPECT_EQ(Read("customer_stats", kKeys),
            (std::vector<std::string>{
                Value(Feb(20), {{"last_amount", 50.0}, {"avg_amount_30d", 40.0}, {"order_weekday", 2}}), "-", "-"}));
}

TEST_F(MaterializeTest, OlderRangeAfterANewerOneChangesNothing) {
  FS_ASSERT_OK(Run(Feb(1), Feb(29), {"customer_stats"}));
  FS_ASSERT_OK(Run(Jan(1), Jan(31), {"customer_stats"}, "h2"));
  EXPECT_EQ(Read("customer_stats", kKeys),
            (std::vector<std::string>{
                Value(Feb(20), {{"last_amount", 50.0}, {"avg_amount_30d", 40.0}, {"order_weekday", 2}}),
                Value(Jan(10), {{"last_amount", 200.0}, {"avg_amount_30d", 120.0}, {"order_weekday", 3}}),  // new entity
                "-"}));
  auto state = store_->GetViewState("customer_stats");
  FS_ASSERT_OK(state);
  ASSERT_TRUE(state->has_value());
  EXPECT_EQ((*state)->materialized_until_micros, Feb(29));  // does not move back
}

TEST_F(MaterializeTest, SameRangeTwiceIsIdempotent) {
  FS_ASSERT_OK(Run(Jan(1), Feb(29)));
  auto first = Read("customer_stats", kKeys);
  auto second_report = Run(Jan(1), Feb(29));
  FS_ASSERT_OK(second_report);
  EXPECT_EQ((*second_report)[0].rows, 2);
  EXPECT_EQ(Read("customer_stats", kKeys), first);
  EXPECT_EQ(first[0], Value(Feb(20), {{"last_amount", 50.0}, {"avg_amount_30d", 40.0}, {"order_weekday", 2}}));
}

TEST_F(MaterializeTest, IncrementalStartsWhereTheLastRunEnded) {
  auto first = Incremental(Jan(15), {"customer_stats"});
  FS_ASSERT_OK(first);
  EXPECT_EQ((*first)[0].start_micros, -62135596800000000);  // no previous run: from the beginning
  EXPECT_EQ((*first)[0].end_micros, Jan(15));
  EXPECT_EQ(Read("customer_stats", kKeys),
            (std::vector<std::string>{
                Value(Jan(1), {{"last_amount", 10.0}, {"avg_amount_30d", 10.0}, {"order_weekday", 1}}),
                Value(Jan(10), {{"last_amount", 200.0}, {"avg_amount_30d", 120.0}, {"order_weekday", 3}}), "-"}));

  auto second = Incremental(Feb(29), {"customer_stats"});
  FS_ASSERT_OK(second);
  EXPECT_EQ((*second)[0].start_micros, Jan(15));
  EXPECT_EQ((*second)[0].rows, 1);  // only customer 1 has rows after Jan 15
  EXPECT_EQ(Read("customer_stats", kKeys)[0],
            Value(Feb(20), {{"last_amount", 50.0}, {"avg_amount_30d", 40.0}, {"order_weekday", 2}}));

  // An end before the last one: an empty range at the end, nothing changes.
  auto third = Incremental(Jan(20), {"customer_stats"});
  FS_ASSERT_OK(third);
  EXPECT_EQ((*third)[0].start_micros, Jan(20));
  auto state = store_->GetViewState("customer_stats");
  FS_ASSERT_OK(state);
  EXPECT_EQ((*state)->materialized_until_micros, Feb(29));
}

TEST_F(MaterializeTest, FailedRunLeavesThePreviousValues) {
  FS_ASSERT_OK(Run(Jan(1), Jan(31)));
  auto before_stats = Read("customer_stats", kKeys);
  auto before_state = store_->GetViewState("customer_stats");
  FS_ASSERT_OK(before_state);

  // New data for the first view, and the second view's source gone: the run must fail as a whole.
  WriteFile(dir_.path() / "repo" / "data" / "orders.csv",
            std::string(kOrdersCsv) + "1,2024-01-25 00:00:00,2024-01-25 00:00:00,77.0\n3,2024-01-25 00:00:00,2024-01-25 00:00:00,5.0\n");
  std::filesystem::remove(dir_.path() / "repo" / "data" / "flags.csv");
  auto failed = Run(Jan(1), Jan(31), {}, "h2");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message().rfind("feature view 'customer_flags': ", 0), 0u) << failed.status().message();

  EXPECT_EQ(Read("customer_stats", kKeys), before_stats);
  auto after_state = store_->GetViewState("customer_stats");
  FS_ASSERT_OK(after_state);
  EXPECT_EQ((*after_state)->run_id, (*before_state)->run_id);
  EXPECT_EQ((*after_state)->repo_hash, "h1");

  // The store is not left locked: a later run over the first view alone succeeds.
  FS_ASSERT_OK(Run(Jan(1), Jan(31), {"customer_stats"}, "h3"));
  EXPECT_EQ(Read("customer_stats", kKeys)[0], Value(Jan(25), {{"last_amount", 77.0}, {"avg_amount_30d", 39.0}, {"order_weekday", 4}}));
}

TEST_F(MaterializeTest, BadRequests) {
  auto unknown = Run(Jan(1), Jan(31), {"nope"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(unknown.status().message(), "unknown feature view 'nope'");
  auto reversed = Run(Jan(31), Jan(1));
  ASSERT_FALSE(reversed.ok());
  EXPECT_EQ(reversed.status().message(), "the start of the range is after its end");
}

TEST_F(MaterializeTest, ParseTimestampFormats) {
  EXPECT_EQ(*ParseTimestamp(*db_, "2024-01-02"), Jan(2));
  EXPECT_EQ(*ParseTimestamp(*db_, "2024-01-02T03:04:05"), Jan(2) + (3 * 3600 + 4 * 60 + 5) * 1000000LL);
  EXPECT_EQ(*ParseTimestamp(*db_, "2024-01-02T03:04:05Z"), Jan(2) + (3 * 3600 + 4 * 60 + 5) * 1000000LL);
  EXPECT_EQ(*ParseTimestamp(*db_, "2024-01-02T03:04:05+02:00"), Jan(2) + (1 * 3600 + 4 * 60 + 5) * 1000000LL);
  auto bad = ParseTimestamp(*db_, "yesterday-ish");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "invalid timestamp 'yesterday-ish': expected e.g. 2024-01-31 or 2024-01-31T12:00:00Z");
}

// ---- Online reads ----

TEST_F(MaterializeTest, OnlineStatuses) {
  FS_ASSERT_OK(Run(Jan(1), Jan(31)));
  OnlineFeatures online(repo_, "h1", store_);
  auto response = online.Get(json::parse(R"({
    "features": ["customer_stats:last_amount", "customer_recent:last_amount", "customer_flags:flag",
                 "order_request:amount_over_avg"],
    "entities": {"customer_id": [1, 2, 3]},
    "request_data": {"request_amount": [10, 60.0, 5]}})"));
  FS_ASSERT_OK(response);
  const json& r = *response;
  EXPECT_EQ(r["metadata"]["feature_names"],
            json::parse(R"(["customer_id", "customer_stats:last_amount", "customer_recent:last_amount", "customer_flags:flag",
                            "order_request:amount_over_avg"])"));
  ASSERT_EQ(r["results"].size(), 5u);
  EXPECT_EQ(r["results"][0]["values"], json::parse("[1, 2, 3]"));
  EXPECT_EQ(r["results"][0]["statuses"], json::parse(R"(["PRESENT", "PRESENT", "PRESENT"])"));
  EXPECT_EQ(r["results"][1]["values"], json::parse("[30.0, 200.0, null]"));
  EXPECT_EQ(r["results"][1]["statuses"], json::parse(R"(["PRESENT", "PRESENT", "NOT_FOUND"])"));
  EXPECT_EQ(r["results"][1]["event_timestamps"], json::parse(R"(["2024-01-21T00:00:00Z", "2024-01-10T00:00:00Z", null])"));
  // TTL 10d and values from 2024: old, but still returned.
  EXPECT_EQ(r["results"][2]["values"], json::parse("[30.0, 200.0, null]"));
  EXPECT_EQ(r["results"][2]["statuses"], json::parse(R"(["OUTSIDE_MAX_AGE", "OUTSIDE_MAX_AGE", "NOT_FOUND"])"));
  EXPECT_EQ(r["results"][3]["values"], json::parse("[null, 1.5, null]"));
  EXPECT_EQ(r["results"][3]["statuses"], json::parse(R"(["NULL_VALUE", "PRESENT", "NOT_FOUND"])"));
  EXPECT_EQ(r["results"][4]["values"], json::parse("[0.5, 0.5, null]"));
  EXPECT_EQ(r["results"][4]["statuses"], json::parse(R"(["PRESENT", "PRESENT", "NULL_VALUE"])"));
  EXPECT_EQ(r["metadata"]["feature_repo_hash"], "h1");
  EXPECT_FALSE(r["metadata"].contains("materialized_by_other_version"));

  auto mismatch = online.Get(json::parse(R"({"features": ["customer_stats:last_amount"], "entities": {"customer_id": [1]},
                                              "feature_repo_hash": "other"})"));
  FS_ASSERT_OK(mismatch);
  EXPECT_EQ((*mismatch)["results"][1]["values"], json::parse("[30.0]"));
  EXPECT_EQ((*mismatch)["metadata"]["materialized_by_other_version"], json::parse(R"(["customer_stats"])"));
}

TEST_F(MaterializeTest, OnDemandOnlineEqualsOffline) {
  FS_ASSERT_OK(Run(Jan(1), Jan(31)));
  OnlineFeatures online(repo_, "h1", store_);
  auto response = online.Get(json::parse(R"({
    "features": ["order_request:amount_over_avg", "customer_stats:avg_amount_30d"],
    "entities": {"customer_id": [1, 2, 3]},
    "request_data": {"request_amount": [7, 7.7, 1]}})"));
  FS_ASSERT_OK(response);

  FS_ASSERT_OK(db_->Exec("CREATE TEMP TABLE requests AS SELECT * FROM (VALUES (1, TIMESTAMP '2024-01-31 00:00:00', 7.0), "
                         "(2, TIMESTAMP '2024-01-31 00:00:00', 7.7), (3, TIMESTAMP '2024-01-31 00:00:00', 1.0)) "
                         "AS t(customer_id, event_timestamp, request_amount)"));
  HistoricalRequest request;
  request.entity_table = "requests";
  auto refs = ParseFeatureRefs(repo_, {"order_request:amount_over_avg", "customer_stats:avg_amount_30d"});
  FS_ASSERT_OK(refs);
  request.features = *refs;
  auto query = PrepareHistorical(repo_, *db_, request);
  FS_ASSERT_OK(query);
  auto table = db_->Query("SELECT amount_over_avg, avg_amount_30d FROM (" + *query + ")");
  FS_ASSERT_OK(table);
  ASSERT_EQ(table->rows.size(), 3u);
  for (size_t row = 0; row < 3; ++row) {
    for (size_t f = 0; f < 2; ++f) {
      const Cell& offline = table->rows[row][f];
      const json& value = (*response)["results"][f + 1]["values"][row];
      if (std::holds_alternative<std::monostate>(offline)) {
        EXPECT_TRUE(value.is_null()) << row << "/" << f;
      } else {
        ASSERT_TRUE(value.is_number()) << row << "/" << f << ": " << value.dump();
        EXPECT_EQ(value.get<double>(), std::get<double>(offline)) << row << "/" << f;
      }
    }
  }
  EXPECT_EQ((*response)["results"][1]["values"][0].get<double>(), 7.0 / 20.0);
  EXPECT_EQ((*response)["results"][1]["values"][1].get<double>(), 7.7 / 120.0);
}

TEST_F(MaterializeTest, OnlineBadRequests) {
  FS_ASSERT_OK(Run(Jan(1), Jan(31)));
  OnlineFeatures online(repo_, "h1", store_);
  auto error = [&](const char* text) -> Status {
    auto response = online.Get(json::parse(text));
    EXPECT_FALSE(response.ok()) << text;
    return response.ok() ? Status::Ok() : response.status();
  };
  Status missing = error(R"({"features": ["customer_stats:last_amount"], "entities": {"store_id": ["s1"]}})");
  EXPECT_EQ(missing.code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(missing.message(), "missing entity key 'customer_id'");

  Status wrong_type = error(R"({"features": ["customer_stats:last_amount"], "entities": {"customer_id": [1, "2"]}})");
  EXPECT_EQ(wrong_type.code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(wrong_type.message(), "entity key 'customer_id' is int64: row 1 has \"2\"");

  Status unknown_feature = error(R"({"features": ["customer_stats:nope"], "entities": {"customer_id": [1]}})");
  EXPECT_EQ(unknown_feature.code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(unknown_feature.message(), "feature view 'customer_stats' has no feature 'nope'");

  Status unknown_key = error(R"({"features": ["customer_stats:last_amount"], "entities": {"customer_id": [1], "store_id": ["s"]}})");
  EXPECT_EQ(unknown_key.code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(unknown_key.message(), "'store_id' is not a join key of the requested feature views");

  Status lengths = error(R"({"features": ["customer_stats:last_amount"], "entities": {"customer_id": [1, 2], "store_id": ["s"]}})");
  EXPECT_EQ(lengths.code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(lengths.message(), "entities.store_id has 1 values, other keys have 2");

  Status request_length = error(R"({"features": ["order_request:amount_over_avg"], "entities": {"customer_id": [1, 2]},
                                    "request_data": {"request_amount": [1]}})");
  EXPECT_EQ(request_length.code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(request_length.message(), "on-demand view 'order_request' needs request_data.request_amount with 2 values");

  Status no_request_data = error(R"({"features": ["order_request:amount_over_avg"], "entities": {"customer_id": [1]}})");
  EXPECT_EQ(no_request_data.message(), "on-demand view 'order_request' needs request_data.request_amount with 1 values");

  EXPECT_EQ(error(R"({"entities": {"customer_id": [1]}})").message(), "'features' must be a list of view:feature");
  EXPECT_EQ(error(R"({"features": ["customer_stats:last_amount"], "entities": {}})").code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(error(R"({"features": ["customer_stats:last_amount"], "entities": {"customer_id": []}})").message(), "no entity rows");
  EXPECT_EQ(error("[1, 2]").code(), ErrorCode::kBadRequest);
}

// A reader thread polls every key while runs commit; each run gives every customer the same new
// value, so a read that mixes values would have seen part of a run.
TEST_F(MaterializeTest, ConcurrentReaderSeesOnlyCompleteRuns) {
  constexpr int kCustomers = 300;
  constexpr int kRuns = 6;
  std::vector<std::string> keys;
  for (int c = 1; c <= kCustomers; ++c) keys.push_back(std::to_string(c));
  auto write_run_data = [&](int run) {
    std::string csv = "customer_id,order_ts,created_ts,amount\n";
    char ts[32];
    std::snprintf(ts, sizeof(ts), "2024-01-%02d 00:00:00", run);
    for (int c = 1; c <= kCustomers; ++c) csv += std::to_string(c) + "," + ts + "," + ts + "," + std::to_string(run) + ".0\n";
    WriteFile(dir_.path() / "repo" / "data" / "orders.csv", csv);
  };

  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, torn{0}, errors{0};
  std::set<double> seen;
  std::thread reader([&] {
    while (!stop.load()) {
      std::vector<OnlineValue> out;
      if (!store_->Read("customer_stats", keys, out).ok() || out.size() != keys.size()) {
        ++errors;
        continue;
      }
      std::set<std::string> distinct;
      for (const auto& value : out) {
        if (!value.found) {
          distinct.insert("-");
        } else {
          auto payload = json::parse(value.payload, nullptr, false);
          distinct.insert(payload.is_object() ? payload["last_amount"].dump() : "?");
        }
      }
      if (distinct.size() != 1) ++torn;
      if (distinct.size() == 1 && *distinct.begin() != "-") seen.insert(std::stod(*distinct.begin()));
      ++reads;
    }
  });
  for (int run = 1; run <= kRuns; ++run) {
    write_run_data(run);
    auto report = Run(Jan(1), Jan(31), {"customer_stats"});
    EXPECT_TRUE(report.ok()) << report.status().message();
    if (report.ok()) {
      EXPECT_EQ((*report)[0].rows, kCustomers);
    }
  }
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(reads.load(), 0);
  for (double value : seen) EXPECT_TRUE(value >= 1 && value <= kRuns) << value;
  EXPECT_EQ(Read("customer_stats", {"1"})[0],
            Value(Jan(kRuns), {{"last_amount", double(kRuns)}, {"avg_amount_30d", double(kRuns)}, {"order_weekday", 6}}));
}

}  // namespace
}  // namespace lathe::features

namespace lathe::features {
namespace {

// Two source rows at the same event time without a created timestamp: the offline join and
// materialisation must pick the same one, or training and serving disagree.
TEST(MaterializeTieTest, OfflineAndOnlinePickTheSameRowOnAnExactTie) {
  // BUG: PrepareHistorical breaks the tie by the requested features' values ascending
  // (ORDER BY __created_ts DESC NULLS LAST, "amount" NULLS LAST -> 20.0), Materialize by the
  // payload text (ORDER BY ..., __payload -> '{"amount":100.0}' < '{"amount":20.0}' -> 100.0).
  TempDir dir;
  auto db = testing::OpenTestDb();
  ASSERT_TRUE(db);
  WriteFile(dir.path() / "data.csv",
            "customer_id,ts,amount,other\n"
            "1,2024-01-05 00:00:00,100.0,0\n"
            "1,2024-01-05 00:00:00,20.0,9\n");
  WriteFile(dir.path() / "features.yaml",
            "entities: [{name: customer, join_keys: [customer_id]}]\n"
            "sources: [{name: data, path: data.csv, timestamp_field: ts}]\n"
            "feature_views:\n"
            "  - name: v\n"
            "    entities: [customer]\n"
            "    source: data\n"
            "    features: [{name: amount, expression: amount}, {name: other, expression: other}]\n");
  auto repo = LoadFeatureRepo(dir.path() / "features.yaml");
  FS_ASSERT_OK(repo);
  FS_ASSERT_OK(ValidateAgainstData(*repo, *db));
  auto store = OpenSqliteOnlineStore(dir.path() / "online.db");
  FS_ASSERT_OK(store);
  MaterializeRequest request;
  request.start_micros = Jan(1);
  request.end_micros = Jan(31);
  FS_ASSERT_OK(Materialize(*repo, "h", *db, **store, request));
  std::vector<OnlineValue> out;
  FS_ASSERT_OK((*store)->Read("v", std::vector<std::string>{"1"}, out));
  ASSERT_TRUE(out[0].found);
  auto online = json::parse(out[0].payload);

  FS_ASSERT_OK(db->Exec("CREATE TEMP TABLE e AS SELECT 1 AS customer_id, TIMESTAMP '2024-01-31 00:00:00' AS event_timestamp"));
  for (const auto& names : std::vector<std::vector<std::string>>{{"v:amount"}, {"v:other"}, {"v:amount", "v:other"}}) {
    HistoricalRequest historical;
    historical.entity_table = "e";
    auto refs = ParseFeatureRefs(*repo, names);
    FS_ASSERT_OK(refs);
    historical.features = *refs;
    auto query = PrepareHistorical(*repo, *db, historical);
    FS_ASSERT_OK(query);
    std::vector<std::string> columns;
    Rows rows = QueryRows(*db, *query, &columns);
    ASSERT_EQ(rows.size(), 1u);
    for (size_t c = 2; c < columns.size(); ++c) {
      EXPECT_EQ(rows[0][c], testing::CellText(online[columns[c]].is_number_float() ? Cell(online[columns[c]].get<double>())
                                                                                 : Cell(online[columns[c]].get<int64_t>())))
          << "feature " << columns[c] << " when requesting " << names.size() << " feature(s)";
    }
  }
}

TEST(MaterializeTieTest, EntityTimestampOfAnotherType) {
  TempDir dir;
  auto db = testing::OpenTestDb();
  ASSERT_TRUE(db);
  WriteFile(dir.path() / "data.csv", "customer_id,ts,amount\n1,2024-01-05 00:00:00,100.0\n");
  WriteFile(dir.path() / "features.yaml",
            "entities: [{name: customer, join_keys: [customer_id]}]\n"
            "sources: [{name: data, path: data.csv, timestamp_field: ts}]\n"
            "feature_views: [{name: v, entities: [customer], source: data, features: [{name: amount, expression: amount}]}]\n");
  auto repo = LoadFeatureRepo(dir.path() / "features.yaml");
  FS_ASSERT_OK(repo);
  FS_ASSERT_OK(ValidateAgainstData(*repo, *db));
  WriteFile(dir.path() / "entities.csv", "customer_id,event_timestamp\n1,20240105\n");
  HistoricalRequest historical;
  historical.entities_path = (dir.path() / "entities.csv").string();
  historical.features = {{"v", "amount"}};
  auto query = PrepareHistorical(*repo, *db, historical);
  ASSERT_FALSE(query.ok());
  EXPECT_EQ(query.status().message(), "entity column 'event_timestamp' is BIGINT, not a timestamp");
}

}  // namespace
}  // namespace lathe::features
