// The registry part of SqliteStore: versions, stages, aliases and their history, renames, deletes.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

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

  // Millisecond timestamps: wait long enough for the next write to get a later one.
  static void NextMillisecond() { std::this_thread::sleep_for(std::chrono::milliseconds(3)); }

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
  ASSERT_TRUE(store_->DeleteModelVersion(context_, "churn", 2).ok());    // removes the alias
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

TEST_F(RegistryStoreTest, ModelErrorsUseMlflowsCodesAndMessages) {
  auto duplicate = store_->CreateRegisteredModel(context_, "churn", "", {});
  EXPECT_EQ(duplicate.status().code(), ErrorCode::kResourceAlreadyExists);
  EXPECT_EQ(duplicate.status().message(), "Registered Model (name=churn) already exists.");
  auto missing = store_->GetRegisteredModel("nope");
  EXPECT_EQ(missing.status().code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(missing.status().message(), "Registered Model with name=nope not found");
  auto missing_version = store_->GetModelVersion("churn", 7);
  EXPECT_EQ(missing_version.status().code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(missing_version.status().message(), "Model Version (name=churn, version=7) not found");
  EXPECT_EQ(store_->UpdateRegisteredModel(context_, "nope", "d").status().code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(store_->DeleteRegisteredModel(context_, "nope").code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(store_->RenameRegisteredModel(context_, "nope", "x").status().code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(store_->SetModelVersionTag(context_, "churn", 7, {"k", "v"}).code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(store_->GetLatestVersions("nope", {}).status().code(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(RegistryStoreTest, CreateLoadsTheWholeModel) {
  auto created = store_->CreateRegisteredModel(context_, "fraud", "finds fraud", {{"b", "1"}, {"a", "2"}, {"b", "3"}});
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_EQ(created->description, "finds fraud");
  ASSERT_EQ(created->tags.size(), 2u);  // the last value of a repeated key wins, as in MLflow
  EXPECT_EQ(created->tags[0].key, "a");
  EXPECT_EQ(created->tags[1].value, "3");
  EXPECT_GT(created->creation_time, 0);
  EXPECT_EQ(created->creation_time, created->last_updated_time);
  EXPECT_TRUE(created->latest_versions.empty());
  EXPECT_TRUE(created->aliases.empty());
}

TEST_F(RegistryStoreTest, TagsOverwriteAndDeletingAMissingTagSucceeds) {
  ASSERT_TRUE(store_->SetRegisteredModelTag(context_, "churn", {"task", "regression"}).ok());
  auto model = store_->GetRegisteredModel("churn");
  ASSERT_EQ(model->tags.size(), 1u);
  EXPECT_EQ(model->tags[0].value, "regression");
  ASSERT_TRUE(store_->DeleteRegisteredModelTag(context_, "churn", "task").ok());
  EXPECT_TRUE(store_->GetRegisteredModel("churn")->tags.empty());
  EXPECT_TRUE(store_->DeleteRegisteredModelTag(context_, "churn", "task").ok());
  EXPECT_EQ(store_->DeleteRegisteredModelTag(context_, "nope", "task").code(), ErrorCode::kResourceDoesNotExist);

  ASSERT_TRUE(store_->SetModelVersionTag(context_, "churn", 2, {"ok", "no"}).ok());
  ASSERT_TRUE(store_->SetModelVersionTag(context_, "churn", 2, {"ok", "yes"}).ok());
  auto version = store_->GetModelVersion("churn", 2);
  ASSERT_EQ(version->tags.size(), 1u);
  EXPECT_EQ(version->tags[0].value, "yes");
  ASSERT_TRUE(store_->DeleteModelVersionTag(context_, "churn", 2, "ok").ok());
  EXPECT_TRUE(store_->GetModelVersion("churn", 2)->tags.empty());
  EXPECT_TRUE(store_->DeleteModelVersionTag(context_, "churn", 2, "ok").ok());
  EXPECT_EQ(store_->DeleteModelVersionTag(context_, "churn", 9, "ok").code(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(RegistryStoreTest, LastUpdatedTimeMovesLikeMlflows) {
  int64_t model_time = store_->GetRegisteredModel("churn")->last_updated_time;
  int64_t version_time = store_->GetModelVersion("churn", 1)->last_updated_time;
  NextMillisecond();
  // Neither tags nor aliases count as updates in MLflow.
  ASSERT_TRUE(store_->SetRegisteredModelTag(context_, "churn", {"k", "v"}).ok());
  ASSERT_TRUE(store_->SetModelVersionTag(context_, "churn", 1, {"k", "v"}).ok());
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "champion", 1).ok());
  EXPECT_EQ(store_->GetRegisteredModel("churn")->last_updated_time, model_time);
  EXPECT_EQ(store_->GetModelVersion("churn", 1)->last_updated_time, version_time);
  // A version's description is the version's update only.
  auto updated = store_->UpdateModelVersion(context_, "churn", 1, "first");
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->description, "first");
  EXPECT_GT(updated->last_updated_time, version_time);
  EXPECT_EQ(store_->GetRegisteredModel("churn")->last_updated_time, model_time);
  // A stage change and a new version update the model too.
  NextMillisecond();
  auto moved = store_->TransitionModelVersionStage(context_, "churn", 1, "Staging", false);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(store_->GetRegisteredModel("churn")->last_updated_time, moved->last_updated_time);
  EXPECT_GT(moved->last_updated_time, model_time);
  NextMillisecond();
  auto created = store_->CreateModelVersion(context_, ModelVersionCreate{"churn", "runs:/r/model", "", "", "", "", {}});
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(store_->GetRegisteredModel("churn")->last_updated_time, created->creation_time);
  // A rename touches the model and every version of it.
  NextMillisecond();
  auto renamed = store_->RenameRegisteredModel(context_, "churn", "churn2");
  ASSERT_TRUE(renamed.ok());
  EXPECT_GT(renamed->last_updated_time, created->creation_time);
  EXPECT_EQ(store_->GetModelVersion("churn2", 2)->last_updated_time, renamed->last_updated_time);
  // Deleting a version updates the model.
  NextMillisecond();
  ASSERT_TRUE(store_->DeleteModelVersion(context_, "churn2", 2).ok());
  EXPECT_GT(store_->GetRegisteredModel("churn2")->last_updated_time, renamed->last_updated_time);
  auto description = store_->UpdateRegisteredModel(context_, "churn2", "about churn");
  ASSERT_TRUE(description.ok());
  EXPECT_EQ(description->description, "about churn");
}

TEST_F(RegistryStoreTest, LatestVersionsFollowMlflowsStageOrder) {
  // v1 None, v2 Production, v3 None: MLflow lists None (met first, at v1) with v3, then Production.
  ASSERT_TRUE(store_->TransitionModelVersionStage(context_, "churn", 2, "PRODUCTION", false).ok());
  auto latest = store_->GetRegisteredModel("churn")->latest_versions;
  ASSERT_EQ(latest.size(), 2u);
  EXPECT_EQ(latest[0].current_stage, "None");
  EXPECT_EQ(latest[0].version, 3);
  EXPECT_EQ(latest[1].current_stage, "Production");
  EXPECT_EQ(latest[1].version, 2);
  auto filtered = store_->GetLatestVersions("churn", {"production", "staging"});
  ASSERT_TRUE(filtered.ok());
  ASSERT_EQ(filtered->size(), 1u);
  EXPECT_EQ((*filtered)[0].version, 2);
  auto bad = store_->GetLatestVersions("churn", {"Live"});
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(bad.status().message(),
            "Invalid Model Version stage: Live. Value must be one of None, Staging, Production, Archived.");
}

TEST_F(RegistryStoreTest, ArchivingNeedsAnActiveStage) {
  ASSERT_TRUE(store_->TransitionModelVersionStage(context_, "churn", 1, "Staging", false).ok());
  ASSERT_TRUE(store_->TransitionModelVersionStage(context_, "churn", 2, "Staging", false).ok());
  auto archived = store_->TransitionModelVersionStage(context_, "churn", 3, "archived", true);
  EXPECT_EQ(archived.status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_NE(archived.status().message().find("'archived' is not an Active stage"), std::string::npos);
  auto staged = store_->TransitionModelVersionStage(context_, "churn", 3, "staging", true);
  ASSERT_TRUE(staged.ok());
  EXPECT_EQ(staged->current_stage, "Staging");
  EXPECT_EQ(store_->GetModelVersion("churn", 1)->current_stage, "Archived");
  EXPECT_EQ(store_->GetModelVersion("churn", 2)->current_stage, "Archived");
  EXPECT_EQ(store_->TransitionModelVersionStage(context_, "churn", 9, "Staging", false).status().code(),
            ErrorCode::kResourceDoesNotExist);
}

TEST_F(RegistryStoreTest, AliasesShowOnTheModelAndTheVersion) {
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "champion", 2).ok());
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "backup", 2).ok());
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "canary", 3).ok());
  auto model = store_->GetRegisteredModel("churn");
  ASSERT_EQ(model->aliases.size(), 3u);
  EXPECT_EQ(model->aliases[0], (std::pair<std::string, int64_t>{"backup", 2}));
  EXPECT_EQ(store_->GetModelVersion("churn", 2)->aliases, (std::vector<std::string>{"backup", "champion"}));
  auto by_alias = store_->GetModelVersionByAlias("churn", "canary");
  ASSERT_TRUE(by_alias.ok());
  EXPECT_EQ(by_alias->version, 3);
  EXPECT_EQ(by_alias->aliases, std::vector<std::string>{"canary"});
  EXPECT_EQ(store_->SetAlias(context_, "nope", "a", 1).code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(store_->GetModelVersionByAlias("nope", "canary").status().code(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(RegistryStoreTest, DeletingAnAliasIsRecordedUnlessThereWasNone) {
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "champion", 1).ok());
  ASSERT_TRUE(store_->DeleteAlias(context_, "churn", "champion").ok());
  ASSERT_TRUE(store_->DeleteAlias(context_, "churn", "champion").ok());  // already gone: no error, no move
  EXPECT_EQ(store_->DeleteAlias(context_, "nope", "champion").code(), ErrorCode::kResourceDoesNotExist);
  auto history = store_->GetAliasHistory("churn", 0, 100);
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[1].from_version, 1);
  EXPECT_EQ((*history)[1].to_version, std::nullopt);
  EXPECT_GE((*history)[1].time, (*history)[0].time);
  EXPECT_TRUE(store_->GetRegisteredModel("churn")->aliases.empty());
}

TEST_F(RegistryStoreTest, AliasHistoryOutlivesARenameAndIsPaged) {
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "champion", 1).ok());
  ASSERT_TRUE(store_->RenameRegisteredModel(context_, "churn", "churn2").ok());
  ASSERT_TRUE(store_->SetAlias(context_, "churn2", "champion", 2).ok());
  ASSERT_TRUE(store_->SetAlias(context_, "churn2", "canary", 3).ok());
  auto old_name = store_->GetAliasHistory("churn", 0, 100);
  ASSERT_EQ(old_name->size(), 1u);  // written under the name the model had then
  EXPECT_EQ((*old_name)[0].to_version, 1);
  auto new_name = store_->GetAliasHistory("churn2", 0, 100);
  ASSERT_EQ(new_name->size(), 2u);
  EXPECT_EQ((*new_name)[0].from_version, 1);  // the alias itself moved along with the rename
  auto first_page = store_->GetAliasHistory("", 0, 2);
  ASSERT_EQ(first_page->size(), 2u);
  auto second_page = store_->GetAliasHistory("", first_page->back().id, 2);
  ASSERT_EQ(second_page->size(), 1u);
  EXPECT_EQ((*second_page)[0].alias, "canary");
}

TEST_F(RegistryStoreTest, DeletingAVersionRemovesItsAliases) {
  ASSERT_TRUE(store_->SetModelVersionTag(context_, "churn", 2, {"k", "v"}).ok());  // the delete cascades to it
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "a", 2).ok());
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "b", 2).ok());
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "c", 3).ok());
  ASSERT_TRUE(store_->DeleteModelVersion(context_, "churn", 2).ok());
  EXPECT_EQ(store_->DeleteModelVersion(context_, "churn", 2).code(), ErrorCode::kResourceDoesNotExist);
  auto model = store_->GetRegisteredModel("churn");
  ASSERT_EQ(model->aliases.size(), 1u);
  EXPECT_EQ(model->aliases[0].first, "c");
  auto history = store_->GetAliasHistory("churn", 0, 100);
  ASSERT_EQ(history->size(), 5u);
  for (size_t i = 3; i < 5; ++i) {
    EXPECT_EQ((*history)[i].from_version, 2);
    EXPECT_EQ((*history)[i].to_version, std::nullopt);
  }
  ModelVersionSearch search;
  search.max_results = 10;
  auto versions = store_->SearchModelVersions(search);
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->items.size(), 2u);
}

