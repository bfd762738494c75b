// MLflow signature parsing and the binding of request tensors to declared inputs.
#include "models/signature.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lathe::models {
namespace {

using ::testing::HasSubstr;

Tensor Column(std::string name, std::vector<double> values) {
  Tensor tensor;
  tensor.name = std::move(name);
  tensor.datatype = DataType::kFp64;
  tensor.shape = {static_cast<int64_t>(values.size())};
  tensor.numbers = std::move(values);
  return tensor;
}

Tensor Strings(std::string name, std::vector<std::string> values) {
  Tensor tensor;
  tensor.name = std::move(name);
  tensor.datatype = DataType::kBytes;
  tensor.shape = {static_cast<int64_t>(values.size())};
  tensor.strings = std::move(values);
  return tensor;
}

Tensor Matrix(std::string name, int64_t rows, int64_t cols, std::vector<double> values) {
  Tensor tensor;
  tensor.name = std::move(name);
  tensor.shape = {rows, cols};
  tensor.numbers = std::move(values);
  return tensor;
}

TEST(SignatureTest, ParsesMlflowColumnsAndTensors) {
  auto columns = ParseMlflowSignature(
      R"([{"type": "double", "name": "age", "required": true}, {"type": "string", "name": "city", "required": false}])",
      R"([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}])");
  ASSERT_TRUE(columns.ok()) << columns.status().message();
  EXPECT_TRUE(columns->has_inputs);
  EXPECT_EQ(columns->input_mode, InputMode::kColumns);
  ASSERT_EQ(columns->inputs.size(), 2u);
  EXPECT_EQ(columns->inputs[0].datatype, DataType::kFp64);
  EXPECT_EQ(columns->inputs[1].datatype, DataType::kBytes);
  EXPECT_FALSE(columns->inputs[1].required);
  ASSERT_EQ(columns->outputs.size(), 1u);
  EXPECT_EQ(columns->outputs[0].datatype, DataType::kFp32);

  auto tensor = ParseMlflowSignature(R"([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}])", "");
  ASSERT_TRUE(tensor.ok());
  EXPECT_EQ(tensor->input_mode, InputMode::kTensor);
  EXPECT_EQ(tensor->inputs[0].shape, (std::vector<int64_t>{-1, 4}));

  auto none = ParseMlflowSignature("", "");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_inputs);
}

TEST(SignatureTest, RejectsBadSignatures) {
  EXPECT_FALSE(ParseMlflowSignature("not json", "").ok());
  EXPECT_THAT(ParseMlflowSignature(R"([{"type": "decimal", "name": "x"}])", "").status().message(),
              HasSubstr("unsupported type 'decimal'"));
  EXPECT_THAT(ParseMlflowSignature(R"([{"type": "double", "name": "x"}, {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}])", "")
                  .status()
                  .message(),
              HasSubstr("mixes columns and tensors"));
}

std::vector<TensorSpec> TwoColumns() {
  return {{"a", DataType::kFp64, {-1}, "double", true}, {"b", DataType::kInt64, {-1}, "long", true}};
}

TEST(BindInputsTest, ColumnsByNameInSpecOrderIgnoringExtras) {
  std::vector<Tensor> request = {Column("b", {1, 2}), Column("extra", {9, 9}), Column("a", {0.5, 1.5})};
  auto bound = BindInputs(InputMode::kColumns, TwoColumns(), std::move(request));
  ASSERT_TRUE(bound.ok()) << bound.status().message();
  ASSERT_EQ(bound->size(), 2u);
  EXPECT_EQ((*bound)[0].name, "a");
  EXPECT_EQ((*bound)[0].numbers, (std::vector<double>{0.5, 1.5}));
  EXPECT_EQ((*bound)[1].name, "b");
  EXPECT_EQ((*bound)[1].datatype, DataType::kInt64);
}

