// Model URIs: every form users write, and precise refusals of what is not one.
#include "serving/model_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lathe::serving {
namespace {

using ::testing::HasSubstr;

TEST(ModelUriTest, ParsesEveryForm) {
  auto alias = ParseModelUri("models:/churn@champion");
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ(alias->kind, ModelUri::Kind::kRegistryAlias);
  EXPECT_EQ(alias->name, "churn");
  EXPECT_EQ(alias->alias, "champion");

  auto version = ParseModelUri("models:/team/churn/12");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->kind, ModelUri::Kind::kRegistryVersion);
  EXPECT_EQ(version->name, "team/churn");
  EXPECT_EQ(version->version, 12);

  auto run = ParseModelUri("runs:/0123abcd/models/xgb/");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->kind, ModelUri::Kind::kRun);
  EXPECT_EQ(run->run_id, "0123abcd");
  EXPECT_EQ(run->path, "models/xgb");

  auto path = ParseModelUri("file:///srv/models/churn");
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path->kind, ModelUri::Kind::kPath);
  EXPECT_EQ(path->path, "/srv/models/churn");
  EXPECT_EQ(ParseModelUri("./model")->path, "./model");
}

TEST(ModelUriTest, RefusesWhatIsNotAModelUri) {
  EXPECT_THAT(ParseModelUri("models:/churn/Production").status().message(), HasSubstr("not a positive integer"));
  EXPECT_THAT(ParseModelUri("models:/churn/0").status().message(), HasSubstr("not a positive integer"));
  EXPECT_THAT(ParseModelUri("models:/@champion").status().message(), HasSubstr("models:/<name>@<alias>"));
  EXPECT_THAT(ParseModelUri("models:/churn").status().message(), HasSubstr("models:/<name>/<version>"));
  EXPECT_THAT(ParseModelUri("runs:/abc").status().message(), HasSubstr("runs:/<run id>/<path>"));
  EXPECT_THAT(ParseModelUri("s3://bucket/model").status().message(), HasSubstr("expected a directory"));
  EXPECT_FALSE(ParseModelUri("").ok());
}

TEST(ModelUriTest, ThePathSourceRefusesRegistryUrisWithAHint) {
  auto source = MakePathModelSource();
  auto resolved = source->Resolve(*ParseModelUri("models:/churn@champion"));
  EXPECT_THAT(resolved.status().message(), HasSubstr("LATHE_TRACKING_URI"));
  auto missing = source->Resolve(*ParseModelUri("/nonexistent/model"));
  EXPECT_EQ(missing.status().code(), ErrorCode::kResourceDoesNotExist);
}

}  // namespace
}  // namespace lathe::serving
