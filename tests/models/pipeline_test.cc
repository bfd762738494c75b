// The `lathe` pipeline flavor: predictions against sklearn's (sklearn_reference.py), and each step's rules.
#include "models/pipeline.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/ids.h"
#include "models/model.h"
#include "models/package_builder.h"
#include "models/signature.h"

namespace lathe::models {
namespace {

using ::nlohmann::json;
using ::testing::HasSubstr;

// Within 1e-5, absolute, or relative above 1.
void ExpectClose(double actual, double expected, const std::string& where) {
  EXPECT_LE(std::abs(actual - expected), 1e-5 * std::max(1.0, std::abs(expected)))
      << where << ": got " << actual << ", sklearn " << expected;
}

// One request tensor per model input, from a JSON column of numbers or strings (null = missing).
std::vector<Tensor> Request(const ModelMetadata& metadata, const json& columns) {
  std::vector<Tensor> request;
  for (const auto& spec : metadata.inputs) {
    const json& values = columns.at(spec.name);
    Tensor tensor;
    tensor.name = spec.name;
    tensor.datatype = spec.datatype;
    tensor.shape = {static_cast<int64_t>(values.size())};
    for (const auto& value : values) {
      if (spec.datatype == DataType::kBytes) {
        tensor.strings.push_back(value.is_null() ? "" : value.get<std::string>());
        tensor.nulls.push_back(value.is_null() ? 1 : 0);
      } else {
        tensor.numbers.push_back(value.is_null() ? NAN : value.get<double>());
      }
    }
    request.push_back(std::move(tensor));
  }
  return request;
}

Result<std::vector<Tensor>> Predict(const Model& model, const json& columns) {
  LATHE_ASSIGN_OR_RETURN(auto inputs, BindInputs(model.metadata().input_mode, model.metadata().inputs,
                                                 Request(model.metadata(), columns)));
  std::vector<Tensor> outputs;
  LATHE_RETURN_IF_ERROR(model.Predict(inputs, &outputs));
  return outputs;
}

const Tensor* Output(const std::vector<Tensor>& outputs, const std::string& name) {
  for (const auto& tensor : outputs) {
    if (tensor.name == name) return &tensor;
  }
  return nullptr;
}

void ExpectMatches(const Tensor& actual, const json& expected, const std::string& what) {
  json flat = json::array();
  for (const auto& row : expected) {
    if (row.is_array()) {
      for (const auto& value : row) flat.push_back(value);
    } else {
      flat.push_back(row);
    }
  }
  ASSERT_EQ(actual.element_count(), flat.size()) << what;
  ASSERT_EQ(actual.rows(), static_cast<int64_t>(expected.size())) << what;
  for (size_t i = 0; i < flat.size(); ++i) {
    const std::string where = fmt::format("{} element {}", what, i);
    if (flat[i].is_string()) {
      ASSERT_TRUE(actual.is_bytes()) << where;
      EXPECT_EQ(actual.strings[i], flat[i].get<std::string>()) << where;
    } else {
      ASSERT_FALSE(actual.is_bytes()) << where;
      ExpectClose(actual.numbers[i], flat[i].get<double>(), where);
    }
  }
}

class SklearnReferenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    directory_ = new std::filesystem::path(std::filesystem::temp_directory_path() / ("lathe-pipeline-" + NewUuidHex()));
    const auto script = std::filesystem::path(LATHE_TESTS_DIR) / "models" / "sklearn_reference.py";
    const std::string command = fmt::format("/usr/bin/python3 '{}' '{}'", script.string(), directory_->string());
    // A failure here is reported by every test (CheckCase), not here: gtest would mark the tests
    // skipped and ctest count them as passing.
    if (std::system(command.c_str()) != 0) return;
    std::ifstream file(*directory_ / "cases.json");
    cases_ = new json(json::parse(file, nullptr, false));
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    std::filesystem::remove_all(*directory_, ignored);
    delete directory_;
    delete cases_;
  }

