// SqliteStore: experiments, runs, batches, lifecycle, purge and audit on a real database file.
#include <cmath>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "core/ids.h"
#include "storage/store.h"

namespace lathe::storage {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("lathe-store-test-" + NewUuidHex());
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    SqliteStoreOptions options;
    options.path = (dir_ / "lathe.db").string();
    options.default_artifact_root = "mlflow-artifacts:";
    auto opened = OpenSqliteStore(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
  }
  int64_t NewExperiment(const std::string& name) {
    auto id = store_->CreateExperiment(context_, name, "", [](int64_t id) { return "loc/" + std::to_string(id); }, {});
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? *id : -1;
  }
  std::string NewRun(int64_t experiment_id) {
    RunInfo info;
    info.run_id = NewUuidHex();
    info.run_name = "run";
    info.experiment_id = experiment_id;
    info.start_time = 1000;
    info.artifact_uri = "loc/" + info.run_id;
    EXPECT_TRUE(store_->CreateRun(context_, info, {{"mlflow.runName", "run"}}).ok());
    return info.run_id;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  WriteContext context_{"alice", "req-1", "test"};
};

TEST_F(SqliteStoreTest, DefaultExperimentExists) {
  auto experiment = store_->GetExperiment(0);
  ASSERT_TRUE(experiment.ok());
  EXPECT_EQ(experiment->name, "Default");
  EXPECT_EQ(experiment->artifact_location, "mlflow-artifacts:/0");
}

TEST_F(SqliteStoreTest, ExperimentNamesAreUnique) {
  int64_t id = NewExperiment("exp");
  EXPECT_EQ(id, 1);
  auto again = store_->CreateExperiment(context_, "exp", "", [](int64_t) { return std::string("x"); }, {});
  EXPECT_EQ(again.status().code(), ErrorCode::kResourceAlreadyExists);
  EXPECT_EQ(store_->GetExperiment(id)->artifact_location, "loc/1");
  EXPECT_EQ(store_->GetExperimentByName("nope").status().code(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqliteStoreTest, LatestMetricIsGreatestStepThenTimestamp) {
  std::string run = NewRun(0);
  LogBatch batch;
  batch.metrics = {{"loss", 3.0, 10, 2}, {"loss", 1.0, 5, 5}, {"loss", 2.0, 1, 5}, {"loss", 9.0, 99, 1},
                   {"nan", std::nan(""), 1, 0}};
  ASSERT_TRUE(store_->LogBatch(context_, run, batch).ok());
  auto loaded = store_->GetRun(run);
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->metrics.size(), 2u);
  const auto& loss = loaded->metrics[0].key == "loss" ? loaded->metrics[0] : loaded->metrics[1];
  const auto& nan = loaded->metrics[0].key == "nan" ? loaded->metrics[0] : loaded->metrics[1];
  EXPECT_EQ(loss.step, 5);
  EXPECT_EQ(loss.timestamp, 5);
  EXPECT_EQ(loss.value, 1.0);
  EXPECT_TRUE(std::isnan(nan.value));
  auto history = store_->GetMetricHistory(run, "loss");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 4u);
}

TEST_F(SqliteStoreTest, ChangingAParamFailsTheWholeBatch) {
  std::string run = NewRun(0);
  LogBatch first;
  first.params = {{"alpha", "1"}};
  ASSERT_TRUE(store_->LogBatch(context_, run, first).ok());
  LogBatch second;
  second.params = {{"alpha", "1"}, {"beta", "2"}};
  ASSERT_TRUE(store_->LogBatch(context_, run, second).ok());  // same value again is allowed
  LogBatch conflicting;
  conflicting.metrics = {{"m", 1.0, 1, 0}};
  conflicting.params = {{"alpha", "3"}, {"gamma", "4"}};
  conflicting.tags = {{"t", "v"}};
  auto status = store_->LogBatch(context_, run, conflicting);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidParameterValue);
  EXPECT_NE(status.message().find("Changing param values is not allowed"), std::string::npos);
  auto loaded = store_->GetRun(run);
  EXPECT_EQ(loaded->params.size(), 2u);
  EXPECT_TRUE(loaded->metrics.empty());
  EXPECT_EQ(loaded->tags.size(), 1u);  // only mlflow.runName
}

