// MLflow signatures and the binding of request tensors to a model's declared inputs.
#include "models/signature.h"

#include <cmath>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace lathe::models {
namespace {

struct TypeName {
  std::string_view name;
  DataType type;
};

// MLflow's column types (mlflow.types.DataType) and numpy dtype names of tensor specs.
constexpr TypeName kColumnTypes[] = {
    {"boolean", DataType::kBool}, {"integer", DataType::kInt32}, {"long", DataType::kInt64},
    {"float", DataType::kFp32},   {"double", DataType::kFp64},   {"string", DataType::kBytes},
    {"binary", DataType::kBytes}, {"datetime", DataType::kBytes},
};
constexpr TypeName kTensorTypes[] = {
    {"bool", DataType::kBool},     {"int8", DataType::kInt8},       {"int16", DataType::kInt16},
    {"int32", DataType::kInt32},   {"int64", DataType::kInt64},     {"uint8", DataType::kUint8},
    {"uint16", DataType::kUint16}, {"uint32", DataType::kUint32},   {"uint64", DataType::kUint64},
    {"float32", DataType::kFp32},  {"float64", DataType::kFp64},    {"str", DataType::kBytes},
    {"object", DataType::kBytes},  {"bytes", DataType::kBytes},
};

template <size_t N>
std::optional<DataType> LookUp(const TypeName (&table)[N], std::string_view name) {
  for (const auto& entry : table) {
    if (entry.name == name) return entry.type;
  }
  return std::nullopt;
}

struct ParsedSchema {
  bool is_tensor = false;
  std::vector<TensorSpec> specs;
};

Result<ParsedSchema> ParseSchema(std::string_view text, std::string_view what) {
  ParsedSchema schema;
  if (text.empty() || text == "null") return schema;
  nlohmann::json list = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) return Status::InvalidParameter(fmt::format("{} must be a JSON list of columns or tensors", what));
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& item = list[i];
    if (!item.is_object() || !item.contains("type") || !item["type"].is_string()) {
      return Status::InvalidParameter(fmt::format("{} entry {} has no \"type\"", what, i));
    }
    TensorSpec spec;
    spec.name = item.value("name", "");
    spec.required = item.value("required", true);
    const std::string type = item["type"];
    const bool is_tensor = type == "tensor";
    if (i > 0 && is_tensor != schema.is_tensor) {
      return Status::InvalidParameter(fmt::format("{} mixes columns and tensors", what));
    }
    schema.is_tensor = is_tensor;
    if (is_tensor) {
      const auto& tensor_spec = item.value("tensor-spec", nlohmann::json::object());
      spec.source_type = tensor_spec.value("dtype", "");
      auto datatype = LookUp(kTensorTypes, spec.source_type);
      if (!datatype) {
        return Status::InvalidParameter(fmt::format("{} entry {}: unsupported tensor dtype '{}'", what, i, spec.source_type));
      }
      spec.datatype = *datatype;
      const auto& shape = tensor_spec.value("shape", nlohmann::json::array());
      for (const auto& dimension : shape) {
        if (!dimension.is_number_integer()) return Status::InvalidParameter(fmt::format("{} entry {}: bad shape", what, i));
        spec.shape.push_back(dimension.get<int64_t>());
      }
      if (spec.shape.empty()) spec.shape = {-1};
      if (spec.name.empty()) spec.name = list.size() == 1 ? "input" : fmt::format("input-{}", i);
    } else {
      auto datatype = LookUp(kColumnTypes, type);
      if (!datatype) {
        return Status::InvalidParameter(fmt::format("{} column '{}': unsupported type '{}'", what, spec.name, type));
      }
      spec.datatype = *datatype;
      spec.source_type = type;
      spec.shape = {-1};
      if (spec.name.empty()) spec.name = fmt::format("{}", i);
    }
    schema.specs.push_back(std::move(spec));
  }
  return schema;
}