  // Builds the case's package from its spec, loads it as the server does and compares every output
  // with sklearn's.
  static void CheckCase(const std::string& name) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(cases_ != nullptr && cases_->is_array()) << "sklearn_reference.py failed: see its output above";
    const json* found = nullptr;
    for (const auto& item : *cases_) {
      if (item["name"] == name) found = &item;
    }
    ASSERT_NE(found, nullptr) << "sklearn_reference.py wrote no case " << name;
    const auto package = *directory_ / ("package-" + name);
    PackageSpec spec;
    spec.pipeline = *directory_ / (*found)["spec"].get<std::string>();
    const Status built = BuildLathePackage(spec, package);
    ASSERT_TRUE(built.ok()) << built.message();
    auto model = LoadModel(package);
    ASSERT_TRUE(model.ok()) << model.status().message();
    EXPECT_EQ((*model)->metadata().flavor, "lathe");
    EXPECT_EQ((*model)->metadata().input_mode, InputMode::kColumns);
    auto outputs = Predict(**model, (*found)["columns"]);
    ASSERT_TRUE(outputs.ok()) << outputs.status().message();
    for (const auto& [output, expected] : (*found)["expected"].items()) {
      const Tensor* tensor = Output(*outputs, output);
      ASSERT_NE(tensor, nullptr) << "no output " << output;
      ExpectMatches(*tensor, expected, output);
    }
  }

  static std::filesystem::path* directory_;
  static json* cases_;
};

std::filesystem::path* SklearnReferenceTest::directory_ = nullptr;
json* SklearnReferenceTest::cases_ = nullptr;

TEST_F(SklearnReferenceTest, LinearRegression) {
  CheckCase("linear_regression");
}
TEST_F(SklearnReferenceTest, Ridge) {
  CheckCase("ridge");
}
TEST_F(SklearnReferenceTest, Lasso) {
  CheckCase("lasso");
}
TEST_F(SklearnReferenceTest, BinaryLogisticRegressionWithLabels) {
  CheckCase("logistic_binary");
}
TEST_F(SklearnReferenceTest, MultinomialLogisticRegression) {
  CheckCase("logistic_multinomial");
}
TEST_F(SklearnReferenceTest, OneVsRestLogisticRegression) {
  CheckCase("logistic_ovr");
}
TEST_F(SklearnReferenceTest, ImputeScaleOneHotMinMaxThenRidgeFromYaml) {
  CheckCase("pipeline_ridge");
}
TEST_F(SklearnReferenceTest, ImputeScaleOneHotMinMaxThenLogistic) {
  CheckCase("pipeline_logistic");
}
TEST_F(SklearnReferenceTest, BucketizeLikeKBinsDiscretizer) {
  CheckCase("bucketize_ordinal");
}
TEST_F(SklearnReferenceTest, BucketizeOneHotThenLinear) {
  CheckCase("bucketize_one_hot");
}
TEST_F(SklearnReferenceTest, DatePartsLikePythonDatetimeInUtc) {
  CheckCase("date_parts");
}

// ----- Step rules, on pipelines built in memory ---------------------------------------------------------

// An identity linear estimator over `features`: the prediction is the features themselves.
json Identity(size_t features) {
  json rows = json::array();
  for (size_t i = 0; i < features; ++i) {
    json row = json::array();
    for (size_t j = 0; j < features; ++j) row.push_back(i == j ? 1.0 : 0.0);
    rows.push_back(row);
  }
  return features == 1
             ? json{{"type", "linear"}, {"coefficients", {1.0}}}
             : json{
                   {"type", "linear"}, {"coefficients", rows}, {"intercept", json(std::vector<double>(features, 0.0))}};
}

Result<std::unique_ptr<Model>> Make(const json& document) {
  return MakePipelineModel(document, std::filesystem::temp_directory_path(), "uuid");
}

std::vector<double> Numbers(const Tensor& tensor) {
  return tensor.numbers;
}

