// Monitoring's part of SqliteStore: results as time series, leases between replicas, alerts with
// their deliveries, versioned reference data.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/ids.h"
#include "storage/store.h"

namespace lathe::storage {
namespace {

class MonitorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("lathe-monitor-store-test-" + NewUuidHex());
    std::filesystem::create_directories(dir_);
    store_ = Open();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<Store> Open() {
    SqliteStoreOptions options;
    options.path = (dir_ / "lathe.db").string();
    auto opened = OpenSqliteStore(options);
    EXPECT_TRUE(opened.ok()) << opened.status().message();
    return opened.ok() ? std::move(opened).value() : nullptr;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  WriteContext context_{"bob", "req-1", "monitor/test"};
};

TEST_F(MonitorStoreTest, ResultsAreATimeSeriesAndAReevaluationReplacesItsWindow) {
  for (int64_t hour = 0; hour < 5; ++hour) {
    ASSERT_TRUE(store_->SaveMonitorResult({"churn", hour * 100, hour * 100 + 100, 1000 + hour, "ok",
                                           nlohmann::json{{"drift_share", hour * 0.1}}.dump(), "{}"})
                    .ok());
  }
  ASSERT_TRUE(store_->SaveMonitorResult({"churn", 200, 300, 2000, "no_data", "{}", "{\"again\":true}"}).ok());
  ASSERT_TRUE(store_->SaveMonitorResult({"other", 200, 300, 2000, "ok", "{}", "{}"}).ok());

  auto all = store_->ListMonitorResults("churn", 0, 1000, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].window_start, 0);
  EXPECT_EQ((*all)[4].window_start, 400);
  EXPECT_EQ((*all)[2].status, "no_data");
  EXPECT_EQ((*all)[2].result, "{\"again\":true}");

  auto newest_two = store_->ListMonitorResults("churn", 0, 1000, 2);
  ASSERT_EQ(newest_two->size(), 2u);
  EXPECT_EQ((*newest_two)[0].window_start, 300);  // oldest first among the newest
  EXPECT_EQ((*newest_two)[1].window_start, 400);

  auto range = store_->ListMonitorResults("churn", 100, 300, 100);
  ASSERT_EQ(range->size(), 2u);
  EXPECT_EQ((*range)[0].window_start, 100);
}

TEST_F(MonitorStoreTest, OneHolderAtATimeUntilTheLeaseExpires) {
  EXPECT_TRUE(*store_->AcquireMonitorLease("churn", "replica-a", 1000, 500));
  EXPECT_FALSE(*store_->AcquireMonitorLease("churn", "replica-b", 1200, 500));
  EXPECT_TRUE(*store_->AcquireMonitorLease("churn", "replica-a", 1300, 500));   // renewal, until 1800
  EXPECT_FALSE(*store_->AcquireMonitorLease("churn", "replica-b", 1700, 500));
  EXPECT_TRUE(*store_->AcquireMonitorLease("other", "replica-b", 1700, 500));   // leases are per monitor
  EXPECT_TRUE(*store_->AcquireMonitorLease("churn", "replica-b", 1800, 500));   // expired
  EXPECT_FALSE(*store_->AcquireMonitorLease("churn", "replica-a", 1900, 500));
  ASSERT_TRUE(store_->ReleaseMonitorLease("churn", "replica-a").ok());          // not a's: no effect
  EXPECT_FALSE(*store_->AcquireMonitorLease("churn", "replica-a", 1900, 500));
  ASSERT_TRUE(store_->ReleaseMonitorLease("churn", "replica-b").ok());
  EXPECT_TRUE(*store_->AcquireMonitorLease("churn", "replica-a", 1900, 500));
}

TEST_F(MonitorStoreTest, LeasesHoldAcrossStoreInstances) {
  auto second = Open();
  ASSERT_NE(second, nullptr);
  EXPECT_TRUE(*store_->AcquireMonitorLease("churn", "replica-a", 1000, 500));
  EXPECT_FALSE(*second->AcquireMonitorLease("churn", "replica-b", 1100, 500));
}

TEST_F(MonitorStoreTest, AlertsKeepTheirDeliveriesAndAreListedNewestFirst) {
  MonitorAlert first{"a1", "churn", "drift", 100, 0, 100, "drift_share", 0.6, 0.3, R"(["webhook:oncall"])", ""};
  MonitorAlert second{"a2", "churn", "f1", 200, 100, 200, "f1_macro", 0.7, 0.8, R"(["rollback"])", ""};
  ASSERT_TRUE(store_->RecordMonitorAlert(context_, first).ok());
  ASSERT_TRUE(store_->RecordMonitorAlert(context_, second).ok());
  ASSERT_TRUE(store_->AddMonitorAlertDelivery("a1", R"({"action":"webhook:oncall","ok":false,"attempts":3})").ok());
  ASSERT_TRUE(store_->AddMonitorAlertDelivery("a1", R"({"action":"webhook:oncall","ok":true,"attempts":1})").ok());
  EXPECT_EQ(store_->AddMonitorAlertDelivery("missing", "{}").code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_FALSE(store_->RecordMonitorAlert(context_, first).ok());  // ids are unique

  auto alerts = store_->ListMonitorAlerts("churn", 10);
  ASSERT_TRUE(alerts.ok());
  ASSERT_EQ(alerts->size(), 2u);
  EXPECT_EQ((*alerts)[0].id, "a2");
  auto deliveries = nlohmann::json::parse((*alerts)[1].deliveries);
  ASSERT_EQ(deliveries.size(), 2u);
  EXPECT_EQ(deliveries[0]["attempts"], 3);
  EXPECT_EQ(deliveries[1]["ok"], true);
  EXPECT_DOUBLE_EQ((*alerts)[1].value, 0.6);
  EXPECT_EQ(store_->ListMonitorAlerts("other", 10)->size(), 0u);
  EXPECT_EQ(store_->ListMonitorAlerts("", 1)->size(), 1u);
  auto audit = store_->QueryAudit(AuditQuery{});
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(std::any_of(audit->begin(), audit->end(), [](const AuditEntry& e) { return e.object_id == "a1"; }));
}

TEST_F(MonitorStoreTest, ReferencesAreVersionedPerDeployment) {
  EXPECT_FALSE(store_->GetMonitorReference("churn")->has_value());
  MonitorReference reference{"churn", 0, "/data/ref-1.parquet", "train.csv", 1000, R"({"age":"numerical"})", 0, ""};
  auto first = store_->SaveMonitorReference(context_, reference);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->version, 1);
  EXPECT_EQ(first->actor, "bob");
  reference.path = "/data/ref-2.parquet";
  EXPECT_EQ(store_->SaveMonitorReference(context_, reference)->version, 2);
  auto latest = store_->GetMonitorReference("churn");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->version, 2);
  EXPECT_EQ((*latest)->path, "/data/ref-2.parquet");
  EXPECT_EQ((*latest)->rows, 1000);
}

}  // namespace
}  // namespace lathe::storage