TEST(BindInputsTest, ARowMatrixSplitsIntoColumnsByPosition) {
  std::vector<Tensor> request = {Matrix("input", 2, 2, {0.5, 1, 1.5, 2})};
  auto bound = BindInputs(InputMode::kColumns, TwoColumns(), std::move(request));
  ASSERT_TRUE(bound.ok()) << bound.status().message();
  EXPECT_EQ((*bound)[0].numbers, (std::vector<double>{0.5, 1.5}));
  EXPECT_EQ((*bound)[1].numbers, (std::vector<double>{1, 2}));
}

TEST(BindInputsTest, ErrorsNameTheColumn) {
  auto missing = BindInputs(InputMode::kColumns, TwoColumns(), {Column("a", {1})});
  EXPECT_THAT(missing.status().message(), HasSubstr("missing input column b"));
  auto fractional = BindInputs(InputMode::kColumns, TwoColumns(), {Column("a", {1}), Column("b", {1.5})});
  EXPECT_THAT(fractional.status().message(), HasSubstr("'b'"));
  auto strings = BindInputs(InputMode::kColumns, TwoColumns(), {Strings("a", {"x"}), Column("b", {1})});
  EXPECT_THAT(strings.status().message(), HasSubstr("column 'a' must hold numbers"));
  auto rows = BindInputs(InputMode::kColumns, TwoColumns(), {Column("a", {1, 2}), Column("b", {1})});
  EXPECT_THAT(rows.status().message(), HasSubstr("rows"));
  auto empty = BindInputs(InputMode::kColumns, TwoColumns(), {Column("a", {}), Column("b", {})});
  EXPECT_THAT(empty.status().message(), HasSubstr("empty batch"));
  auto infinite = BindInputs(InputMode::kColumns, TwoColumns(), {Column("a", {INFINITY}), Column("b", {1})});
  EXPECT_THAT(infinite.status().message(), HasSubstr("infinite"));
  auto wide = BindInputs(InputMode::kColumns, TwoColumns(), {Matrix("input", 1, 3, {1, 2, 3})});
  EXPECT_THAT(wide.status().message(), HasSubstr("3 values per row but the model takes 2 columns"));
}

TEST(BindInputsTest, NanIsAMissingFloatButNotAMissingInteger) {
  auto ok = BindInputs(InputMode::kColumns, TwoColumns(), {Column("a", {NAN}), Column("b", {1})});
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_TRUE(std::isnan((*ok)[0].numbers[0]));
  auto bad = BindInputs(InputMode::kColumns, TwoColumns(), {Column("a", {1}), Column("b", {NAN})});
  EXPECT_THAT(bad.status().message(), HasSubstr("missing value"));
}

TEST(BindInputsTest, OptionalColumnsAreFilledWithMissingValues) {
  std::vector<TensorSpec> specs = {{"a", DataType::kFp64, {-1}, "double", true},
                                   {"city", DataType::kBytes, {-1}, "string", false}};
  auto bound = BindInputs(InputMode::kColumns, specs, {Column("a", {1, 2})});
  ASSERT_TRUE(bound.ok()) << bound.status().message();
  ASSERT_EQ(bound->size(), 2u);
  EXPECT_EQ((*bound)[1].strings.size(), 2u);
  EXPECT_TRUE((*bound)[1].is_null(0));
}

TEST(BindInputsTest, TensorModeTakesOneMatrixOrStacksColumns) {
  std::vector<TensorSpec> specs = {{"input", DataType::kFp32, {-1, 3}, "float32", true}};
  auto matrix = BindInputs(InputMode::kTensor, specs, {Matrix("x", 2, 3, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(matrix.ok()) << matrix.status().message();
  EXPECT_EQ((*matrix)[0].name, "input");
  auto stacked = BindInputs(InputMode::kTensor, specs, {Column("p", {1, 4}), Column("q", {2, 5}), Column("r", {3, 6})});
  ASSERT_TRUE(stacked.ok()) << stacked.status().message();
  EXPECT_EQ((*stacked)[0].numbers, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  auto narrow = BindInputs(InputMode::kTensor, specs, {Matrix("x", 1, 2, {1, 2})});
  EXPECT_THAT(narrow.status().message(), HasSubstr("has shape [1, 2] but the model takes [-1, 3]"));
}

}  // namespace
}  // namespace lathe::models