TEST(PipelineTest, WeekdayIsIsoAndComputedInUtc) {
  const json document = {{"inputs", {{{"name", "when"}, {"type", "datetime"}}}},
                         {"steps", {{{"type", "date_part"}, {"column", "when"}, {"parts", {"weekday", "hour"}}}}},
                         {"estimator", Identity(2)}};
  auto model = Make(document);
  ASSERT_TRUE(model.ok()) << model.status().message();
  // 2026-11-23 is a Monday and 2026-11-22 a Sunday; zones move the instant into another UTC day.
  auto outputs = Predict(**model, {{"when",
                                    {"2026-11-23", "2026-11-22T12:00:00", "2026-11-23T01:00:00+02:00",
                                     "2026-11-22T22:00:00-03:00", "2026-11-22t23:59:59.999Z"}}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  EXPECT_EQ(Numbers((*outputs)[0]), (std::vector<double>{1, 0, 7, 12, 7, 23, 1, 1, 7, 23}));
  EXPECT_THAT((*model)->metadata().inputs[0].datatype, DataType::kBytes);
}

TEST(PipelineTest, BadDatesAreClientErrorsNamingColumnAndValue) {
  const json document = {{"inputs", {{{"name", "when"}, {"type", "datetime"}}}},
                         {"steps", {{{"type", "date_part"}, {"column", "when"}, {"parts", {"weekday"}}}}},
                         {"estimator", Identity(1)}};
  auto model = Make(document);
  ASSERT_TRUE(model.ok()) << model.status().message();
  for (const char* bad : {"2026-02-30", "2026-11-24T24:00:00", "24/11/2026", "2026-11-24T10:00:00+2", "2026-11-24 "}) {
    auto outputs = Predict(**model, {{"when", {"2026-11-24", bad}}});
    ASSERT_FALSE(outputs.ok()) << bad;
    EXPECT_EQ(outputs.status().code(), ErrorCode::kInvalidParameterValue);
    EXPECT_THAT(outputs.status().message(), HasSubstr("'when'"));
    EXPECT_THAT(outputs.status().message(), HasSubstr(fmt::format("'{}' in row 1", bad)));
  }
  // A null date is a missing feature, which a linear estimator refuses by name.
  auto missing = Predict(**model, {{"when", {nullptr}}});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("feature 'when.weekday' is missing in row 0"));
}

TEST(PipelineTest, ImputedDateFillsNulls) {
  const json document = {
      {"inputs", {{{"name", "when"}, {"type", "datetime"}}}},
      {"steps",
       {{{"type", "impute"}, {"columns", {"when"}}, {"strategy", "constant"}, {"value", "2026-11-29"}},
        {{"type", "date_part"}, {"column", "when"}, {"parts", {"weekday"}}}}},
      {"estimator", Identity(1)}};
  auto model = Make(document);
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto outputs = Predict(**model, {{"when", {nullptr, "2026-11-24"}}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  EXPECT_EQ(Numbers((*outputs)[0]), (std::vector<double>{7, 2}));
}

TEST(PipelineTest, BucketizePutsBoundaryValuesInTheUpperBucket) {
  const json document = {
      {"inputs", {{{"name", "x"}, {"type", "double"}}}},
      {"steps",
       {{{"type", "bucketize"}, {"column", "x"}, {"boundaries", {0.0, 10.0}}},
        {{"type", "bucketize"}, {"column", "x"}, {"boundaries", {5.0}}, {"encode", "one_hot"}, {"output", "half"}}}},
      {"estimator", Identity(3)}};
  auto model = Make(document);
  ASSERT_TRUE(model.ok()) << model.status().message();
  // The one-hot bucketize reads x after the first replaced it with its bucket (0, 1 or 2).
  auto outputs = Predict(**model, {{"x", {-1.0, 0.0, 9.999, 10.0, 11.0}}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  EXPECT_EQ(Numbers((*outputs)[0]), (std::vector<double>{0, 1, 0, 1, 1, 0, 1, 1, 0, 2, 1, 0, 2, 1, 0}));
}

json CityPipeline(const std::string& handle_unknown) {
  return {{"inputs", {{{"name", "city"}, {"type", "string"}}}},
          {"steps",
           {{{"type", "one_hot"},
             {"column", "city"},
             {"categories", {"paris", "rome", nullptr}},
             {"handle_unknown", handle_unknown}}}},
          {"estimator", Identity(3)}};
}

TEST(PipelineTest, OneHotIgnoresOrRefusesUnknownCategories) {
  auto ignoring = Make(CityPipeline("ignore"));
  ASSERT_TRUE(ignoring.ok()) << ignoring.status().message();
  auto outputs = Predict(**ignoring, {{"city", {"rome", "tokyo", nullptr}}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  EXPECT_EQ(Numbers((*outputs)[0]), (std::vector<double>{0, 1, 0, 0, 0, 0, 0, 0, 1}));

  auto refusing = Make(CityPipeline("error"));
  ASSERT_TRUE(refusing.ok()) << refusing.status().message();
  auto refused = Predict(**refusing, {{"city", {"paris", "tokyo"}}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_THAT(refused.status().message(), HasSubstr("column 'city': unknown category 'tokyo' in row 1"));
  EXPECT_THAT(refused.status().message(), HasSubstr("'paris', 'rome', null"));
}

TEST(PipelineTest, OneHotOfNumbers) {
  const json document = {{"inputs", {{{"name", "code"}, {"type", "double"}}}},
                         {"steps", {{{"type", "one_hot"}, {"column", "code"}, {"categories", {3, 1}}}}},
                         {"estimator", Identity(2)}};
  auto model = Make(document);
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto outputs = Predict(**model, {{"code", {1.0, 3.0, 2.0, nullptr}}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  EXPECT_EQ(Numbers((*outputs)[0]), (std::vector<double>{0, 1, 1, 0, 0, 0, 0, 0}));
}

TEST(PipelineTest, ClipBoundsScores) {
  const json document = {{"inputs", {{{"name", "x"}, {"type", "double"}}}},
                         {"estimator", Identity(1)},
                         {"postprocess", {{{"type", "clip"}, {"min", 0.0}, {"max", 1.0}}}}};
  auto model = Make(document);
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto outputs = Predict(**model, {{"x", {-5.0, 0.25, 7.0}}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  ASSERT_EQ(outputs->size(), 1u);
  EXPECT_EQ(Numbers((*outputs)[0]), (std::vector<double>{0, 0.25, 1}));
}

TEST(PipelineTest, ThresholdAndClassLabels) {
  const json document = {{"inputs", {{{"name", "x"}, {"type", "double"}}}},
                         {"estimator", Identity(1)},
                         {"postprocess",
                          {{{"type", "sigmoid"}},
                           {{"type", "threshold"}, {"threshold", 0.5}},
                           {{"type", "class_labels"}, {"labels", {"negative", "positive"}}}}}};
  auto model = Make(document);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const auto& outputs_spec = (*model)->metadata().outputs;
  ASSERT_EQ(outputs_spec.size(), 2u);
  EXPECT_EQ(outputs_spec[0].datatype, DataType::kBytes);
  EXPECT_EQ(outputs_spec[1].shape, (std::vector<int64_t>{-1, 2}));
  // sigmoid(0) = 0.5 is not above the threshold.
  auto outputs = Predict(**model, {{"x", {-1.0, 0.0, 2.0}}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  EXPECT_EQ((*outputs)[0].strings, (std::vector<std::string>{"negative", "negative", "positive"}));
  const Tensor& probabilities = (*outputs)[1];
  EXPECT_EQ(probabilities.shape, (std::vector<int64_t>{3, 2}));
  ExpectClose(probabilities.numbers[1], 1 / (1 + std::exp(1.0)), "p(x=-1)");
  ExpectClose(probabilities.numbers[0] + probabilities.numbers[1], 1.0, "row sum");
  ExpectClose(probabilities.numbers[3], 0.5, "p(x=0)");
}

TEST(PipelineTest, ArgmaxWithNumericLabelsPredictsIntegers) {
  const json document = {{"inputs", {{{"name", "a"}, {"type", "double"}}, {{"name", "b"}, {"type", "double"}}}},
                         {"estimator", Identity(2)},
                         {"postprocess",
                          {{{"type", "softmax"}},
                           {{"type", "argmax"}, {"probabilities", false}},
                           {{"type", "class_labels"}, {"labels", {7, 9}}}}}};
  auto model = Make(document);
  ASSERT_TRUE(model.ok()) << model.status().message();
  ASSERT_EQ((*model)->metadata().outputs.size(), 1u);
  EXPECT_EQ((*model)->metadata().outputs[0].datatype, DataType::kInt64);
  auto outputs = Predict(**model, {{"a", {1.0, -1.0}}, {"b", {0.0, 3.0}}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  ASSERT_EQ(outputs->size(), 1u);
  EXPECT_EQ((*outputs)[0].datatype, DataType::kInt64);
  EXPECT_EQ(Numbers((*outputs)[0]), (std::vector<double>{7, 9}));
}

TEST(PipelineTest, PredictIsRepeatableAcrossBatchSizes) {
  auto model = Make(CityPipeline("ignore"));
  ASSERT_TRUE(model.ok());
  auto big = Predict(**model, {{"city", {"rome", "paris", "x", "rome", nullptr, "paris"}}});
  auto small = Predict(**model, {{"city", {"paris"}}});
  ASSERT_TRUE(big.ok() && small.ok());
  EXPECT_EQ(Numbers((*small)[0]), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(std::vector<double>((*big)[0].numbers.begin() + 3, (*big)[0].numbers.begin() + 6),
            (std::vector<double>{1, 0, 0}));
}

// Each bad spec is refused with a message naming the place and the problem.
TEST(PipelineTest, BadSpecsAreRefusedPrecisely) {
  const json inputs = {{{"name", "x"}, {"type", "double"}}, {{"name", "city"}, {"type", "string"}}};
  const json one_hot = {{"type", "one_hot"}, {"column", "city"}, {"categories", {"a", "b"}}};
  const json linear3 = {{"type", "linear"}, {"coefficients", {1.0, 2.0, 3.0}}};
  const json base = {{"inputs", inputs}, {"steps", {one_hot}}, {"estimator", linear3}};
  struct Case {
    std::string patch_path;
    json value;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"/steps/0/type", "one_hot_encode", "steps[0] (one_hot_encode): unknown step type"},
      {"/steps/0/categories", nullptr, "steps[0] (one_hot): 'categories' must be a list"},
      {"/steps/0/handle_unkown", "error", "steps[0] (one_hot): unknown field 'handle_unkown'"},
      {"/steps/0/handle_unknown", "drop", "handle_unknown 'drop' is not 'ignore' or 'error'"},
      {"/steps/0/column", "town", "steps[0] (one_hot): no column 'town' (columns here: x, city)"},
      {"/estimator/coefficients",
       {1.0, 2.0},
       "estimator (linear): 2 coefficients per output, but the steps produce 3 features (x, city=a, city=b)"},
      {"/estimator/type", "svm", "estimator (svm): unknown estimator type"},
      {"/inputs/0/type", "float", "inputs[0]: type 'float' is not one of double, string, datetime"},
      {"/format_version", 2, "format_version 2 is not one this Lathe reads"},
      {"/steps/0/output", "c", "column 'city' holds strings"},
      {"/postprocess", {{{"type", "argmax"}}}, "postprocess[0] (argmax): argmax needs several scores per row"},
      {"/postprocess",
       {{{"type", "class_labels"}, {"labels", {"a", "b"}}}},
       "class_labels maps class indices: put threshold or argmax before it"},
      {"/postprocess",
       {{{"type", "threshold"}}, {{"type", "class_labels"}, {"labels", {"a", "b", "c"}}}},
       "3 labels for 2 classes"},
      {"/steps/1",
       {{"type", "standard_scale"}, {"columns", {"x"}}, {"mean", {0.0, 1.0}}},
       "'mean' has 2 values, one per column needs 1"},
      {"/steps/0",
       {{"type", "standard_scale"}, {"columns", {"city"}}, {"mean", {0.0}}},
       "column 'city' is a string column, this step takes numeric"},
      {"/steps/1",
       {{"type", "bucketize"}, {"column", "x"}, {"boundaries", {1.0, 1.0}}},
       "'boundaries' must be strictly increasing"},
      {"/steps/1",
       {{"type", "impute"}, {"columns", {"x"}}, {"strategy", "mean"}},
       "give either 'value' (for every column) or 'values' (one per column)"},
      {"/steps/0",
       {{"type", "date_part"}, {"column", "city"}, {"parts", {"weekday", "fortnight"}}},
       "part 'fortnight' is not one of"},
  };
  for (const auto& bad : cases) {
    json document = base;
    document[json::json_pointer(bad.patch_path)] = bad.value;
    auto checked = CheckPipeline(document);
    ASSERT_FALSE(checked.ok()) << bad.patch_path << " = " << bad.value.dump();
    EXPECT_EQ(checked.status().code(), ErrorCode::kInvalidParameterValue);
    EXPECT_THAT(checked.status().message(), HasSubstr(bad.message)) << bad.patch_path;
  }
  json missing = base;
  missing["steps"][0].erase("categories");
  EXPECT_THAT(CheckPipeline(missing).status().message(), HasSubstr("steps[0] (one_hot): missing field 'categories'"));
  auto fine = CheckPipeline(base);
  ASSERT_TRUE(fine.ok()) << fine.status().message();
  EXPECT_EQ(fine->num_features, 3u);
  ASSERT_EQ(fine->inputs.size(), 2u);
  EXPECT_EQ(fine->inputs[1].datatype, DataType::kBytes);
}

}  // namespace
}  // namespace lathe::models