TEST_F(RegistryStoreTest, ModelsSourcesResolveToTheOriginalsFiles) {
  ModelVersionCreate original{"churn", "s3://bucket/model", "", "", "", "", {}};
  auto made = store_->CreateModelVersion(context_, original);
  ASSERT_TRUE(made.ok());
  ASSERT_TRUE(store_->SetAlias(context_, "churn", "champion", made->version).ok());
  ASSERT_TRUE(store_->CreateRegisteredModel(context_, "copy", "", {}).ok());
  ModelVersionCreate by_version{"copy", "models:/churn/4", "", "", "", "", {}};
  auto copied = store_->CreateModelVersion(context_, by_version);
  ASSERT_TRUE(copied.ok()) << copied.status().message();
  EXPECT_EQ(copied->source, "models:/churn/4");
  EXPECT_EQ(copied->storage_location, "s3://bucket/model");
  ModelVersionCreate by_alias{"copy", "models:/churn@champion", "", "", "", "", {}};
  EXPECT_EQ(store_->CreateModelVersion(context_, by_alias)->storage_location, "s3://bucket/model");
  ModelVersionCreate missing{"copy", "models:/churn/99", "", "", "", "", {}};
  EXPECT_EQ(store_->CreateModelVersion(context_, missing).status().code(), ErrorCode::kResourceDoesNotExist);
  ModelVersionCreate malformed{"copy", "models:/churn", "", "", "", "", {}};
  EXPECT_EQ(store_->CreateModelVersion(context_, malformed).status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_->GetRegisteredModel("copy")->latest_versions.size(), 1u);  // the failures created nothing
}

