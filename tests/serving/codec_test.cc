// The protocol codecs: OIP v2 and MLflow bodies decode into the right tensors or a precise error,
// responses are valid JSON that decode back to what was encoded, and no body crashes a decoder.
#include "serving/codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

namespace lathe::serving {
namespace {

using models::DataType;
using models::Tensor;
using nlohmann::json;

constexpr double kInf = std::numeric_limits<double>::infinity();

void ExpectError(const Result<InferenceRequest>& result, ErrorCode code, std::string_view expected_message_part) {
  ASSERT_FALSE(result.ok()) << "expected an error containing: " << expected_message_part;
  EXPECT_EQ(result.status().code(), code) << result.status().message();
  EXPECT_NE(result.status().message().find(expected_message_part), std::string::npos)
      << "message: " << result.status().message() << "\nexpected to contain: " << expected_message_part;
}

std::string OipBody(std::string_view datatype, std::string_view shape, std::string_view data) {
  return "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"" + std::string(datatype) + "\",\"shape\":" + std::string(shape) +
         ",\"data\":" + std::string(data) + "}]}";
}

Result<InferenceRequest> Json(std::string_view body, const DecodeLimits& limits = {}) {
  return DecodeMlflowRequest("application/json", body, limits);
}

Result<InferenceRequest> Csv(std::string_view body) {
  return DecodeMlflowRequest("text/csv", body);
}

const Tensor* Find(const InferenceRequest& request, std::string_view name) {
  for (const auto& tensor : request.inputs) {
    if (tensor.name == name) return &tensor;
  }
  return nullptr;
}

// Compares doubles treating NaN as equal to NaN.
void ExpectNumbers(const std::vector<double>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(actual[i])) << "index " << i;
    } else {
      EXPECT_EQ(actual[i], expected[i]) << "index " << i;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// OIP decoding

struct DatatypeCase {
  std::string datatype;
  std::string data;
  std::vector<double> expected;
};

void PrintTo(const DatatypeCase& param, std::ostream* os) {
  *os << param.datatype << " " << param.data;
}

class OipDatatypeTest : public testing::TestWithParam<DatatypeCase> {};

TEST_P(OipDatatypeTest, DecodesExtremesOfEachDatatype) {
  const auto& param = GetParam();
  const std::string shape = "[" + std::to_string(param.expected.size()) + "]";
  auto result = DecodeOipRequest(OipBody(param.datatype, shape, param.data));
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(result->inputs.size(), 1u);
  const Tensor& tensor = result->inputs[0];
  EXPECT_EQ(models::DataTypeName(tensor.datatype), param.datatype);
  EXPECT_EQ(tensor.shape, std::vector<int64_t>{static_cast<int64_t>(param.expected.size())});
  ExpectNumbers(tensor.numbers, param.expected);
}

INSTANTIATE_TEST_SUITE_P(
    AllNumeric, OipDatatypeTest,
    testing::Values(
        DatatypeCase{"BOOL", "[true,false]", {1, 0}}, DatatypeCase{"INT8", "[-128,127,3.0]", {-128, 127, 3}},
        DatatypeCase{"INT16", "[-32768,32767]", {-32768, 32767}},
        DatatypeCase{"INT32", "[-2147483648,2147483647]", {-2147483648.0, 2147483647.0}},
        DatatypeCase{"INT64", "[-9223372036854775808,9007199254740993]", {-9223372036854775808.0, 9007199254740993.0}},
        DatatypeCase{"UINT8", "[0,255]", {0, 255}}, DatatypeCase{"UINT16", "[0,65535]", {0, 65535}},
        DatatypeCase{"UINT32", "[0,4294967295]", {0, 4294967295.0}},
        DatatypeCase{"UINT64", "[0,18446744073709551615]", {0, 18446744073709551615.0}},
        DatatypeCase{"FP32",
                     "[0.1,-2,3e38,\"NaN\",\"Infinity\",\"-Infinity\"]",
                     {static_cast<float>(0.1), -2, static_cast<float>(3e38), NAN, kInf, -kInf}},
        DatatypeCase{"FP64",
                     "[0.1,-2,1.7976931348623157e308,\"NaN\",\"Infinity\",\"-Infinity\"]",
                     {0.1, -2, 1.7976931348623157e308, NAN, kInf, -kInf}}),
    [](const auto& info) { return info.param.datatype; });

struct RefusedCase {
  std::string datatype;
  std::string value;
  std::string shown;
};

void PrintTo(const RefusedCase& param, std::ostream* os) {
  *os << param.datatype << " " << param.value;
}

class OipRefusedValueTest : public testing::TestWithParam<RefusedCase> {};

TEST_P(OipRefusedValueTest, NamesInputDatatypeAndValue) {
  const auto& param = GetParam();
  ExpectError(DecodeOipRequest(OipBody(param.datatype, "[1]", "[" + param.value + "]")),
              ErrorCode::kInvalidParameterValue,
              "input 'x': datatype " + param.datatype + " cannot hold " + param.shown);
}

INSTANTIATE_TEST_SUITE_P(OutOfRangeOrWrongType, OipRefusedValueTest,
                         testing::Values(RefusedCase{"INT32", "1.5", "1.5"}, RefusedCase{"INT8", "128", "128"},
                                         RefusedCase{"INT8", "-129", "-129"}, RefusedCase{"UINT8", "256", "256"},
                                         RefusedCase{"UINT8", "-1", "-1"}, RefusedCase{"UINT32", "-1", "-1"},
                                         RefusedCase{"UINT64", "-1", "-1"},
                                         RefusedCase{"INT64", "9223372036854775808", "9223372036854775808"},
                                         RefusedCase{"INT16", "\"5\"", "\"5\""},
                                         RefusedCase{"INT32", "\"NaN\"", "\"NaN\""},
                                         RefusedCase{"INT32", "true", "true"}, RefusedCase{"BOOL", "1", "1"},
                                         RefusedCase{"FP32", "1e39", "1e+39"},
                                         RefusedCase{"FP64", "\"nan\"", "\"nan\""}, RefusedCase{"FP64", "null", "null"},
                                         RefusedCase{"FP64", "{}", "an object"}, RefusedCase{"BYTES", "5", "5"}));

TEST(OipDecode, NestedAndFlatDataAgree) {
  auto flat = DecodeOipRequest(OipBody("FP64", "[2,3]", "[1,2,3,4,5,6]"));
  auto nested = DecodeOipRequest(OipBody("FP64", "[2,3]", "[[1,2,3],[4,5,6]]"));
  auto rows_of_flat_rest = DecodeOipRequest(OipBody("FP64", "[2,3,2]", "[[1,2,3,4,5,6],[7,8,9,10,11,12]]"));
  auto fully_nested = DecodeOipRequest(OipBody("FP64", "[2,3,2]", "[[[1,2],[3,4],[5,6]],[[7,8],[9,10],[11,12]]]"));
  for (const auto* result : {&flat, &nested, &rows_of_flat_rest, &fully_nested}) {
    ASSERT_TRUE(result->ok()) << result->status().message();
  }
  ExpectNumbers(flat->inputs[0].numbers, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(flat->inputs[0].numbers, nested->inputs[0].numbers);
  EXPECT_EQ(nested->inputs[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(rows_of_flat_rest->inputs[0].numbers, fully_nested->inputs[0].numbers);
  EXPECT_EQ(fully_nested->inputs[0].shape, (std::vector<int64_t>{2, 3, 2}));
  EXPECT_EQ(fully_nested->inputs[0].rows(), 2);
  EXPECT_EQ(fully_nested->inputs[0].width(), 6);
}

TEST(OipDecode, ShapeMismatches) {
  ExpectError(DecodeOipRequest(OipBody("FP32", "[2,3]", "[1,2,3,4,5]")), ErrorCode::kInvalidParameterValue,
              "input 'x': shape [2, 3] needs 6 values, data has 5");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[2,3]", "[1,2,3,4,5,6,7]")), ErrorCode::kInvalidParameterValue,
              "input 'x': shape [2, 3] needs 6 values, data has 7");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[2,3]", "[[1,2,3],[4,5]]")), ErrorCode::kInvalidParameterValue,
              "input 'x': data[1] has 2 values, expected 3 (shape [2, 3])");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[2,3]", "[[1,2,3],[4,5,6],[7,8,9]]")),
              ErrorCode::kInvalidParameterValue, "input 'x': data has 3 values, expected 2");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[2,3]", "[[1,2,3],4]")), ErrorCode::kInvalidParameterValue,
              "input 'x': data[1] is a value, expected a list");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[2,2]", "[[1,2],[3,[4]]]")), ErrorCode::kInvalidParameterValue,
              "input 'x': data[1][1] is a list, expected a value");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[2]", "[[[1]],[[2]]]")), ErrorCode::kInvalidParameterValue,
              "input 'x': data is nested 3 deep, shape [2] has 1 dimensions");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[0,3]", "[]")), ErrorCode::kInvalidParameterValue,
              "empty batch: input 'x' has 0 rows");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[2,0]", "[]")), ErrorCode::kInvalidParameterValue,
              "input 'x': shape [2, 0] has no values");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[]", "[1]")), ErrorCode::kInvalidParameterValue,
              "input 'x': shape [] has no batch dimension");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[2.5]", "[1]")), ErrorCode::kBadRequest,
              "input 'x': 'shape' must be a list of non-negative integers");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[-1]", "[1]")), ErrorCode::kBadRequest,
              "input 'x': 'shape' must be a list of non-negative integers");
  ExpectError(DecodeOipRequest(OipBody("FP32", "[1]", "1")), ErrorCode::kBadRequest,
              "input 'x': 'data' must be a list");
}

