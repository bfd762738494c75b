// MLflow's name and size rules.
#include "tracking/validation.h"

#include <gtest/gtest.h>

namespace lathe::tracking {
namespace {

TEST(ValidationTest, KeyNames) {
  EXPECT_TRUE(ValidateKeyName("metric", "train/loss").ok());
  EXPECT_TRUE(ValidateKeyName("param", "learning rate-1.0_x").ok());
  for (const char* bad : {"", "a//b", "../x", "/abs", "x/", ".", "a/./b", "semi;colon", "quote'"}) {
    auto status = ValidateKeyName("metric", bad);
    EXPECT_EQ(status.code(), ErrorCode::kInvalidParameterValue) << bad;
    EXPECT_NE(status.message().find("Invalid metric name"), std::string::npos) << status.message();
  }
  EXPECT_FALSE(ValidateKeyName("tag", std::string(251, 'k')).ok());
  EXPECT_TRUE(ValidateKeyName("tag", std::string(250, 'k')).ok());
}

TEST(ValidationTest, LengthAndBatchLimits) {
  EXPECT_TRUE(ValidateLength("Param value", std::string(6000, 'v'), kMaxParamValueLength).ok());
  auto too_long = ValidateLength("Param value", std::string(6001, 'v'), kMaxParamValueLength);
  EXPECT_NE(too_long.message().find("had length 6001, which exceeded length limit of 6000"), std::string::npos);
  EXPECT_TRUE(ValidateBatchLimit("metrics", 1000, kMaxMetricsPerBatch).ok());
  EXPECT_FALSE(ValidateBatchLimit("metrics", 1001, kMaxMetricsPerBatch).ok());
  EXPECT_FALSE(ValidateExperimentName("").ok());
  EXPECT_FALSE(ValidateExperimentName(std::string(501, 'e')).ok());
}

}  // namespace
}  // namespace lathe::tracking