std::string ShapeText(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

std::string_view Kind(const Tensor& tensor) { return tensor.is_bytes() ? "strings" : "numbers"; }

// Checks that `count` numbers, `stride` apart from `values`, fit the numeric `spec`.
Status CheckNumbers(const TensorSpec& spec, std::string_view what, const double* values, size_t count, size_t stride) {
  const bool integral = IsInteger(spec.datatype) || spec.datatype == DataType::kBool;
  for (size_t i = 0; i < count; ++i) {
    const double value = values[i * stride];
    if (std::isnan(value)) {
      if (integral) {
        return Status::InvalidParameter(
            fmt::format("{} '{}' ({}) has a missing value at row {}", what, spec.name, spec.source_type, i));
      }
      continue;
    }
    if (std::isinf(value)) {
      return Status::InvalidParameter(
          fmt::format("{} '{}' has an infinite value at row {}: not allowed", what, spec.name, i));
    }
    if (integral && value != std::floor(value)) {
      return Status::InvalidParameter(
          fmt::format("{} '{}' ({}) cannot hold {} at row {}", what, spec.name, spec.source_type, value, i));
    }
    if (spec.datatype == DataType::kBool && value != 0 && value != 1) {
      return Status::InvalidParameter(
          fmt::format("{} '{}' is boolean and cannot hold {} at row {}", what, spec.name, value, i));
    }
  }
  return Status::Ok();
}

// Checks that every value of `tensor` fits `spec` and gives the tensor the spec's name and type.
Status Conform(const TensorSpec& spec, std::string_view what, Tensor& tensor) {
  const bool want_bytes = spec.datatype == DataType::kBytes;
  if (want_bytes != tensor.is_bytes()) {
    return Status::InvalidParameter(fmt::format("{} '{}' must hold {} ({}), got {}", what, spec.name,
                                                want_bytes ? "strings" : "numbers", spec.source_type, Kind(tensor)));
  }
  if (!want_bytes) {
    LATHE_RETURN_IF_ERROR(CheckNumbers(spec, what, tensor.numbers.data(), tensor.numbers.size(), 1));
  }
  tensor.name = spec.name;
  tensor.datatype = spec.datatype;
  return Status::Ok();
}

Status CheckRows(int64_t rows, int64_t expected, const std::string& name) {
  if (rows < 1) return Status::InvalidParameter(fmt::format("empty batch: input '{}' has 0 rows", name));
  if (expected >= 0 && rows != expected) {
    return Status::InvalidParameter(
        fmt::format("input '{}' has {} rows but the other inputs have {}", name, rows, expected));
  }
  return Status::Ok();
}

// Splits one [N, C] tensor into C column tensors of shape [N].
std::vector<Tensor> SplitColumns(const Tensor& matrix) {
  const int64_t rows = matrix.rows();
  const int64_t width = matrix.width();
  std::vector<Tensor> columns(width);
  for (int64_t c = 0; c < width; ++c) {
    auto& column = columns[c];
    column.datatype = matrix.datatype;
    column.shape = {rows};
    if (matrix.is_bytes()) {
      column.strings.reserve(rows);
      for (int64_t r = 0; r < rows; ++r) column.strings.push_back(matrix.strings[r * width + c]);
      if (!matrix.nulls.empty()) {
        column.nulls.reserve(rows);
        for (int64_t r = 0; r < rows; ++r) column.nulls.push_back(matrix.nulls[r * width + c]);
      }
    } else {
      column.numbers.reserve(rows);
      for (int64_t r = 0; r < rows; ++r) column.numbers.push_back(matrix.numbers[r * width + c]);
    }
  }
  return columns;
}

// Stacks [N] column tensors into one [N, C] numeric tensor.
Result<Tensor> StackColumns(std::vector<Tensor>& columns, const TensorSpec& spec) {
  Tensor matrix;
  matrix.name = spec.name;
  matrix.datatype = spec.datatype;
  const int64_t rows = columns.front().rows();
  const int64_t width = static_cast<int64_t>(columns.size());
  for (auto& column : columns) {
    LATHE_RETURN_IF_ERROR(CheckRows(column.rows(), rows, column.name));
    if (column.width() != 1) {
      return Status::InvalidParameter(fmt::format("input '{}' has shape {}: stacking into tensor '{}' needs [N] columns",
                                                  column.name, ShapeText(column.shape), spec.name));
    }
    if (column.is_bytes()) {
      return Status::InvalidParameter(fmt::format("input '{}' must hold numbers ({}), got strings", column.name,
                                                  spec.source_type));
    }
  }
  matrix.shape = {rows, width};
  matrix.numbers.resize(rows * width);
  for (int64_t c = 0; c < width; ++c) {
    for (int64_t r = 0; r < rows; ++r) matrix.numbers[r * width + c] = columns[c].numbers[r];
  }
  return matrix;
}

Result<std::vector<Tensor>> BindColumns(const std::vector<TensorSpec>& specs, std::vector<Tensor> request,
                                        bool pack_numeric_columns) {
  if (request.size() == 1 && request[0].shape.size() == 2 && request[0].width() > 1) {
    // A list of rows (MLflow "instances"/"inputs", or one OIP [N, C] tensor): columns by position.
    Tensor& matrix = request[0];
    bool named_after_a_column = false;
    for (const auto& spec : specs) named_after_a_column |= spec.name == matrix.name;
    if (!named_after_a_column) {
      if (matrix.width() != static_cast<int64_t>(specs.size())) {
        return Status::InvalidParameter(fmt::format("input '{}' has {} values per row but the model takes {} columns",
                                                    matrix.name, matrix.width(), specs.size()));
      }
      if (pack_numeric_columns && !matrix.is_bytes()) {
        LATHE_RETURN_IF_ERROR(CheckRows(matrix.rows(), -1, matrix.name));
        for (size_t c = 0; c < specs.size(); ++c) {
          LATHE_RETURN_IF_ERROR(
              CheckNumbers(specs[c], "column", matrix.numbers.data() + c, matrix.rows(), specs.size()));
        }
        matrix.name = kPackedColumns;
        matrix.datatype = DataType::kFp64;
        return request;
      }
      request = SplitColumns(matrix);
      for (size_t c = 0; c < specs.size(); ++c) request[c].name = specs[c].name;
    }
  }
  // Clients usually send exactly the signature's columns in its order: then no lookup is needed.
  bool in_spec_order = request.size() == specs.size();
  for (size_t i = 0; in_spec_order && i < specs.size(); ++i) in_spec_order = request[i].name == specs[i].name;
  std::unordered_map<std::string_view, Tensor*> by_name;
  if (!in_spec_order) {
    for (auto& tensor : request) {
      if (!by_name.emplace(tensor.name, &tensor).second) {
        return Status::InvalidParameter(fmt::format("input '{}' is given twice", tensor.name));
      }
    }
  }
  std::vector<Tensor> bound;
  bound.reserve(specs.size());
  std::vector<std::string_view> missing;
  int64_t rows = -1;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& spec = specs[i];
    Tensor* found = nullptr;
    if (in_spec_order) {
      found = &request[i];
    } else if (auto entry = by_name.find(spec.name); entry != by_name.end()) {
      found = entry->second;
    }
    if (found == nullptr) {
      if (spec.required) missing.push_back(spec.name);
      continue;
    }
    Tensor& column = *found;
    if (column.shape.size() > 2 || (column.shape.size() == 2 && column.shape[1] != 1) || column.shape.empty()) {
      return Status::InvalidParameter(
          fmt::format("column '{}' must have shape [N] or [N, 1], got {}", spec.name, ShapeText(column.shape)));
    }
    LATHE_RETURN_IF_ERROR(CheckRows(column.rows(), rows, spec.name));
    rows = column.rows();
    LATHE_RETURN_IF_ERROR(Conform(spec, "column", column));
    column.shape = {rows};
    bound.push_back(std::move(column));
  }
  if (!missing.empty()) {
    std::vector<std::string_view> expected;
    for (const auto& spec : specs) expected.push_back(spec.name);
    return Status::InvalidParameter(fmt::format("missing input column{} {} (the model takes: {})",
                                                missing.size() > 1 ? "s" : "", fmt::join(missing, ", "),
                                                fmt::join(expected, ", ")));
  }
  if (bound.size() < specs.size()) {
    // Optional columns that were not given: missing values of the right length, in spec order.
    std::vector<Tensor> complete;
    complete.reserve(specs.size());
    size_t next = 0;
    for (const auto& spec : specs) {
      if (next < bound.size() && bound[next].name == spec.name) {
        complete.push_back(std::move(bound[next++]));
        continue;
      }
      Tensor filler;
      filler.name = spec.name;
      filler.datatype = spec.datatype;
      filler.shape = {rows};
      if (spec.datatype == DataType::kBytes) {
        filler.strings.assign(rows, std::string());
        filler.nulls.assign(rows, 1);
      } else {
        filler.numbers.assign(rows, std::nan(""));
      }
      complete.push_back(std::move(filler));
    }
    bound = std::move(complete);
  }
  if (pack_numeric_columns && bound.size() > 1) {
    TensorSpec packed{std::string(kPackedColumns), DataType::kFp64, {-1, static_cast<int64_t>(bound.size())}, "float64"};
    LATHE_ASSIGN_OR_RETURN(Tensor matrix, StackColumns(bound, packed));
    bound.clear();
    bound.push_back(std::move(matrix));
  }
  return bound;
}