TEST(OipDecode, HugeShapesHitTheLimitBeforeAllocating) {
  // Each would take terabytes if allocated; the products also overflow 64 bits.
  ExpectError(DecodeOipRequest(OipBody("FP64", "[4294967296,4294967296,4294967296]", "[1]")),
              ErrorCode::kRequestLimitExceeded, "input 'x': too many values");
  ExpectError(DecodeOipRequest(OipBody("FP64", "[9223372036854775807,9223372036854775807]", "[1]")),
              ErrorCode::kRequestLimitExceeded, "input 'x'");
  ExpectError(DecodeOipRequest(OipBody("FP64", "[18446744073709551615]", "[1]")), ErrorCode::kRequestLimitExceeded,
              "input 'x'");
  ExpectError(DecodeOipRequest(OipBody("BYTES", "[16777217]", "[\"a\"]")), ErrorCode::kRequestLimitExceeded,
              "limit is 16777216");
}

TEST(OipDecode, LimitsCountEveryTensor) {
  const DecodeLimits limits{.max_elements = 10, .max_tensors = 2};
  const std::string two_inputs =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2,3],"data":[1,2,3,4,5,6]},
                    {"name":"b","datatype":"FP32","shape":[5],"data":[1,2,3,4,5]}]})";
  ExpectError(DecodeOipRequest(two_inputs, limits), ErrorCode::kRequestLimitExceeded, "input 'b': too many values");
  EXPECT_TRUE(DecodeOipRequest(two_inputs, {.max_elements = 11, .max_tensors = 2}).ok());
  const std::string three_inputs =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]},
                    {"name":"b","datatype":"FP32","shape":[1],"data":[1]},
                    {"name":"c","datatype":"FP32","shape":[1],"data":[1]}]})";
  ExpectError(DecodeOipRequest(three_inputs, limits), ErrorCode::kRequestLimitExceeded, "more than 2 tensors");
}