TEST_F(SqliteStoreTest, DeletedRunsRejectWritesAndRestore) {
  std::string run = NewRun(0);
  ASSERT_TRUE(store_->SetRunLifecycle(context_, run, true).ok());
  LogBatch batch;
  batch.metrics = {{"m", 1.0, 1, 0}};
  EXPECT_EQ(store_->LogBatch(context_, run, batch).code(), ErrorCode::kInvalidParameterValue);
  ASSERT_TRUE(store_->SetRunLifecycle(context_, run, false).ok());
  EXPECT_TRUE(store_->LogBatch(context_, run, batch).ok());
  EXPECT_EQ(store_->GetRun("missing").status().code(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqliteStoreTest, DeletingAnExperimentDeletesItsRuns) {
  int64_t experiment = NewExperiment("e");
  std::string run = NewRun(experiment);
  ASSERT_TRUE(store_->SetExperimentLifecycle(context_, experiment, true).ok());
  EXPECT_EQ(store_->GetRun(run)->info.lifecycle_stage, "deleted");
  EXPECT_EQ(store_->SetExperimentLifecycle(context_, experiment, true).code(), ErrorCode::kInvalidParameterValue);
  ASSERT_TRUE(store_->SetExperimentLifecycle(context_, experiment, false).ok());
  EXPECT_EQ(store_->GetRun(run)->info.lifecycle_stage, "active");
  EXPECT_FALSE(store_->SetExperimentLifecycle(context_, 0, true).ok());
}

TEST_F(SqliteStoreTest, PurgeRemovesDeletedRunsButKeepsReferencedOnes) {
  int64_t experiment = NewExperiment("e");
  std::string purged = NewRun(experiment);
  std::string referenced = NewRun(experiment);
  std::string alive = NewRun(0);
  ASSERT_TRUE(store_->CreateRegisteredModel(context_, "m", "", {}).ok());
  ModelVersionCreate version;
  version.name = "m";
  version.source = "loc/" + referenced + "/model";
  version.run_id = referenced;
  ASSERT_TRUE(store_->CreateModelVersion(context_, version).ok());
  ASSERT_TRUE(store_->SetExperimentLifecycle(context_, experiment, true).ok());

  auto dry = store_->PurgeDeleted(context_, INT64_MAX, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->purged_run_ids, std::vector<std::string>{purged});
  EXPECT_TRUE(store_->GetRun(purged).ok());

  auto too_recent = store_->PurgeDeleted(context_, 0, false);
  ASSERT_TRUE(too_recent.ok());
  EXPECT_TRUE(too_recent->purged_run_ids.empty());

  auto report = store_->PurgeDeleted(context_, INT64_MAX, false);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->purged_run_ids, std::vector<std::string>{purged});
  EXPECT_EQ(report->kept_run_ids, std::vector<std::string>{referenced});
  EXPECT_EQ(report->artifact_uris_to_delete, std::vector<std::string>{"loc/" + purged});
  EXPECT_TRUE(report->purged_experiment_ids.empty());  // a kept run still belongs to it
  EXPECT_EQ(store_->GetRun(purged).status().code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_TRUE(store_->GetRun(referenced).ok());
  EXPECT_TRUE(store_->GetRun(alive).ok());
}

TEST_F(SqliteStoreTest, EveryWriteIsAudited) {
  int64_t experiment = NewExperiment("audited");
  std::string run = NewRun(experiment);
  AuditQuery query;
  query.actor = "alice";
  auto entries = store_->QueryAudit(query);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].object_id, run);  // newest first
  EXPECT_EQ((*entries)[0].request_id, "req-1");
  EXPECT_EQ((*entries)[1].object_id, std::to_string(experiment));
}

TEST_F(SqliteStoreTest, ConcurrentWritersShareCommitsAndLoseNothing) {
  std::string run = NewRun(0);
  constexpr int kThreads = 16;
  constexpr int kBatches = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        LogBatch batch;
        batch.metrics = {{"m" + std::to_string(t), double(b), b, b}};
        if (!store_->LogBatch(context_, run, batch).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
  Reopen();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(store_->GetMetricHistory(run, "m" + std::to_string(t))->size(), size_t(kBatches));
  }
}

}  // namespace
}  // namespace lathe::storage
