// Building `lathe` model packages: the files and MLmodel written, spec errors, and an XGBoost estimator.
#include "models/package_builder.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/ids.h"
#include "models/mlmodel.h"
#include "models/model.h"

namespace lathe::models {
namespace {

using ::nlohmann::json;
using ::testing::HasSubstr;

class PackageBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() / ("lathe-package-" + NewUuidHex());
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }

  std::filesystem::path Write(const std::string& name, const std::string& text) {
    const auto path = directory_ / name;
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path directory_;
};

Status Build(std::filesystem::path spec, const std::filesystem::path& out_dir, std::filesystem::path booster = {}) {
  PackageSpec package;
  package.pipeline = std::move(spec);
  package.booster = std::move(booster);
  return BuildLathePackage(package, out_dir);
}

const char* kSpec = R"({
  "inputs": [{"name": "x", "type": "double"}, {"name": "city", "type": "string"}, {"name": "when", "type": "datetime"}],
  "steps": [
    {"type": "one_hot", "column": "city", "categories": ["a", "b"]},
    {"type": "date_part", "column": "when", "parts": ["weekday"]}
  ],
  "estimator": {"type": "logistic", "coefficients": [0.5, 1, -1, 0.25], "intercept": -0.5},
  "postprocess": [{"type": "threshold"}, {"type": "class_labels", "labels": ["no", "yes"]}]
})";

TEST_F(PackageBuilderTest, WritesPipelineAndMlmodelThatLoad) {
  const auto package = directory_ / "package";
  const Status built = Build(Write("spec.json", kSpec), package);
  ASSERT_TRUE(built.ok()) << built.message();
  EXPECT_TRUE(std::filesystem::is_regular_file(package / "pipeline.json"));

  auto manifest = ReadMlModel(package);
  ASSERT_TRUE(manifest.ok()) << manifest.status().message();
  EXPECT_TRUE(std::regex_match(manifest->model_uuid, std::regex("[0-9a-f]{32}"))) << manifest->model_uuid;
  EXPECT_TRUE(std::regex_match(manifest->utc_time_created, std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6})")))
      << manifest->utc_time_created;
  ASSERT_TRUE(manifest->flavors.contains("lathe"));
  EXPECT_EQ(manifest->flavors["lathe"]["pipeline"], "pipeline.json");
  EXPECT_TRUE(manifest->flavors["lathe"].contains("lathe_version"));
  const Signature& signature = manifest->signature;
  ASSERT_TRUE(signature.has_inputs);
  EXPECT_EQ(signature.input_mode, InputMode::kColumns);
  ASSERT_EQ(signature.inputs.size(), 3u);
  EXPECT_EQ(signature.inputs[0].name, "x");
  EXPECT_EQ(signature.inputs[0].datatype, DataType::kFp64);
  EXPECT_EQ(signature.inputs[2].source_type, "datetime");
  ASSERT_EQ(signature.outputs.size(), 2u);
  EXPECT_EQ(signature.outputs[0].name, "predictions");
  EXPECT_EQ(signature.outputs[0].datatype, DataType::kBytes);
  EXPECT_EQ(signature.outputs[1].name, "probabilities");

  auto model = LoadModel(package);
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ((*model)->metadata().evaluator, "linear");
  EXPECT_EQ((*model)->metadata().model_uuid, manifest->model_uuid);
  EXPECT_GT((*model)->metadata().memory_bytes, 0u);
}

TEST_F(PackageBuilderTest, RefusesANonEmptyOutputDirectory) {
  const auto package = directory_ / "package";
  std::filesystem::create_directories(package);
  Write("package/keep.txt", "mine");
  const Status built = Build(Write("spec.json", kSpec), package);
  EXPECT_EQ(built.code(), ErrorCode::kResourceAlreadyExists) << built.message();
  EXPECT_TRUE(std::filesystem::exists(package / "keep.txt"));
}

TEST_F(PackageBuilderTest, SpecErrorsNameTheFileAndLeaveNothingBehind) {
  json spec = json::parse(kSpec);
  spec["estimator"]["coefficients"] = {1, 2, 3};
  const auto spec_path = Write("spec.json", spec.dump());
  const auto package = directory_ / "package";
  const Status built = Build(spec_path, package);
  EXPECT_EQ(built.code(), ErrorCode::kInvalidParameterValue);
  EXPECT_THAT(built.message(), HasSubstr(spec_path.string() + ": estimator (logistic): 3 coefficients per output, "
                                                              "but the steps produce 4 features"));
  EXPECT_FALSE(std::filesystem::exists(package));

  const Status yaml = Build(Write("bad.yaml",
                                  "inputs: [{name: x, type: double}]\nsteps:\n  - type: log\n"
                                  "estimator: {type: linear, coefficients: [1]}\n"),
                            package);
  EXPECT_THAT(yaml.message(), HasSubstr("bad.yaml: steps[0] (log): unknown step type"));
  EXPECT_THAT(Build(Write("broken.yaml", "inputs: [unclosed\n"), package).message(), HasSubstr("not valid YAML"));
  EXPECT_THAT(Build(directory_ / "absent.json", package).message(), HasSubstr("cannot read"));
}