Result<std::vector<Tensor>> BindTensors(const std::vector<TensorSpec>& specs, std::vector<Tensor> request) {
  if (specs.size() == 1) {
    const TensorSpec& spec = specs[0];
    if (request.size() > 1) {
      // Named columns (MLflow dataframe formats): stacked in request order.
      LATHE_ASSIGN_OR_RETURN(Tensor matrix, StackColumns(request, spec));
      request.clear();
      request.push_back(std::move(matrix));
    }
    Tensor& tensor = request.front();
    LATHE_RETURN_IF_ERROR(CheckRows(tensor.rows(), -1, tensor.name));
    int64_t expected_width = 1;
    bool width_known = true;
    for (size_t i = 1; i < spec.shape.size(); ++i) {
      if (spec.shape[i] < 0) width_known = false;
      expected_width *= spec.shape[i];
    }
    if (width_known && tensor.width() != expected_width) {
      return Status::InvalidParameter(fmt::format("input '{}' has shape {} but the model takes {}", tensor.name,
                                                  ShapeText(tensor.shape), ShapeText(spec.shape)));
    }
    LATHE_RETURN_IF_ERROR(Conform(spec, "input", tensor));
    return request;
  }
  std::vector<Tensor> bound;
  int64_t rows = -1;
  for (const auto& spec : specs) {
    Tensor* found = nullptr;
    for (auto& tensor : request) {
      if (tensor.name == spec.name) found = &tensor;
    }
    if (found == nullptr) return Status::InvalidParameter(fmt::format("missing input tensor '{}'", spec.name));
    LATHE_RETURN_IF_ERROR(CheckRows(found->rows(), rows, spec.name));
    rows = found->rows();
    LATHE_RETURN_IF_ERROR(Conform(spec, "input", *found));
    bound.push_back(std::move(*found));
  }
  return bound;
}

}  // namespace