TEST(OipDecode, Bytes) {
  auto result = DecodeOipRequest(OipBody("BYTES", "[3]", R"(["plain","esc\"aped\n\u00e9","\ud83d\ude00"])"));
  ASSERT_TRUE(result.ok()) << result.status().message();
  const Tensor& tensor = result->inputs[0];
  EXPECT_TRUE(tensor.is_bytes());
  EXPECT_EQ(tensor.strings, (std::vector<std::string>{"plain", "esc\"aped\n\xC3\xA9", "\xF0\x9F\x98\x80"}));
  EXPECT_TRUE(tensor.numbers.empty());
  EXPECT_TRUE(tensor.nulls.empty());
}

TEST(OipDecode, IdOutputsAndParameters) {
  auto result = DecodeOipRequest(R"({
    "id": "req-7",
    "parameters": {"prediction_ids": ["p1", "p2"], "routing_key": "user-42", "other": {"x": 1}},
    "inputs": [{"name": "a", "datatype": "INT32", "shape": [2, 1], "data": [1, 2], "parameters": {"k": 1}},
               {"name": "b", "datatype": "BOOL", "shape": [2], "data": [true, false]}],
    "outputs": [{"name": "probabilities"}, {"name": "label", "parameters": {}}]
  })");
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->id, "req-7");
  EXPECT_EQ(result->prediction_ids, (std::vector<std::string>{"p1", "p2"}));
  EXPECT_EQ(result->routing_key, "user-42");
  EXPECT_EQ(result->requested_outputs, (std::vector<std::string>{"probabilities", "label"}));
  ASSERT_EQ(result->inputs.size(), 2u);
  EXPECT_EQ(result->inputs[0].name, "a");
  EXPECT_EQ(result->inputs[0].datatype, DataType::kInt32);
  EXPECT_EQ(result->inputs[1].datatype, DataType::kBool);

  auto plain = DecodeOipRequest(OipBody("FP32", "[1]", "[1]"));
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->id.empty());
  EXPECT_TRUE(plain->prediction_ids.empty());
  EXPECT_TRUE(plain->routing_key.empty());
  EXPECT_TRUE(plain->requested_outputs.empty());
}

TEST(OipDecode, MalformedBodiesAndFields) {
  ExpectError(DecodeOipRequest("{\"inputs\": ["), ErrorCode::kBadRequest, "malformed JSON: ");
  ExpectError(DecodeOipRequest(""), ErrorCode::kBadRequest, "malformed JSON: ");
  ExpectError(DecodeOipRequest("[1]"), ErrorCode::kBadRequest, "the request body must be a JSON object");
  ExpectError(DecodeOipRequest("{}"), ErrorCode::kBadRequest, "missing 'inputs'");
  ExpectError(DecodeOipRequest(R"({"inputs": {}})"), ErrorCode::kBadRequest, "'inputs' must be a list of objects");
  ExpectError(DecodeOipRequest(R"({"inputs": []})"), ErrorCode::kInvalidParameterValue, "'inputs' is empty");
  ExpectError(DecodeOipRequest(R"({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]})"),
              ErrorCode::kBadRequest, "input 0: missing 'name'");
  ExpectError(DecodeOipRequest(R"({"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]})"),
              ErrorCode::kBadRequest, "input 'x': missing 'shape'");
  ExpectError(DecodeOipRequest(R"({"inputs": [{"name": "x", "shape": [1], "data": [1]}]})"), ErrorCode::kBadRequest,
              "input 'x': missing 'datatype'");
  ExpectError(DecodeOipRequest(R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]})"),
              ErrorCode::kBadRequest, "input 'x': missing 'data'");
  ExpectError(DecodeOipRequest(OipBody("FP16", "[1]", "[1]")), ErrorCode::kInvalidParameterValue,
              "input 'x': unsupported datatype 'FP16'");
  ExpectError(DecodeOipRequest(OipBody("fp32", "[1]", "[1]")), ErrorCode::kInvalidParameterValue,
              "input 'x': unsupported datatype 'fp32'");
  ExpectError(DecodeOipRequest(R"({"id": 5, "inputs": []})"), ErrorCode::kBadRequest, "'id' must be a string");
  ExpectError(DecodeOipRequest(R"({"outputs": [{"nome": "y"}], "inputs": []})"), ErrorCode::kBadRequest,
              "each of 'outputs' must be an object with a string 'name'");
  ExpectError(DecodeOipRequest(R"({"parameters": {"prediction_ids": [1]}, "inputs": []})"),
              ErrorCode::kInvalidParameterValue, "parameters.prediction_ids must be a list of strings");
  ExpectError(DecodeOipRequest(R"({"parameters": {"routing_key": 3}, "inputs": []})"),
              ErrorCode::kInvalidParameterValue, "parameters.routing_key must be a string");
  ExpectError(DecodeOipRequest(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]},
                                             {"name": "x", "datatype": "FP32", "shape": [1], "data": [2]}]})"),
              ErrorCode::kInvalidParameterValue, "input 'x' appears twice");
}

// ---------------------------------------------------------------------------------------------
// MLflow decoding

constexpr std::string_view kFormatListPrefix =
    "The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', "
    "'dataframe_records', 'instances', 'inputs'}. Received dictionary with input fields: ";