TEST_F(RegistryStoreTest, CreateVersionKeepsEveryField) {
  ModelVersionCreate create{"churn", "runs:/abc/model", "abc", "http://link", "about v4", "", {{"k", "v"}}};
  auto created = store_->CreateModelVersion(context_, create);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->version, 4);
  EXPECT_EQ(created->run_id, "abc");
  EXPECT_EQ(created->run_link, "http://link");
  EXPECT_EQ(created->description, "about v4");
  EXPECT_EQ(created->current_stage, "None");
  EXPECT_EQ(created->status, "READY");
  EXPECT_EQ(created->storage_location, "runs:/abc/model");
  ASSERT_EQ(created->tags.size(), 1u);
  EXPECT_EQ(created->tags[0].key, "k");
}

TEST_F(RegistryStoreTest, SearchesPageAndLoadEverything) {
  ASSERT_TRUE(store_->CreateRegisteredModel(context_, "a-model", "", {}).ok());
  ASSERT_TRUE(store_->CreateRegisteredModel(context_, "b-model", "", {}).ok());
  RegisteredModelSearch models;
  models.max_results = 2;
  auto first = store_->SearchRegisteredModels(models);
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_EQ(first->items.size(), 2u);
  EXPECT_TRUE(first->has_more);
  models.offset = 2;
  auto second = store_->SearchRegisteredModels(models);
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_FALSE(second->has_more);
  EXPECT_EQ(second->items[0].name, "churn");
  EXPECT_EQ(second->items[0].tags.size(), 1u);
  EXPECT_EQ(second->items[0].latest_versions.size(), 1u);

  ASSERT_TRUE(store_->SetAlias(context_, "churn", "champion", 1).ok());
  ModelVersionSearch versions;
  versions.max_results = 3;
  auto all = store_->SearchModelVersions(versions);
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->items.size(), 3u);
  EXPECT_FALSE(all->has_more);
  auto champion =
      std::find_if(all->items.begin(), all->items.end(), [](const ModelVersion& v) { return v.version == 1; });
  ASSERT_NE(champion, all->items.end());
  EXPECT_EQ(champion->aliases, std::vector<std::string>{"champion"});
  versions.max_results = 2;
  EXPECT_TRUE(store_->SearchModelVersions(versions)->has_more);
}