std::string_view InputModeName(InputMode mode) { return mode == InputMode::kTensor ? "tensor" : "columns"; }

Result<Signature> ParseMlflowSignature(std::string_view inputs_json, std::string_view outputs_json) {
  Signature signature;
  LATHE_ASSIGN_OR_RETURN(auto inputs, ParseSchema(inputs_json, "inputs"));
  LATHE_ASSIGN_OR_RETURN(auto outputs, ParseSchema(outputs_json, "outputs"));
  signature.has_inputs = !inputs.specs.empty();
  signature.input_mode = inputs.is_tensor ? InputMode::kTensor : InputMode::kColumns;
  signature.inputs = std::move(inputs.specs);
  signature.outputs = std::move(outputs.specs);
  return signature;
}

Result<std::vector<Tensor>> BindInputs(InputMode mode, const std::vector<TensorSpec>& inputs,
                                       std::vector<Tensor> request, bool pack_numeric_columns) {
  if (request.empty()) return Status::InvalidParameter("the request has no inputs");
  if (inputs.empty()) return Status::Internal("the model declares no inputs");
  if (mode == InputMode::kTensor) return BindTensors(inputs, std::move(request));
  bool all_numeric = true;
  for (const auto& spec : inputs) all_numeric &= spec.datatype != DataType::kBytes;
  return BindColumns(inputs, std::move(request), pack_numeric_columns && all_numeric);
}

}  // namespace lathe::models