TEST_F(PackageBuilderTest, RefusesABoosterForALinearEstimator) {
  const Status built = Build(Write("spec.json", kSpec), directory_ / "p", Write("model.json", "{}"));
  EXPECT_EQ(built.code(), ErrorCode::kInvalidParameterValue);
  EXPECT_THAT(built.message(), HasSubstr("the estimator's type is not xgboost"));
}

// A pipeline feeding an XGBoost booster, trained and predicted by python3-xgboost on the same
// features the pipeline produces (one-hot city, standardised x, missing values kept).
TEST_F(PackageBuilderTest, XgboostEstimatorMatchesPythonXgboost) {
  const auto script = Write("train.py", R"(
import json, sys
import numpy as np
import xgboost as xgb
out = sys.argv[1]
rng = np.random.default_rng(7)
cities = np.array(["a", "b", "c"])
def features(x, city):
    return np.column_stack([(x - 2.0) / 4.0] + [np.where(city == c, 1.0, 0.0) for c in ["a", "b"]])
x = rng.normal(2, 4, 500); x[rng.random(500) < 0.1] = np.nan
city = cities[rng.integers(0, 3, 500)]
y = np.nan_to_num(x) * 0.3 + (city == "a") * 2.0 + rng.normal(0, 0.1, 500)
booster = xgb.train({"max_depth": 3, "eta": 0.3}, xgb.DMatrix(features(x, city), label=y), num_boost_round=20)
booster.save_model(out + "/booster.json")
tx = np.concatenate([rng.normal(2, 4, 30), [np.nan]]); tcity = cities[rng.integers(0, 3, 31)]
predictions = booster.predict(xgb.DMatrix(features(tx, tcity)))
json.dump({"x": [None if np.isnan(v) else float(v) for v in tx], "city": [str(c) for c in tcity],
           "predictions": [float(p) for p in predictions]}, open(out + "/expected.json", "w"))
)");
  ASSERT_EQ(std::system(fmt::format("/usr/bin/python3 '{}' '{}'", script.string(), directory_.string()).c_str()), 0);
  const auto spec = Write("spec.yaml", R"(
inputs: [{name: x, type: double}, {name: city, type: string}]
steps:
  - {type: standard_scale, columns: [x], mean: [2.0], scale: [4.0]}
  - {type: one_hot, column: city, categories: [a, b]}
estimator: {type: xgboost}
)");
  const auto package = directory_ / "package";
  const Status built = Build(spec, package, directory_ / "booster.json");
  ASSERT_TRUE(built.ok()) << built.message();
  EXPECT_TRUE(std::filesystem::is_regular_file(package / "booster.json"));
  auto model = LoadModel(package);
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_NE((*model)->metadata().evaluator, "linear");

  std::ifstream file(directory_ / "expected.json");
  const json expected = json::parse(file);
  std::vector<Tensor> inputs(2);
  inputs[0].name = "x";
  inputs[0].shape = {static_cast<int64_t>(expected["x"].size())};
  for (const auto& value : expected["x"]) inputs[0].numbers.push_back(value.is_null() ? NAN : value.get<double>());
  inputs[1].name = "city";
  inputs[1].datatype = DataType::kBytes;
  inputs[1].shape = {static_cast<int64_t>(expected["city"].size())};
  for (const auto& value : expected["city"]) inputs[1].strings.push_back(value);
  std::vector<Tensor> outputs;
  const Status predicted = (*model)->Predict(inputs, &outputs);
  ASSERT_TRUE(predicted.ok()) << predicted.message();
  ASSERT_EQ(outputs[0].numbers.size(), expected["predictions"].size());
  for (size_t i = 0; i < outputs[0].numbers.size(); ++i) {
    const double want = expected["predictions"][i];
    EXPECT_LE(std::abs(outputs[0].numbers[i] - want), 1e-5 * std::max(1.0, std::abs(want))) << "row " << i;
  }

  // The booster's feature count must match what the steps produce.
  const auto wrong = Write("wrong.yaml", R"(
inputs: [{name: x, type: double}]
estimator: {type: xgboost}
)");
  const Status mismatch = Build(wrong, directory_ / "wrong", directory_ / "booster.json");
  EXPECT_THAT(mismatch.message(), HasSubstr("the booster uses 3 features, the steps produce 1 (x)"));
  EXPECT_FALSE(std::filesystem::exists(directory_ / "wrong"));
}

}  // namespace
}  // namespace lathe::models