TEST_F(RegistryStoreTest, EveryWriteIsAudited) {
  WriteContext carol{"carol", "req-42", "registered-models/set-tag"};
  ASSERT_TRUE(store_->SetRegisteredModelTag(carol, "churn", {"k", "v"}).ok());
  carol.action = "model-versions/transition-stage";
  ASSERT_TRUE(store_->TransitionModelVersionStage(carol, "churn", 2, "Staging", false).ok());
  carol.action = "registered-models/alias";
  ASSERT_TRUE(store_->SetAlias(carol, "churn", "champion", 2).ok());
  carol.action = "failing";
  EXPECT_FALSE(store_->SetAlias(carol, "churn", "champion", 42).ok());  // a failed write leaves no audit row
  AuditQuery query;
  query.actor = "carol";
  auto entries = store_->QueryAudit(query);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 3u);  // newest first
  EXPECT_EQ((*entries)[0].action, "registered-models/alias");
  EXPECT_EQ((*entries)[0].object_id, "churn@champion");
  EXPECT_EQ((*entries)[1].object_type, "model_version");
  EXPECT_EQ((*entries)[1].object_id, "churn/2");
  EXPECT_EQ((*entries)[2].object_type, "registered_model");
  EXPECT_EQ((*entries)[2].request_id, "req-42");
  query.actor = "bob";
  query.object_id = "churn/3";
  EXPECT_EQ(store_->QueryAudit(query)->size(), 1u);  // the version's creation in SetUp
}

}  // namespace
}  // namespace lathe::storage