TEST(MlflowDecode, DataframeSplitInfersColumnTypes) {
  auto result = Json(R"({"dataframe_split": {
      "columns": ["i", "f", "s", "b", "n", "ns"],
      "index": [10, 11, 12],
      "data": [[1, 1, "a", true, 1, "x"], [2, 2.5, "b", false, null, null], [-3, 3, "c\"q", true, 2, "z"]]}})");
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(result->inputs.size(), 6u);
  const Tensor& i = result->inputs[0];
  EXPECT_EQ(i.name, "i");
  EXPECT_EQ(i.datatype, DataType::kInt64);
  EXPECT_EQ(i.shape, std::vector<int64_t>{3});
  ExpectNumbers(i.numbers, {1, 2, -3});
  EXPECT_EQ(result->inputs[1].datatype, DataType::kFp64);
  ExpectNumbers(result->inputs[1].numbers, {1, 2.5, 3});
  EXPECT_EQ(result->inputs[2].datatype, DataType::kBytes);
  EXPECT_EQ(result->inputs[2].strings, (std::vector<std::string>{"a", "b", "c\"q"}));
  EXPECT_EQ(result->inputs[3].datatype, DataType::kBool);
  ExpectNumbers(result->inputs[3].numbers, {1, 0, 1});
  EXPECT_EQ(result->inputs[4].datatype, DataType::kFp64);  // integers with a null become floats, as in pandas
  ExpectNumbers(result->inputs[4].numbers, {1, NAN, 2});
  const Tensor& ns = result->inputs[5];
  EXPECT_EQ(ns.datatype, DataType::kBytes);
  EXPECT_FALSE(ns.is_null(0));
  EXPECT_TRUE(ns.is_null(1));
  EXPECT_FALSE(ns.is_null(2));
}

TEST(MlflowDecode, DataframeSplitWithoutColumnsNamesThemByPosition) {
  auto result = Json(R"({"dataframe_split": {"data": [[1, 2], [3, 4]]}})");
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(result->inputs.size(), 2u);
  EXPECT_EQ(result->inputs[0].name, "0");
  EXPECT_EQ(result->inputs[1].name, "1");
  ExpectNumbers(result->inputs[1].numbers, {2, 4});
}

TEST(MlflowDecode, DataframeSplitErrors) {
  ExpectError(Json(R"({"dataframe_split": [[1]]})"), ErrorCode::kBadRequest,
              "Invalid input. Dataframe split format must be a dictionary. Got list.");
  ExpectError(Json(R"({"dataframe_split": "x"})"), ErrorCode::kBadRequest,
              "Invalid input. Dataframe split format must be a dictionary. Got type <class 'str'>.");
  ExpectError(Json(R"({"dataframe_split": {"data": [[1]], "foo": 1}})"), ErrorCode::kBadRequest,
              "Invalid input. Dataframe split format must have 'data' field and optionally 'columns' and 'index' "
              "fields. Got {'data', 'foo'}.'");
  ExpectError(Json(R"({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}})"), ErrorCode::kBadRequest,
              "Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: '2 "
              "columns passed, passed data had 1 columns'");
  ExpectError(Json(R"({"dataframe_split": {"columns": ["a"], "index": [1, 2], "data": [[1]]}})"),
              ErrorCode::kBadRequest, "Error: 'Shape of passed values is (1, 1), indices imply (2, 1)'");
  ExpectError(Json(R"({"dataframe_split": {"columns": ["a"], "data": []}})"), ErrorCode::kInvalidParameterValue,
              "empty batch: the request has 0 rows");
  ExpectError(Json(R"({"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}})"),
              ErrorCode::kInvalidParameterValue, "column 'a' appears twice");
  ExpectError(Json(R"({"dataframe_split": {"columns": ["a"], "data": [[1], ["x"]]}})"),
              ErrorCode::kInvalidParameterValue, "column 'a' mixes numbers and strings");
  ExpectError(Json(R"({"dataframe_split": {"columns": ["a"], "data": [[true], [2]]}})"),
              ErrorCode::kInvalidParameterValue, "column 'a' mixes numbers and booleans");
}

