// The registry part of SqliteStore: versions, stages, aliases and their history, renames, deletes.
#include <filesystem>

#include <gtest/gtest.h>

#include "core/ids.h"
#include "storage/store.h"

namespace lathe::storage {
namespace {

class RegistryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("lathe-registry-test-" + NewUuidHex());
    std::filesystem::create_directories(dir_);
    SqliteStoreOptions options;
    options.path = (dir_ / "lathe.db").string();
    auto opened = OpenSqliteStore(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
    ASSERT_TRUE(store_->CreateRegisteredModel(context_, "churn", "", {{"task", "cls"}}).ok());
    for (int i = 0; i < 3; ++i) {
      ModelVersionCreate version;
      version.name = "churn";
      version.source = "runs:/r/model";
      ASSERT_TRUE(store_->CreateModelVersion(context_, version).ok());
    }
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  WriteContext context_{"bob", "req-9", "test"};
};

TEST_F(RegistryStoreTest, VersionsAreNumberedAndNeverReused) {
  EXPECT_EQ(store_->GetModelVersion("churn", 3)->version, 3);
  ASSERT_TRUE(store_->DeleteModelVersion(context_, "churn", 3).ok());
  ModelVersionCreate version{"churn", "runs:/r/model", "", "", "", "", {}};
  EXPECT_EQ(store_->CreateModelVersion(context_, version)->version, 4);
  EXPECT_EQ(store_->GetModelVersion("churn", 3).status().code(), ErrorCode::kResourceDoesNotExist);
  version.name = "missing";
  EXPECT_EQ(store_->CreateModelVersion(context_, version).status().code(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(RegistryStoreTest, EveryAliasMoveIsRecorded) {
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "champion", 1).ok());
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "champion", 2).ok());
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "champion", 2).ok());  // not a move
  ASSERT_TRUE(store_->DeleteModelVersion(context_, "churn", 2).ok());     // removes the alias
  EXPECT_EQ(store_->SetAlias(context_, "churn", "x", 9).code(), ErrorCode::kResourceDoesNotExist);
  auto history = store_->GetAliasHistory("churn", 0, 100);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0].from_version, std::nullopt);
  EXPECT_EQ((*history)[0].to_version, 1);
  EXPECT_EQ((*history)[1].from_version, 1);
  EXPECT_EQ((*history)[1].to_version, 2);
  EXPECT_EQ((*history)[2].from_version, 2);
  EXPECT_EQ((*history)[2].to_version, std::nullopt);
  EXPECT_EQ((*history)[1].actor, "bob");
  EXPECT_EQ((*history)[1].request_id, "req-9");
  EXPECT_EQ(store_->GetAliasHistory("", (*history)[1].id, 100)->size(), 1u);  // polling from a known id
  EXPECT_EQ(store_->GetModelVersionByAlias("churn", "champion").status().code(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(RegistryStoreTest, StagesAndLatestVersions) {
  ASSERT_TRUE(store_->TransitionModelVersionStage(context_, "churn", 1, "production", false).ok());
  ASSERT_TRUE(store_->TransitionModelVersionStage(context_, "churn", 2, "Production", true).ok());
  EXPECT_EQ(store_->GetModelVersion("churn", 1)->current_stage, "Archived");
  auto production = store_->GetLatestVersions("churn", {"Production"});
  ASSERT_TRUE(production.ok());
  ASSERT_EQ(production->size(), 1u);
  EXPECT_EQ((*production)[0].version, 2);
  auto all = store_->GetLatestVersions("churn", {});
  EXPECT_EQ(all->size(), 3u);  // Archived v1, Production v2, None v3
  EXPECT_EQ(store_->TransitionModelVersionStage(context_, "churn", 1, "Prod", false).status().code(),
            ErrorCode::kInvalidParameterValue);
}

TEST_F(RegistryStoreTest, RenameCarriesEverythingAlong) {
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "champion", 1).ok());
  ASSERT_TRUE(store_->SetModelVersionTag(context_, "churn", 1, {"ok", "yes"}).ok());
  ASSERT_TRUE(store_->CreateRegisteredModel(context_, "other", "", {}).ok());
  EXPECT_EQ(store_->RenameRegisteredModel(context_, "churn", "other").status().code(),
            ErrorCode::kResourceAlreadyExists);
  auto renamed = store_->RenameRegisteredModel(context_, "churn", "churn-v2");
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(renamed->tags.size(), 1u);
  EXPECT_EQ(renamed->aliases.size(), 1u);
  auto version = store_->GetModelVersion("churn-v2", 1);
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->tags.size(), 1u);
  EXPECT_EQ(version->aliases, std::vector<std::string>{"champion"});
  EXPECT_EQ(store_->GetRegisteredModel("churn").status().code(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(RegistryStoreTest, DeletingAModelRemovesItAllAndRecordsAliasRemoval) {
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "champion", 3).ok());
  ASSERT_TRUE(store_->DeleteRegisteredModel(context_, "churn").ok());
  EXPECT_EQ(store_->GetModelVersion("churn", 1).status().code(), ErrorCode::kResourceDoesNotExist);
  auto history = store_->GetAliasHistory("churn", 0, 100);
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ(history->back().to_version, std::nullopt);
  RegisteredModelSearch search;
  EXPECT_TRUE(store_->SearchRegisteredModels(search)->items.empty());
  AuditQuery audit;
  audit.action = "test";
  audit.object_id = "churn";
  EXPECT_FALSE(store_->QueryAudit(audit)->empty());
}

}  // namespace
}  // namespace lathe::storage