TEST(MlflowDecode, DataframeRecordsFillsAbsentKeysWithNulls) {
  auto result = Json(R"({"dataframe_records": [{"a": 1, "b": "x"}, {"b": "y", "c": 2.5}]})");
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(result->inputs.size(), 3u);
  EXPECT_EQ(result->inputs[0].name, "a");
  EXPECT_EQ(result->inputs[0].datatype, DataType::kFp64);
  ExpectNumbers(result->inputs[0].numbers, {1, NAN});
  EXPECT_EQ(result->inputs[1].name, "b");
  EXPECT_EQ(result->inputs[1].strings, (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(result->inputs[1].nulls.empty());
  EXPECT_EQ(result->inputs[2].name, "c");
  ExpectNumbers(result->inputs[2].numbers, {NAN, 2.5});

  ExpectError(Json(R"({"dataframe_records": {"a": [1]}})"), ErrorCode::kBadRequest,
              "Invalid input. Dataframe records format must be a list of records. Got dictionary.");
  ExpectError(Json(R"({"dataframe_records": 3})"), ErrorCode::kBadRequest,
              "Invalid input. Dataframe records format must be a list of records. Got type <class 'int'>.");
  ExpectError(Json(R"({"dataframe_records": [{"a": 1}, 2]})"), ErrorCode::kBadRequest,
              "Provided dataframe_records field is not a valid dataframe representation in 'records' format.");
  ExpectError(Json(R"({"dataframe_records": []})"), ErrorCode::kInvalidParameterValue, "empty batch");
}

TEST(MlflowDecode, InstancesAndInputsAsRows) {
  auto rows = Json(R"({"instances": [[1, 2, 3], [4, 5, 6.5]]})");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->inputs.size(), 1u);
  EXPECT_EQ(rows->inputs[0].name, "input");
  EXPECT_EQ(rows->inputs[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(rows->inputs[0].datatype, DataType::kFp64);
  ExpectNumbers(rows->inputs[0].numbers, {1, 2, 3, 4, 5, 6.5});

  auto scalars = Json(R"({"inputs": [1, 2, 3]})");
  ASSERT_TRUE(scalars.ok()) << scalars.status().message();
  EXPECT_EQ(scalars->inputs[0].shape, std::vector<int64_t>{3});
  EXPECT_EQ(scalars->inputs[0].datatype, DataType::kInt64);

  ExpectError(Json(R"({"instances": [[1, 2], [3]]})"), ErrorCode::kInvalidParameterValue,
              "'instances': row 1 has 1 values, expected 2 (row 0 has shape [2])");
  ExpectError(Json(R"({"inputs": [[1, 2], 3]})"), ErrorCode::kInvalidParameterValue,
              "'inputs': row 1 is a value, expected a list");
  ExpectError(Json(R"({"inputs": []})"), ErrorCode::kInvalidParameterValue, "empty batch: 'inputs' has 0 rows");
}

TEST(MlflowDecode, InstancesAndInputsAsColumns) {
  auto objects = Json(R"({"instances": [{"a": 1, "t": [1, 2]}, {"a": 2, "t": [3, 4]}]})");
  ASSERT_TRUE(objects.ok()) << objects.status().message();
  ASSERT_EQ(objects->inputs.size(), 2u);
  EXPECT_EQ(objects->inputs[0].name, "a");
  EXPECT_EQ(objects->inputs[0].shape, std::vector<int64_t>{2});
  EXPECT_EQ(objects->inputs[1].name, "t");
  EXPECT_EQ(objects->inputs[1].shape, (std::vector<int64_t>{2, 2}));
  ExpectNumbers(objects->inputs[1].numbers, {1, 2, 3, 4});

  auto columns = Json(R"({"inputs": {"a": [1.5, 2], "s": ["x", "y"]}})");
  ASSERT_TRUE(columns.ok()) << columns.status().message();
  ASSERT_EQ(columns->inputs.size(), 2u);
  ExpectNumbers(Find(*columns, "a")->numbers, {1.5, 2});
  EXPECT_EQ(Find(*columns, "s")->strings, (std::vector<std::string>{"x", "y"}));

  const std::string length_error =
      "Failed to parse data as TF serving input. The length of values for each input/column name are not the same";
  ExpectError(Json(R"({"inputs": {"a": [1, 2], "b": [1]}})"), ErrorCode::kBadRequest, length_error);
  ExpectError(Json(R"({"instances": [{"a": 1, "b": 2}, {"a": 2}]})"), ErrorCode::kBadRequest, length_error);
  ExpectError(Json(R"({"instances": [{"a": 1}, [2]]})"), ErrorCode::kBadRequest,
              "Failed to parse data as TF serving input. Ensure that the input is a valid JSON-formatted string");
  ExpectError(Json(R"({"inputs": 5})"), ErrorCode::kBadRequest, "Failed to parse data as TF serving input.");
}

TEST(MlflowDecode, Params) {
  auto result = Json(R"({"params": {"prediction_ids": ["a", "b"], "routing_key": "k", "temperature": 0.5},
                         "dataframe_records": [{"x": 1}, {"x": 2}]})");
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->prediction_ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(result->routing_key, "k");
  ExpectError(Json(R"({"params": [1], "inputs": [1]})"), ErrorCode::kInvalidParameterValue,
              "Parameters must be a dictionary. Got type 'list'.");
  ExpectError(Json(R"({"params": {"prediction_ids": "a"}, "inputs": [1]})"), ErrorCode::kInvalidParameterValue,
              "params.prediction_ids must be a list of strings");
}

TEST(MlflowDecode, FormatErrorsUseMlflowWording) {
  ExpectError(Json(R"({"data": [1], "params": {}})"), ErrorCode::kBadRequest, std::string(kFormatListPrefix) + "[]. ");
  ExpectError(Json(R"({"instances": [1], "inputs": [1]})"), ErrorCode::kBadRequest,
              std::string(kFormatListPrefix) + "['instances', 'inputs']. IMPORTANT: The MLflow Model scoring protocol");
  ExpectError(Json("[1, 2]"), ErrorCode::kBadRequest,
              "Invalid input. The input must be a JSON dictionary with exactly one of the input fields "
              "{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}. Received a list.");
  ExpectError(Json("\"text\""), ErrorCode::kBadRequest, "Received unexpected input type '<class 'str'>.");
  ExpectError(Json("{\"inputs\": [1"), ErrorCode::kBadRequest, "malformed JSON: ");
}

TEST(MlflowDecode, ContentTypes) {
  EXPECT_TRUE(DecodeMlflowRequest("application/json; charset=UTF-8", R"({"inputs": [1]})").ok());
  EXPECT_TRUE(DecodeMlflowRequest("Text/CSV;charset=utf-8", "a\n1\n").ok());
  ExpectError(DecodeMlflowRequest("text/plain", "a\n1\n"), ErrorCode::kBadRequest,
              "This predictor only supports the following content types: Types: ['text/csv', 'application/json']. "
              "Got 'text/plain'.");
  ExpectError(DecodeMlflowRequest("application/json; charset=latin-1", "{}"), ErrorCode::kBadRequest,
              "The scoring server only supports UTF-8");
  ExpectError(DecodeMlflowRequest("application/json; format=pandas-split", "{}"), ErrorCode::kBadRequest,
              "Unrecognized content type parameters: format. IMPORTANT:");
}

TEST(MlflowDecode, CsvWithQuotesNullsAndTypes) {
  const std::string body =
      "id,name,score,note,empty\r\n"
      "1,\"Smith, J.\",0.5,\"said \"\"hi\"\"\",\r\n"
      "2,plain,,\"two\nlines\",\r\n"
      "\r\n"
      "3,\"\",+2e1,x,\r\n";
  auto result = Csv(body);
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(result->inputs.size(), 5u);
  const Tensor& id = *Find(*result, "id");
  EXPECT_EQ(id.datatype, DataType::kInt64);
  ExpectNumbers(id.numbers, {1, 2, 3});
  const Tensor& name = *Find(*result, "name");
  EXPECT_EQ(name.datatype, DataType::kBytes);
  EXPECT_EQ(name.strings[0], "Smith, J.");
  EXPECT_EQ(name.strings[1], "plain");
  EXPECT_TRUE(name.is_null(2));
  const Tensor& score = *Find(*result, "score");
  EXPECT_EQ(score.datatype, DataType::kFp64);
  ExpectNumbers(score.numbers, {0.5, NAN, 20});
  const Tensor& note = *Find(*result, "note");
  EXPECT_EQ(note.strings, (std::vector<std::string>{"said \"hi\"", "two\nlines", "x"}));
  EXPECT_TRUE(note.nulls.empty());
  const Tensor& empty = *Find(*result, "empty");
  EXPECT_EQ(empty.datatype, DataType::kFp64);
  ExpectNumbers(empty.numbers, {NAN, NAN, NAN});
}

TEST(MlflowDecode, CsvHeaderLikePandas) {
  auto result = Csv(",a,a,b\n0,1,2\n");  // pandas' to_csv() writes an unnamed index column
  ASSERT_TRUE(result.ok()) << result.status().message();
  std::vector<std::string> names;
  for (const auto& tensor : result->inputs) names.push_back(tensor.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Unnamed: 0", "a", "a.1", "b"}));
  ExpectNumbers(Find(*result, "b")->numbers, {NAN});  // short rows are padded with nulls
}

TEST(MlflowDecode, CsvErrors) {
  ExpectError(Csv(""), ErrorCode::kBadRequest,
              "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas "
              "DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: 'No columns to parse from "
              "file'");
  ExpectError(Csv("a,b\n1,2\n1,2,3\n"), ErrorCode::kBadRequest,
              "Error tokenizing data. C error: Expected 2 fields in line 3, saw 3");
  ExpectError(Csv("a\n\"open\n"), ErrorCode::kBadRequest, "EOF inside string starting at row 2");
  ExpectError(Csv("a\n\"x\"y\n"), ErrorCode::kBadRequest, "unexpected character after a closing quote in line 2");
  ExpectError(Csv("a,b\n"), ErrorCode::kInvalidParameterValue, "empty batch");
}

TEST(MlflowDecode, LimitsApplyToEveryFormat) {
  const DecodeLimits limits{.max_elements = 4, .max_tensors = 2};
  ExpectError(Json(R"({"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}})", limits),
              ErrorCode::kRequestLimitExceeded, "more than 2 columns");
  ExpectError(Json(R"({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4], [5, 6]]}})", limits),
              ErrorCode::kRequestLimitExceeded, "more than 4 values");
  ExpectError(Json(R"({"dataframe_records": [{"a": 1, "b": 2, "c": 3}]})", limits), ErrorCode::kRequestLimitExceeded,
              "more than 2 columns");
  ExpectError(Json(R"({"instances": [[1, 2, 3], [4, 5, 6]]})", limits), ErrorCode::kRequestLimitExceeded,
              "too many values");
  ExpectError(DecodeMlflowRequest("text/csv", "a,b\n1,2\n3,4\n5,6\n", limits), ErrorCode::kRequestLimitExceeded,
              "more than 4 values");
  ExpectError(DecodeMlflowRequest("text/csv", "a,b,c\n1,2,3\n", limits), ErrorCode::kRequestLimitExceeded,
              "more than 2 columns");
  EXPECT_TRUE(Json(R"({"inputs": {"a": [1, 2], "b": [3, 4]}})", limits).ok());
}

// ---------------------------------------------------------------------------------------------
// Encoding

Tensor MakeNumbers(std::string name, DataType type, std::vector<int64_t> shape, std::vector<double> numbers) {
  Tensor tensor;
  tensor.name = std::move(name);
  tensor.datatype = type;
  tensor.shape = std::move(shape);
  tensor.numbers = std::move(numbers);
  return tensor;
}

TEST(OipEncode, RoundTripsThroughTheDecoder) {
  InferenceResponse response;
  response.model_name = "m\"odel";
  response.model_version = "3";
  response.id = "req-1";
  response.prediction_ids = {"a", "b"};
  response.outputs.push_back(
      MakeNumbers("fp32", DataType::kFp32, {2, 2}, {0.1f, -3.25f, 1e-40f, 3.4028234663852886e38}));
  response.outputs.push_back(MakeNumbers("fp64", DataType::kFp64, {2}, {0.1, 123456789012.0}));
  response.outputs.push_back(MakeNumbers("i64", DataType::kInt64, {2}, {-9007199254740992.0, 42}));
  response.outputs.push_back(MakeNumbers("u64", DataType::kUint64, {2}, {18446744073709549568.0, 0}));
  response.outputs.push_back(MakeNumbers("flag", DataType::kBool, {2}, {1, 0}));
  Tensor text;
  text.name = "text";
  text.datatype = DataType::kBytes;
  text.shape = {2};
  text.strings = {"tab\there \x01 \xC3\xA9", "quote\" back\\slash"};
  response.outputs.push_back(text);

  const std::string body = EncodeOipResponse(response);
  const json parsed = json::parse(body);  // strict: throws on invalid JSON or UTF-8
  EXPECT_EQ(parsed["model_name"], "m\"odel");
  EXPECT_EQ(parsed["model_version"], "3");
  EXPECT_EQ(parsed["id"], "req-1");
  EXPECT_EQ(parsed["parameters"]["prediction_ids"], json({"a", "b"}));
  EXPECT_EQ(parsed["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(parsed["outputs"][0]["shape"], json({2, 2}));

  json as_request = {{"inputs", parsed["outputs"]}};
  auto decoded = DecodeOipRequest(as_request.dump());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ASSERT_EQ(decoded->inputs.size(), response.outputs.size());
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const Tensor& expected = response.outputs[i];
    const Tensor& actual = decoded->inputs[i];
    EXPECT_EQ(actual.name, expected.name);
    EXPECT_EQ(actual.datatype, expected.datatype);
    EXPECT_EQ(actual.shape, expected.shape);
    EXPECT_EQ(actual.strings, expected.strings);
    ExpectNumbers(actual.numbers, expected.numbers);
  }
}

TEST(OipEncode, FloatsAreShortestAndNonFiniteAreStrings) {
  InferenceResponse response;
  response.outputs.push_back(MakeNumbers("y", DataType::kFp32, {5}, {0.1f, 1.0f, NAN, kInf, -kInf}));
  const json parsed = json::parse(EncodeOipResponse(response));
  EXPECT_EQ(parsed["outputs"][0]["data"].dump(), R"([0.1,1.0,"NaN","Infinity","-Infinity"])");
  EXPECT_FALSE(parsed.contains("id"));
  EXPECT_FALSE(parsed.contains("parameters"));
}

// Shortest round-trip: the printed FP32 reads back as the same float, and where it is not a whole
// number, one significant digit fewer (printf's own rounding) never does.
TEST(OipEncode, Fp32TextIsShortestRoundTrip) {
  std::mt19937 random(7);
  std::uniform_int_distribution<uint32_t> bits;
  InferenceResponse response;
  Tensor& tensor = response.outputs.emplace_back(MakeNumbers("y", DataType::kFp32, {2000}, {}));
  while (tensor.numbers.size() < 2000) {
    const uint32_t word = bits(random);
    float value;
    std::memcpy(&value, &word, sizeof(value));
    if (std::isfinite(value)) tensor.numbers.push_back(value);
  }
  const std::string body = EncodeOipResponse(response);
  const size_t data_begin = body.find("\"data\":[") + 8;
  std::vector<std::string> texts;
  for (size_t pos = data_begin; body[pos] != ']';) {
    const size_t end = body.find_first_of(",]", pos);
    texts.push_back(body.substr(pos, end - pos));
    pos = body[end] == ',' ? end + 1 : end;
  }
  ASSERT_EQ(texts.size(), tensor.numbers.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& text = texts[i];
    const float value = static_cast<float>(tensor.numbers[i]);
    EXPECT_EQ(std::strtof(text.c_str(), nullptr), value) << text;
    if (text.size() > 2 && text.compare(text.size() - 2, 2, ".0") == 0) continue;  // a whole number, written in full
    std::string significant;
    for (char c : text.substr(0, text.find_first_of("eE"))) {
      if (std::isdigit(static_cast<unsigned char>(c))) significant += c;
    }
    significant.erase(0, std::min(significant.find_first_not_of('0'), significant.size()));
    significant.erase(significant.find_last_not_of('0') + 1);
    const size_t digits = significant.size();
    if (digits > 1) {
      char shorter[64];
      std::snprintf(shorter, sizeof(shorter), "%.*g", static_cast<int>(digits - 1), value);
      EXPECT_NE(std::strtof(shorter, nullptr), value) << text << " could be " << shorter;
    }
  }
}

TEST(MlflowEncode, Shapes) {
  InferenceResponse flat;
  flat.outputs.push_back(MakeNumbers("y", DataType::kFp64, {3}, {1.5, NAN, 3}));
  flat.prediction_ids = {"r-0", "r-1", "r-2"};
  EXPECT_EQ(EncodeMlflowResponse(flat), R"({"predictions":[1.5,NaN,3.0],"prediction_ids":["r-0","r-1","r-2"]})");

  InferenceResponse matrix;
  matrix.outputs.push_back(MakeNumbers("p", DataType::kFp32, {2, 2}, {0.25f, 0.75f, 1, 0}));
  EXPECT_EQ(json::parse(EncodeMlflowResponse(matrix)), json::parse(R"({"predictions":[[0.25,0.75],[1.0,0.0]]})"));

  InferenceResponse several;
  several.outputs.push_back(MakeNumbers("label", DataType::kInt64, {2}, {1, 0}));
  several.outputs.push_back(MakeNumbers("proba", DataType::kFp64, {2, 2}, {0.1, 0.9, 0.8, 0.2}));
  Tensor names;
  names.name = "name";
  names.datatype = DataType::kBytes;
  names.shape = {2};
  names.strings = {"a", ""};
  names.nulls = {0, 1};
  several.outputs.push_back(names);
  EXPECT_EQ(json::parse(EncodeMlflowResponse(several)),
            json::parse(R"({"predictions":[{"label":1,"proba":[0.1,0.9],"name":"a"},
                                           {"label":0,"proba":[0.8,0.2],"name":null}]})"));
}

TEST(MlflowEncode, InvalidUtf8IsReplaced) {
  InferenceResponse response;
  Tensor text;
  text.name = "y";
  text.datatype = DataType::kBytes;
  text.shape = {2};
  text.strings = {"ok\xFF\xC3", std::string("nul\0byte\xE2\x82", 10)};
  response.outputs.push_back(text);
  const json parsed = json::parse(EncodeMlflowResponse(response));
  EXPECT_EQ(parsed["predictions"][0], "ok\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(parsed["predictions"][1], std::string("nul\0byte\xEF\xBF\xBD\xEF\xBF\xBD", 14));
}

// ---------------------------------------------------------------------------------------------
// Fuzz: random and mutated bodies must produce a value or an error, never a crash.

void ExpectWellFormed(const Result<InferenceRequest>& result, const std::string& body) {
  if (!result.ok()) {
    const ErrorCode code = result.status().code();
    EXPECT_TRUE(code == ErrorCode::kBadRequest || code == ErrorCode::kInvalidParameterValue ||
                code == ErrorCode::kRequestLimitExceeded)
        << body;
    EXPECT_FALSE(result.status().message().empty()) << body;
    return;
  }
  InferenceResponse response;
  for (const auto& tensor : result->inputs) {
    int64_t count = 1;
    for (int64_t dim : tensor.shape) count *= dim;
    ASSERT_EQ(static_cast<size_t>(count), tensor.element_count()) << body;
    ASSERT_TRUE(tensor.nulls.empty() || tensor.nulls.size() == tensor.strings.size()) << body;
    response.outputs.push_back(tensor);
  }
  EXPECT_NO_THROW(json::parse(EncodeOipResponse(response))) << body;
  (void)EncodeMlflowResponse(response);
}

std::string RandomJsonValue(std::mt19937& random, int depth) {
  static const std::vector<std::string> kScalars = {"0",
                                                    "-1",
                                                    "1.5",
                                                    "1e308",
                                                    "-1e400",
                                                    "18446744073709551616",
                                                    "true",
                                                    "false",
                                                    "null",
                                                    "\"NaN\"",
                                                    "\"\"",
                                                    "\"x\\u0000\"",
                                                    "\"Infinity\"",
                                                    "\"\\ud800\"",
                                                    "3",
                                                    "-9223372036854775809",
                                                    "255",
                                                    "\"BYTES\"",
                                                    "\"FP32\"",
                                                    "\"x\""};
  std::uniform_int_distribution<int> pick(0, 9);
  const int kind = depth <= 0 ? 0 : pick(random);
  if (kind < 5) return kScalars[random() % kScalars.size()];
  std::string out;
  const int size = static_cast<int>(random() % 4);
  if (kind < 8) {
    out = "[";
    for (int i = 0; i < size; ++i) out += (i ? "," : "") + RandomJsonValue(random, depth - 1);
    return out + "]";
  }
  static const std::vector<std::string> kKeys = {"inputs",
                                                 "name",
                                                 "shape",
                                                 "datatype",
                                                 "data",
                                                 "outputs",
                                                 "parameters",
                                                 "id",
                                                 "prediction_ids",
                                                 "routing_key",
                                                 "dataframe_split",
                                                 "dataframe_records",
                                                 "instances",
                                                 "columns",
                                                 "index",
                                                 "params",
                                                 "a"};
  out = "{";
  for (int i = 0; i < size; ++i) {
    out += (i ? "," : "") + ("\"" + kKeys[random() % kKeys.size()] + "\":") + RandomJsonValue(random, depth - 1);
  }
  return out + "}";
}

std::string Mutate(std::mt19937& random, std::string body, const std::vector<std::string>& seeds) {
  static const std::string kAlphabet = "{}[]\",:0123456789.-+eE truefalsn\\\n\r\xff\xc3";
  const int edits = 1 + static_cast<int>(random() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t at = body.empty() ? 0 : random() % body.size();
    switch (random() % 6) {
      case 0:
        if (!body.empty()) body[at] = kAlphabet[random() % kAlphabet.size()];
        break;
      case 1:
        body.insert(at, 1, kAlphabet[random() % kAlphabet.size()]);
        break;
      case 2:
        body.erase(at, random() % 8);
        break;
      case 3:
        body.insert(at, body.substr(at, random() % 16));
        break;
      case 4:
        body.resize(at);
        break;
      default: {
        const std::string& other = seeds[random() % seeds.size()];
        const size_t from = other.empty() ? 0 : random() % other.size();
        body.insert(at, other.substr(from, random() % 24));
      }
    }
  }
  return body;
}

TEST(CodecFuzz, NoBodyCrashesEitherDecoder) {
  const std::vector<std::string> oip_seeds = {
      OipBody("FP32", "[2,3]", "[[1,2,3],[4,5,6]]"),
      OipBody("BYTES", "[2]", R"(["a","b"])"),
      OipBody("UINT8", "[1,2,2]", "[[[1,2],[3,4]]]"),
      R"({"id":"x","parameters":{"prediction_ids":["a"],"routing_key":"k"},"outputs":[{"name":"y"}],
          "inputs":[{"name":"a","datatype":"BOOL","shape":[1],"data":[true]}]})",
  };
  const std::vector<std::string> mlflow_seeds = {
      R"({"dataframe_split":{"columns":["a","b"],"index":[0,1],"data":[[1,"x"],[2.5,null]]}})",
      R"({"dataframe_records":[{"a":1,"b":[1,2]},{"a":null,"c":"z"}],"params":{"routing_key":"k"}})",
      R"({"instances":[[1,2],[3,4]]})",
      R"({"instances":[{"a":1},{"a":2}]})",
      R"({"inputs":{"a":[[1,2],[3,4]],"b":["x","y"]},"params":{"prediction_ids":["p","q"]}})",
  };
  const std::vector<std::string> csv_seeds = {"a,b,c\n1,\"x,y\",\n2,\"q\"\"r\",3.5\r\n", ",a,a\n1,2\n"};
  std::vector<std::string> all_seeds = oip_seeds;
  all_seeds.insert(all_seeds.end(), mlflow_seeds.begin(), mlflow_seeds.end());
  all_seeds.insert(all_seeds.end(), csv_seeds.begin(), csv_seeds.end());

  const DecodeLimits limits{.max_elements = 1 << 16, .max_tensors = 64};
  std::mt19937 random(20240611);
  int accepted = 0;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string body;
    switch (iteration % 4) {
      case 0:
        body = Mutate(random, oip_seeds[random() % oip_seeds.size()], all_seeds);
        break;
      case 1:
        body = Mutate(random, mlflow_seeds[random() % mlflow_seeds.size()], all_seeds);
        break;
      case 2:
        body = Mutate(random, csv_seeds[random() % csv_seeds.size()], all_seeds);
        break;
      default:
        body = RandomJsonValue(random, 5);
        break;
    }
    const auto oip = DecodeOipRequest(body, limits);
    ExpectWellFormed(oip, body);
    const auto mlflow_json = DecodeMlflowRequest("application/json", body, limits);
    ExpectWellFormed(mlflow_json, body);
    const auto mlflow_csv = DecodeMlflowRequest("text/csv", body, limits);
    ExpectWellFormed(mlflow_csv, body);
    accepted += oip.ok() + mlflow_json.ok();
    if (testing::Test::HasFatalFailure()) return;
  }
  // The mutations must keep some bodies valid, or the fuzz only exercises the JSON parser.
  EXPECT_GT(accepted, 500);
}

}  // namespace
}  // namespace lathe::serving
