// Inference protocol codecs: simdjson DOM decoding of OIP v2 and MLflow bodies, a CSV reader, and
// direct-to-string JSON encoding of responses.
#include "serving/codec.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <span>

#include "core/json_text.h"

namespace lathe::serving {
namespace {

using models::DataType;
using models::Tensor;
using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ----------------------------------------------------------------------------------------------
// Text helpers

void AppendShortest(std::string& out, double value) {
  char buffer[32];
  auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
  out.append(buffer, end);
}

template <typename Integer>
void AppendInteger(std::string& out, Integer value) {
  char buffer[24];
  auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
  out.append(buffer, end);
}

std::string ShapeText(std::span<const int64_t> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    AppendInteger(text, shape[i]);
  }
  return text + "]";
}

// A JSON value as an error message shows it: strings quoted and cut short, containers by kind.
std::string DescribeValue(element value) {
  std::string text;
  switch (value.type()) {
    case element_type::STRING: {
      std::string_view s = value.get_string().value_unsafe();
      constexpr size_t kShown = 40;
      text = "\"" + std::string(s.substr(0, kShown)) + (s.size() > kShown ? "...\"" : "\"");
      return text;
    }
    case element_type::INT64:
      AppendInteger(text, value.get_int64().value_unsafe());
      return text;
    case element_type::UINT64:
      AppendInteger(text, value.get_uint64().value_unsafe());
      return text;
    case element_type::DOUBLE:
      AppendShortest(text, value.get_double().value_unsafe());
      return text;
    case element_type::BOOL:
      return value.get_bool().value_unsafe() ? "true" : "false";
    case element_type::NULL_VALUE:
      return "null";
    case element_type::ARRAY:
      return "a list";
    case element_type::OBJECT:
      return "an object";
  }
  return "a value";
}

// Python's type() of a JSON value, for MLflow's messages.
std::string_view PythonTypeName(element value) {
  switch (value.type()) {
    case element_type::ARRAY:
      return "<class 'list'>";
    case element_type::OBJECT:
      return "<class 'dict'>";
    case element_type::STRING:
      return "<class 'str'>";
    case element_type::INT64:
    case element_type::UINT64:
      return "<class 'int'>";
    case element_type::DOUBLE:
      return "<class 'float'>";
    case element_type::BOOL:
      return "<class 'bool'>";
    case element_type::NULL_VALUE:
      return "<class 'NoneType'>";
  }
  return "<class 'object'>";
}

// Python's repr() of a str, so that MLflow's messages listing keys read the same here.
std::string PythonRepr(std::string_view text) {
  char quote = text.find('\'') != std::string_view::npos && text.find('"') == std::string_view::npos ? '"' : '\'';
  std::string out(1, quote);
  for (char c : text) {
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out + quote;
}

// ----------------------------------------------------------------------------------------------
// JSON parsing

// Bodies above this size get a parser of their own, so that one huge request does not leave its
// buffers pinned in a thread's reusable parser.
constexpr size_t kRetainedParserBytes = 8 << 20;

// Parses `body` and hands its root to `use`. Small bodies reuse a per-thread parser and padded
// copy, so a steady stream of requests allocates nothing here.
template <typename Use>
Result<InferenceRequest> WithParsedJson(std::string_view body, Use&& use) {
  thread_local simdjson::dom::parser shared_parser;
  thread_local std::string shared_buffer;
  const bool large = body.size() > kRetainedParserBytes;
  simdjson::dom::parser own_parser;
  std::string own_buffer;
  simdjson::dom::parser& parser = large ? own_parser : shared_parser;
  std::string& buffer = large ? own_buffer : shared_buffer;
  buffer.assign(body);
  buffer.resize(body.size() + simdjson::SIMDJSON_PADDING);
  element root;
  if (auto error = parser.parse(buffer.data(), body.size(), /*realloc_if_needed=*/false).get(root)) {
    return Status::BadRequest(std::string("malformed JSON: ") + simdjson::error_message(error));
  }
  return use(root);
}

// Where nested data stopped matching its dims: `path` like "[1][0]" and what is wrong there.
// An empty `problem` means the leaf callback refused the value at `path`.
struct NestFailure {
  std::string path;
  std::string problem;
};

// Calls `leaf` on every value of `value`, which must be lists nested exactly as `dims` (the last
// dim counting values), or a single value when `dims` is empty. Stops at the first mismatch.
template <typename Leaf>
bool ForEachLeaf(element value, std::span<const uint64_t> dims, Leaf& leaf, NestFailure* failure) {
  if (dims.empty()) {
    if (value.type() == element_type::ARRAY) {
      failure->problem = "is a list, expected a value";
      return false;
    }
    return leaf(value);
  }
  simdjson::dom::array list;
  if (value.get_array().get(list)) {
    failure->problem = "is a value, expected a list";
    return false;
  }
  if (const uint64_t size = list.size(); size != dims[0]) {
    failure->problem = fmt::format("has {} values, expected {}", size, dims[0]);
    return false;
  }
  size_t index = 0;
  for (element item : list) {
    if (!ForEachLeaf(item, dims.subspan(1), leaf, failure)) {
      failure->path.insert(0, fmt::format("[{}]", index));
      return false;
    }
    ++index;
  }
  return true;
}

// Names a tensor in error messages ("input 'x'", "column 'a'", "'instances'"); the text is only
// built when an error needs it.
struct Label {
  std::string_view noun;  // "input", "column", or empty for a whole request field
  std::string_view name;

  std::string Text() const { return noun.empty() ? fmt::format("'{}'", name) : fmt::format("{} '{}'", noun, name); }
};

// Counts values against DecodeLimits as tensors are sized, before anything is allocated for them.
class Budget {
 public:
  explicit Budget(const DecodeLimits& limits) : limits_(limits) {}

  // Takes `rows` times the product of `dims` values for one more tensor named by `label`.
  Status Take(const Label& label, uint64_t rows, std::span<const uint64_t> dims) {
    if (++tensors_ > limits_.max_tensors) {
      return Status::LimitExceeded(fmt::format("the request has more than {} tensors", limits_.max_tensors));
    }
    const uint64_t left = limits_.max_elements - std::min(elements_, limits_.max_elements);
    uint64_t count = rows;
    bool over = count > left;
    for (uint64_t dim : dims) {
      if (over) break;
      if (dim != 0 && count > left / dim) over = true;
      count *= dim;
    }
    if (over || count > left) {
      return Status::LimitExceeded(
          fmt::format("{}: too many values (the limit is {} values per request)", label.Text(), limits_.max_elements));
    }
    elements_ += count;
    return Status::Ok();
  }

  // The most rows of `columns` cells that fit.
  uint64_t max_rows(uint64_t columns) const { return columns == 0 ? 0 : limits_.max_elements / columns; }

  // Checks that `rows` x `columns` cells fit before a table of them is allocated.
  Status CheckTable(uint64_t rows, uint64_t columns) const {
    if (tensors_ + columns > limits_.max_tensors) {
      return Status::LimitExceeded(fmt::format("the request has more than {} columns", limits_.max_tensors));
    }
    if (columns != 0 && rows > limits_.max_elements / columns) {
      return Status::LimitExceeded(fmt::format("the request has more than {} values", limits_.max_elements));
    }
    return Status::Ok();
  }

 private:
  const DecodeLimits& limits_;
  uint64_t elements_ = 0;
  uint64_t tensors_ = 0;
};

Status EmptyBatch(std::string_view label) {
  return Status::InvalidParameter(fmt::format("empty batch: {} has 0 rows", label));
}

// Reads prediction_ids and routing_key from OIP `parameters` or MLflow `params`; other keys are
// the model's business and pass unread.
Status ReadRequestParameters(simdjson::dom::object parameters, std::string_view label, InferenceRequest* request) {
  for (auto [key, value] : parameters) {
    if (key == "prediction_ids") {
      simdjson::dom::array ids;
      bool ok = !value.get_array().get(ids);
      if (ok) {
        request->prediction_ids.clear();
        request->prediction_ids.reserve(ids.size());
        for (element id : ids) {
          std::string_view text;
          if (id.get_string().get(text)) {
            ok = false;
            break;
          }
          request->prediction_ids.emplace_back(text);
        }
      }
      if (!ok) return Status::InvalidParameter(fmt::format("{}.prediction_ids must be a list of strings", label));
    } else if (key == "routing_key") {
      std::string_view text;
      if (value.get_string().get(text)) {
        return Status::InvalidParameter(fmt::format("{}.routing_key must be a string", label));
      }
      request->routing_key.assign(text);
    }
  }
  return Status::Ok();
}

Status CheckUniqueNames(const std::vector<Tensor>& tensors, std::string_view kind) {
  std::vector<std::string_view> names;
  names.reserve(tensors.size());
  for (const auto& tensor : tensors) names.push_back(tensor.name);
  std::sort(names.begin(), names.end());
  auto duplicate = std::adjacent_find(names.begin(), names.end());
  if (duplicate != names.end()) return Status::InvalidParameter(fmt::format("{} '{}' appears twice", kind, *duplicate));
  return Status::Ok();
}

// ----------------------------------------------------------------------------------------------
// OIP v2

// The integral range of an OIP integer datatype, as doubles: lowest <= v < end.
struct IntegerRange {
  double lowest;
  double end;
};

IntegerRange RangeOf(DataType type) {
  switch (type) {
    case DataType::kInt8:
      return {-128.0, 128.0};
    case DataType::kInt16:
      return {-32768.0, 32768.0};
    case DataType::kInt32:
      return {-2147483648.0, 2147483648.0};
    case DataType::kInt64:
      return {-9223372036854775808.0, 9223372036854775808.0};
    case DataType::kUint8:
      return {0.0, 256.0};
    case DataType::kUint16:
      return {0.0, 65536.0};
    case DataType::kUint32:
      return {0.0, 4294967296.0};
    default:
      return {0.0, 18446744073709551616.0};
  }
}

// Converts one OIP value to the double a numeric tensor holds; false when `type` cannot hold it.
bool NumericValue(DataType type, element value, double* out) {
  switch (value.type()) {
    case element_type::BOOL:
      if (type != DataType::kBool) return false;
      *out = value.get_bool().value_unsafe() ? 1.0 : 0.0;
      return true;
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: {
      if (type == DataType::kBool) return false;
      double number;
      if (value.type() == element_type::INT64) {
        const int64_t integer = value.get_int64().value_unsafe();
        if (type == DataType::kInt64) {
          *out = static_cast<double>(integer);
          return true;
        }
        number = static_cast<double>(integer);  // exact for every narrower type's range
      } else if (value.type() == element_type::UINT64) {
        if (type == DataType::kUint64) {
          *out = static_cast<double>(value.get_uint64().value_unsafe());
          return true;
        }
        number = static_cast<double>(value.get_uint64().value_unsafe());
      } else {
        number = value.get_double().value_unsafe();
      }
      if (type == DataType::kFp64) {
        *out = number;
        return true;
      }
      if (type == DataType::kFp32) {
        const float narrowed = static_cast<float>(number);
        if (!std::isfinite(narrowed)) return false;
        *out = narrowed;
        return true;
      }
      const IntegerRange range = RangeOf(type);
      if (!(number >= range.lowest && number < range.end) || std::trunc(number) != number) return false;
      *out = number;
      return true;
    }
    case element_type::STRING: {
      if (!models::IsFloat(type)) return false;
      const std::string_view text = value.get_string().value_unsafe();
      if (text == "NaN") {
        *out = kNaN;
      } else if (text == "Infinity") {
        *out = std::numeric_limits<double>::infinity();
      } else if (text == "-Infinity") {
        *out = -std::numeric_limits<double>::infinity();
      } else {
        return false;
      }
      return true;
    }
    default:
      return false;
  }
}

struct OipInputFields {
  std::string_view name;
  element shape, datatype, data;
  bool has_name = false, has_shape = false, has_datatype = false, has_data = false;
};

Status DecodeOipInput(element item, size_t position, Budget& budget, Tensor* tensor) {
  simdjson::dom::object object;
  if (item.get_object().get(object)) return Status::BadRequest("'inputs' must be a list of objects");
  OipInputFields fields;
  for (auto [key, value] : object) {
    if (key == "name") {
      if (value.get_string().get(fields.name))
        return Status::BadRequest(fmt::format("input {}: 'name' must be a string", position));
      fields.has_name = true;
    } else if (key == "shape") {
      fields.shape = value;
      fields.has_shape = true;
    } else if (key == "datatype") {
      fields.datatype = value;
      fields.has_datatype = true;
    } else if (key == "data") {
      fields.data = value;
      fields.has_data = true;
    }
  }
  if (!fields.has_name) return Status::BadRequest(fmt::format("input {}: missing 'name'", position));
  const std::string_view name = fields.name;
  tensor->name.assign(name);
  if (!fields.has_shape) return Status::BadRequest(fmt::format("input '{}': missing 'shape'", name));
  if (!fields.has_datatype) return Status::BadRequest(fmt::format("input '{}': missing 'datatype'", name));
  if (!fields.has_data) return Status::BadRequest(fmt::format("input '{}': missing 'data'", name));

  std::string_view datatype_name;
  if (fields.datatype.get_string().get(datatype_name)) {
    return Status::BadRequest(fmt::format("input '{}': 'datatype' must be a string", name));
  }
  const auto datatype = models::ParseDataType(datatype_name);
  if (!datatype)
    return Status::InvalidParameter(fmt::format("input '{}': unsupported datatype '{}'", name, datatype_name));
  tensor->datatype = *datatype;

  simdjson::dom::array shape;
  if (fields.shape.get_array().get(shape)) {
    return Status::BadRequest(fmt::format("input '{}': 'shape' must be a list of integers", name));
  }
  std::vector<uint64_t> dims;
  dims.reserve(shape.size());
  for (element dim : shape) {
    int64_t value;
    if (dim.get_int64().get(value) || value < 0) {
      if (dim.type() == element_type::UINT64) {
        return Status::LimitExceeded(
            fmt::format("input '{}': shape dimension {} is too large", name, DescribeValue(dim)));
      }
      return Status::BadRequest(fmt::format("input '{}': 'shape' must be a list of non-negative integers", name));
    }
    dims.push_back(static_cast<uint64_t>(value));
  }
  tensor->shape.assign(dims.begin(), dims.end());
  if (dims.empty()) return Status::InvalidParameter(fmt::format("input '{}': shape [] has no batch dimension", name));
  if (dims[0] == 0) return EmptyBatch(fmt::format("input '{}'", name));
  if (std::find(dims.begin(), dims.end(), 0) != dims.end()) {
    return Status::InvalidParameter(fmt::format("input '{}': shape {} has no values", name, ShapeText(tensor->shape)));
  }
  LATHE_RETURN_IF_ERROR(budget.Take({"input", name}, dims[0], std::span(dims).subspan(1)));
  uint64_t count = 1;
  for (uint64_t dim : dims) count *= dim;  // within the budget, so no overflow

  if (fields.data.type() != element_type::ARRAY) {
    return Status::BadRequest(fmt::format("input '{}': 'data' must be a list", name));
  }
  // The data may nest fewer levels than the shape has; its innermost lists then hold the rest of
  // the shape flattened ("flat" data being the case of one level).
  size_t depth = 0;
  for (element probe = fields.data; probe.type() == element_type::ARRAY;) {
    ++depth;
    auto list = probe.get_array().value_unsafe();
    if (list.begin() == list.end()) break;
    probe = *list.begin();
  }
  if (depth > dims.size()) {
    return Status::InvalidParameter(fmt::format("input '{}': data is nested {} deep, shape {} has {} dimensions", name,
                                                depth, ShapeText(tensor->shape), dims.size()));
  }
  std::vector<uint64_t> walk(dims.begin(), dims.begin() + depth);
  for (size_t i = depth; i < dims.size(); ++i) walk.back() *= dims[i];

  element refused;
  NestFailure failure;
  bool ok;
  if (tensor->is_bytes()) {
    tensor->strings.reserve(count);
    auto leaf = [&](element value) {
      std::string_view text;
      if (value.get_string().get(text)) {
        refused = value;
        return false;
      }
      tensor->strings.emplace_back(text);
      return true;
    };
    ok = ForEachLeaf(fields.data, walk, leaf, &failure);
  } else {
    tensor->numbers.reserve(count);
    auto leaf = [&](element value) {
      double number;
      if (!NumericValue(*datatype, value, &number)) {
        refused = value;
        return false;
      }
      tensor->numbers.push_back(number);
      return true;
    };
    ok = ForEachLeaf(fields.data, walk, leaf, &failure);
  }
  if (ok) return Status::Ok();
  if (failure.problem.empty()) {
    return Status::InvalidParameter(
        fmt::format("input '{}': datatype {} cannot hold {}", name, datatype_name, DescribeValue(refused)));
  }
  if (depth == 1 && failure.path.empty()) {
    return Status::InvalidParameter(fmt::format("input '{}': shape {} needs {} values, data has {}", name,
                                                ShapeText(tensor->shape), count, fields.data.get_array().size()));
  }
  return Status::InvalidParameter(
      fmt::format("input '{}': data{} {} (shape {})", name, failure.path, failure.problem, ShapeText(tensor->shape)));
}

Result<InferenceRequest> DecodeOipRoot(element root, const DecodeLimits& limits) {
  simdjson::dom::object object;
  if (root.get_object().get(object)) return Status::BadRequest("the request body must be a JSON object");
  InferenceRequest request;
  element inputs;
  bool has_inputs = false;
  for (auto [key, value] : object) {
    if (key == "id") {
      std::string_view id;
      if (value.get_string().get(id)) return Status::BadRequest("'id' must be a string");
      request.id.assign(id);
    } else if (key == "inputs") {
      inputs = value;
      has_inputs = true;
    } else if (key == "outputs") {
      simdjson::dom::array outputs;
      if (value.get_array().get(outputs)) return Status::BadRequest("'outputs' must be a list of objects");
      request.requested_outputs.reserve(outputs.size());
      for (element output : outputs) {
        std::string_view name;
        if (output.at_key("name").get_string().get(name)) {
          return Status::BadRequest("each of 'outputs' must be an object with a string 'name'");
        }
        request.requested_outputs.emplace_back(name);
      }
    } else if (key == "parameters") {
      simdjson::dom::object parameters;
      if (value.get_object().get(parameters)) return Status::BadRequest("'parameters' must be an object");
      LATHE_RETURN_IF_ERROR(ReadRequestParameters(parameters, "parameters", &request));
    }
  }
  if (!has_inputs) return Status::BadRequest("missing 'inputs'");
  simdjson::dom::array list;
  if (inputs.get_array().get(list)) return Status::BadRequest("'inputs' must be a list of objects");
  const size_t count = list.size();
  if (count == 0) return Status::InvalidParameter("'inputs' is empty");
  if (count > limits.max_tensors) {
    return Status::LimitExceeded(fmt::format("the request has more than {} tensors", limits.max_tensors));
  }
  Budget budget(limits);
  request.inputs.resize(count);
  size_t position = 0;
  for (element item : list) {
    LATHE_RETURN_IF_ERROR(DecodeOipInput(item, position, budget, &request.inputs[position]));
    ++position;
  }
  LATHE_RETURN_IF_ERROR(CheckUniqueNames(request.inputs, "input"));
  return request;
}

// ----------------------------------------------------------------------------------------------
// MLflow: columns of JSON cells -> tensors

constexpr std::string_view kRequiredInputFormat =
    "The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', "
    "'dataframe_records', 'instances', 'inputs'}";
constexpr std::string_view kScoringProtocolChangeInfo =
    "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are seeing this error, "
    "you are likely using an outdated scoring request format. To resolve the error, either update your request "
    "format or adjust your MLflow Model's requirements file to specify an older version of MLflow (for example, "
    "change the 'mlflow' requirement specifier to 'mlflow==1.30.0'). If you are making a request using the MLflow "
    "client (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 in order to use "
    "the new request format. For more information about the updated MLflow Model scoring protocol in MLflow 2.0, "
    "see https://mlflow.org/docs/latest/models.html#deploy-mlflow-models.";
constexpr std::string_view kTfServingFormatError =
    "Failed to parse data as TF serving input. Ensure that the input is a valid JSON-formatted string that conforms "
    "to the request body for TF serving's Predict API as documented at "
    "https://www.tensorflow.org/tfx/serving/api_rest#request_format_2";
constexpr std::string_view kTfServingLengthError =
    "Failed to parse data as TF serving input. The length of values for each input/column name are not the same";

Status SplitError(std::string_view problem) {
  return Status::BadRequest(fmt::format(
      "Invalid input. Provided dataframe_split field is not a valid dataframe representation in 'split' format. "
      "Error: '{}'",
      problem));
}

Status RecordsError(std::string_view problem) {
  return Status::BadRequest(fmt::format(
      "Invalid input. Provided dataframe_records field is not a valid dataframe representation in 'records' "
      "format. Error: '{}'",
      problem));
}

// One cell of a table: a JSON value, or nothing (a record without that key).
struct Cell {
  element value;
  bool present = false;
};

// What the leaves of a column hold, to choose its datatype the way pandas infers a dtype.
struct LeafKinds {
  bool integer = false;  // JSON integers that fit int64
  bool real = false;     // other numbers
  bool text = false;
  bool boolean = false;
  bool null = false;
};

// Builds the tensor [rows, ...] of one column from its cells: nested lists give the trailing
// dims (every row alike); numbers -> INT64 when all are JSON integers and none is missing, else
// FP64; strings -> BYTES; true/false -> BOOL; null or absent -> NaN or a null string.
Status BuildColumn(const Label& label, std::string_view name, std::span<const Cell> cells, Budget& budget,
                   Tensor* tensor) {
  const size_t rows = cells.size();
  if (rows == 0) return EmptyBatch(label.Text());
  std::vector<uint64_t> dims;
  size_t model_row = 0;
  for (; model_row < rows; ++model_row) {
    if (cells[model_row].present && cells[model_row].value.type() != element_type::NULL_VALUE) break;
  }
  if (model_row < rows) {
    for (element probe = cells[model_row].value; probe.type() == element_type::ARRAY;) {
      auto list = probe.get_array().value_unsafe();
      dims.push_back(list.size());
      if (dims.back() == 0)
        return Status::InvalidParameter(fmt::format("{}: row {} has an empty list", label.Text(), model_row));
      probe = *list.begin();
    }
  }
  LATHE_RETURN_IF_ERROR(budget.Take(label, rows, dims));

  LeafKinds kinds;
  element refused;
  auto classify = [&](element value) {
    switch (value.type()) {
      case element_type::INT64:
        kinds.integer = true;
        return true;
      case element_type::UINT64:
      case element_type::DOUBLE:
        kinds.real = true;
        return true;
      case element_type::STRING:
        kinds.text = true;
        return true;
      case element_type::BOOL:
        kinds.boolean = true;
        return true;
      case element_type::NULL_VALUE:
        kinds.null = true;
        return true;
      default:
        refused = value;
        return false;
    }
  };
  for (size_t row = 0; row < rows; ++row) {
    const Cell& cell = cells[row];
    if (!cell.present || cell.value.type() == element_type::NULL_VALUE) {
      if (!dims.empty()) return Status::InvalidParameter(fmt::format("{}: row {} has no value", label.Text(), row));
      kinds.null = true;
      continue;
    }
    NestFailure failure;
    if (!ForEachLeaf(cell.value, dims, classify, &failure)) {
      if (failure.problem.empty()) {
        return Status::InvalidParameter(fmt::format("{}: row {}{} is {}, which a column cannot hold", label.Text(), row,
                                                    failure.path, DescribeValue(refused)));
      }
      return Status::InvalidParameter(fmt::format("{}: row {}{} {} (row {} has shape {})", label.Text(), row,
                                                  failure.path, failure.problem, model_row,
                                                  ShapeText(std::vector<int64_t>(dims.begin(), dims.end()))));
    }
  }
  const bool number = kinds.integer || kinds.real;
  if (number + kinds.text + kinds.boolean > 1) {
    std::vector<std::string_view> mixed;
    if (number) mixed.push_back("numbers");
    if (kinds.text) mixed.push_back("strings");
    if (kinds.boolean) mixed.push_back("booleans");
    return Status::InvalidParameter(fmt::format("{} mixes {}", label.Text(), fmt::join(mixed, " and ")));
  }

  tensor->name.assign(name);
  tensor->shape.reserve(dims.size() + 1);
  tensor->shape.push_back(static_cast<int64_t>(rows));
  uint64_t count = rows;
  for (uint64_t dim : dims) {
    tensor->shape.push_back(static_cast<int64_t>(dim));
    count *= dim;
  }
  if (kinds.text) {
    tensor->datatype = DataType::kBytes;
    tensor->strings.reserve(count);
    if (kinds.null) tensor->nulls.reserve(count);
  } else {
    tensor->datatype = kinds.boolean                                ? DataType::kBool
                       : kinds.real || kinds.null || !kinds.integer ? DataType::kFp64
                                                                    : DataType::kInt64;
    tensor->numbers.reserve(count);
  }
  auto fill = [&](element value) {
    const bool is_null = value.type() == element_type::NULL_VALUE;
    if (tensor->is_bytes()) {
      if (is_null) {
        tensor->strings.emplace_back();
      } else {
        tensor->strings.emplace_back(value.get_string().value_unsafe());
      }
      if (kinds.null) tensor->nulls.push_back(is_null);
    } else if (is_null) {
      tensor->numbers.push_back(kNaN);
    } else if (value.type() == element_type::BOOL) {
      tensor->numbers.push_back(value.get_bool().value_unsafe() ? 1.0 : 0.0);
    } else {
      tensor->numbers.push_back(value.get_double().value_unsafe());
    }
    return true;
  };
  for (const Cell& cell : cells) {
    NestFailure unused;
    if (cell.present) {
      ForEachLeaf(cell.value, dims, fill, &unused);
    } else if (tensor->is_bytes()) {
      tensor->strings.emplace_back();
      tensor->nulls.push_back(1);
    } else {
      tensor->numbers.push_back(kNaN);
    }
  }
  return Status::Ok();
}

// A table of cells, column-major, with its column names.
struct CellTable {
  std::vector<std::string> names;
  size_t rows = 0;
  std::vector<Cell> cells;  // cells[column * rows + row]

  Status ToTensors(Budget& budget, std::vector<Tensor>* tensors) {
    tensors->resize(names.size());
    for (size_t column = 0; column < names.size(); ++column) {
      LATHE_RETURN_IF_ERROR(BuildColumn({"column", names[column]}, names[column],
                                        std::span(cells).subspan(column * rows, rows), budget, &(*tensors)[column]));
    }
    return Status::Ok();
  }
};

enum class RecordsFlavor { kDataframeRecords, kTfServing };

// Gathers a list of {column: value} objects into a table; columns in order of first appearance.
// dataframe_records leaves absent keys missing (pandas' NaN); TF serving requires every key in
// every object, as MLflow's equal-length check does.
Status GatherRecords(simdjson::dom::array records, RecordsFlavor flavor, const Budget& budget, CellTable* table) {
  auto not_an_object = [&](size_t index) {
    return flavor == RecordsFlavor::kDataframeRecords
               ? RecordsError(fmt::format("record {} is not a dictionary", index))
               : Status::BadRequest(std::string(kTfServingFormatError));
  };
  std::vector<std::string_view> names;
  auto column_of = [&names](std::string_view key, size_t position) {
    if (position < names.size() && names[position] == key) return position;
    return static_cast<size_t>(std::find(names.begin(), names.end(), key) - names.begin());
  };
  size_t index = 0;
  for (element record : records) {
    simdjson::dom::object object;
    if (record.get_object().get(object)) return not_an_object(index);
    size_t position = 0;
    for (auto [key, value] : object) {
      if (column_of(key, position) == names.size()) {
        names.push_back(key);
        LATHE_RETURN_IF_ERROR(budget.CheckTable(0, names.size()));
      }
      ++position;
    }
    ++index;
  }
  table->rows = records.size();
  LATHE_RETURN_IF_ERROR(budget.CheckTable(table->rows, names.size()));
  table->cells.resize(table->rows * names.size());
  size_t row = 0;
  for (element record : records) {
    size_t position = 0;
    const simdjson::dom::object object = record.get_object().value_unsafe();
    for (auto [key, value] : object) {
      table->cells[column_of(key, position) * table->rows + row] = {value, true};
      ++position;
    }
    ++row;
  }
  if (flavor == RecordsFlavor::kTfServing) {
    for (const Cell& cell : table->cells) {
      if (!cell.present) return Status::BadRequest(std::string(kTfServingLengthError));
    }
  }
  table->names.assign(names.begin(), names.end());
  return Status::Ok();
}

Status DecodeDataframeSplit(element split, Budget& budget, InferenceRequest* request) {
  simdjson::dom::object object;
  if (split.get_object().get(object)) {
    return Status::BadRequest(fmt::format(
        "Invalid input. Dataframe split format must be a dictionary. Got {}.",
        split.type() == element_type::ARRAY ? std::string("list") : fmt::format("type {}", PythonTypeName(split))));
  }
  element data, columns, index;
  bool has_data = false, has_columns = false, has_index = false, has_other = false;
  for (auto [key, value] : object) {
    if (key == "data") {
      data = value;
      has_data = true;
    } else if (key == "columns") {
      columns = value;
      has_columns = true;
    } else if (key == "index") {
      index = value;
      has_index = true;
    } else {
      has_other = true;
    }
  }
  if (!has_data || has_other) {
    std::vector<std::string> keys;
    for (auto [key, value] : object) keys.push_back(PythonRepr(key));
    return Status::BadRequest(fmt::format(
        "Invalid input. Dataframe split format must have 'data' field and optionally 'columns' and 'index' fields. "
        "Got {}.'",
        keys.empty() ? std::string("set()") : fmt::format("{{{}}}", fmt::join(keys, ", "))));
  }
  simdjson::dom::array rows;
  if (data.get_array().get(rows)) return SplitError("DataFrame constructor not properly called!");
  CellTable table;
  table.rows = rows.size();
  if (table.rows == 0) return EmptyBatch("the request");
  if (has_columns) {
    simdjson::dom::array names;
    if (columns.get_array().get(names)) return SplitError("columns must be a list of column names");
    LATHE_RETURN_IF_ERROR(budget.CheckTable(0, names.size()));
    table.names.reserve(names.size());
    for (element name : names) {
      std::string_view text;
      if (!name.get_string().get(text)) {
        table.names.emplace_back(text);
      } else if (name.type() == element_type::INT64 || name.type() == element_type::UINT64) {
        table.names.push_back(DescribeValue(name));
      } else {
        return SplitError("columns must be a list of column names");
      }
    }
  } else {
    const element first = *rows.begin();
    const size_t width = first.type() == element_type::ARRAY ? first.get_array().value_unsafe().size() : 1;
    LATHE_RETURN_IF_ERROR(budget.CheckTable(0, width));
    for (size_t column = 0; column < width; ++column) table.names.push_back(std::to_string(column));
  }
  const size_t width = table.names.size();
  if (width == 0) return Status::InvalidParameter("the request has no columns");
  if (has_index) {
    simdjson::dom::array labels;
    if (index.get_array().get(labels)) return SplitError("Index(...) must be called with a collection");
    if (labels.size() != table.rows) {
      return SplitError(fmt::format("Shape of passed values is ({}, {}), indices imply ({}, {})", table.rows, width,
                                    labels.size(), width));
    }
  }
  LATHE_RETURN_IF_ERROR(budget.CheckTable(table.rows, width));
  table.cells.resize(table.rows * width);
  size_t row = 0;
  for (element values : rows) {
    simdjson::dom::array list;
    if (values.get_array().get(list)) {
      if (width != 1) return SplitError(fmt::format("{} columns passed, passed data had 1 columns", width));
      table.cells[row] = {values, true};
    } else {
      if (list.size() != width) {
        return SplitError(fmt::format("{} columns passed, passed data had {} columns", width, list.size()));
      }
      size_t column = 0;
      for (element value : list) table.cells[column++ * table.rows + row] = {value, true};
    }
    ++row;
  }
  LATHE_RETURN_IF_ERROR(table.ToTensors(budget, &request->inputs));
  return CheckUniqueNames(request->inputs, "column");
}

Status DecodeDataframeRecords(element records, Budget& budget, InferenceRequest* request) {
  simdjson::dom::array list;
  if (records.get_array().get(list)) {
    return Status::BadRequest(fmt::format("Invalid input. Dataframe records format must be a list of records. Got {}.",
                                          records.type() == element_type::OBJECT
                                              ? std::string("dictionary")
                                              : fmt::format("type {}", PythonTypeName(records))));
  }
  if (list.size() == 0) return EmptyBatch("the request");
  CellTable table;
  LATHE_RETURN_IF_ERROR(GatherRecords(list, RecordsFlavor::kDataframeRecords, budget, &table));
  if (table.names.empty()) return Status::InvalidParameter("the request has no columns");
  return table.ToTensors(budget, &request->inputs);
}

// `instances` / `inputs`: a list of rows (one tensor "input"), a list of objects, or an object of
// column -> list of rows.
Status DecodeTfServing(std::string_view field, element value, Budget& budget, InferenceRequest* request) {
  if (value.type() == element_type::ARRAY) {
    simdjson::dom::array list = value.get_array().value_unsafe();
    if (list.size() == 0) return EmptyBatch(fmt::format("'{}'", field));
    if ((*list.begin()).type() == element_type::OBJECT) {
      CellTable table;
      LATHE_RETURN_IF_ERROR(GatherRecords(list, RecordsFlavor::kTfServing, budget, &table));
      if (table.names.empty()) return Status::InvalidParameter("the request has no columns");
      return table.ToTensors(budget, &request->inputs);
    }
    std::vector<Cell> cells;
    cells.reserve(list.size());
    for (element row : list) cells.push_back({row, true});
    request->inputs.resize(1);
    return BuildColumn({"", field}, "input", cells, budget, &request->inputs[0]);
  }
  simdjson::dom::object columns;
  if (value.get_object().get(columns)) return Status::BadRequest(std::string(kTfServingFormatError));
  LATHE_RETURN_IF_ERROR(budget.CheckTable(0, columns.size()));
  size_t rows = 0;
  bool first = true;
  for (auto [name, column] : columns) {
    simdjson::dom::array list;
    if (column.get_array().get(list)) {
      return Status::BadRequest(fmt::format("{}: column '{}' must be a list", kTfServingFormatError, name));
    }
    if (!first && list.size() != rows) return Status::BadRequest(std::string(kTfServingLengthError));
    rows = list.size();
    first = false;
  }
  if (first) return Status::InvalidParameter("the request has no columns");
  if (rows == 0) return EmptyBatch("the request");
  LATHE_RETURN_IF_ERROR(budget.CheckTable(rows, columns.size()));
  std::vector<Cell> cells(rows);
  request->inputs.resize(columns.size());
  size_t position = 0;
  for (auto [name, column] : columns) {
    size_t row = 0;
    const simdjson::dom::array list = column.get_array().value_unsafe();
    for (element item : list) cells[row++] = {item, true};
    LATHE_RETURN_IF_ERROR(BuildColumn({"column", name}, name, cells, budget, &request->inputs[position]));
    ++position;
  }
  return CheckUniqueNames(request->inputs, "column");
}

Result<InferenceRequest> DecodeMlflowJson(element root, const DecodeLimits& limits) {
  simdjson::dom::object object;
  if (root.get_object().get(object)) {
    if (root.type() == element_type::ARRAY) {
      return Status::BadRequest(fmt::format("Invalid input. {}. Received a list.", kRequiredInputFormat));
    }
    return Status::BadRequest(fmt::format("Invalid input. {}. Received unexpected input type '{}.",
                                          kRequiredInputFormat, PythonTypeName(root)));
  }
  std::vector<std::pair<std::string_view, element>> formats;
  InferenceRequest request;
  for (auto [key, value] : object) {
    if (key == "dataframe_split" || key == "dataframe_records" || key == "instances" || key == "inputs") {
      formats.emplace_back(key, value);
    } else if (key == "params") {
      simdjson::dom::object params;
      if (value.get_object().get(params)) {
        return Status::InvalidParameter(fmt::format("Parameters must be a dictionary. Got type '{}'.",
                                                    value.type() == element_type::ARRAY ? "list" : "scalar"));
      }
      LATHE_RETURN_IF_ERROR(ReadRequestParameters(params, "params", &request));
    }
  }
  if (formats.size() != 1) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : formats) keys.push_back(PythonRepr(key));
    return Status::BadRequest(fmt::format("{}. Received dictionary with input fields: [{}]. {}", kRequiredInputFormat,
                                          fmt::join(keys, ", "), kScoringProtocolChangeInfo));
  }
  Budget budget(limits);
  const auto [format, value] = formats[0];
  if (format == "dataframe_split") {
    LATHE_RETURN_IF_ERROR(DecodeDataframeSplit(value, budget, &request));
  } else if (format == "dataframe_records") {
    LATHE_RETURN_IF_ERROR(DecodeDataframeRecords(value, budget, &request));
  } else {
    LATHE_RETURN_IF_ERROR(DecodeTfServing(format, value, budget, &request));
  }
  return request;
}

// ----------------------------------------------------------------------------------------------
// MLflow: CSV

Status CsvError(std::string_view problem) {
  return Status::BadRequest(fmt::format(
      "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas DataFrame "
      "produced using the `pandas.DataFrame.to_csv()` method. Error: '{}'",
      problem));
}

// RFC 4180 fields of one CSV body, row-major; empty fields are null (empty views).
class CsvTable {
 public:
  // Splits `body` into `header` and rows of exactly header.size() fields (short rows padded with
  // nulls, as pandas does). `unescaped` holds quoted fields that contained "" and must outlive the table.
  Status Parse(std::string_view body, const Budget& budget) {
    unescaped_.reserve(body.size());
    size_t pos = 0, line = 1;
    std::vector<std::string_view> record;
    bool header_done = false;
    while (pos < body.size()) {
      if (body[pos] == '\n' || body[pos] == '\r') {  // pandas skips blank lines
        pos += body.compare(pos, 2, "\r\n") == 0 ? 2 : 1;
        ++line;
        continue;
      }
      const size_t record_line = line;
      record.clear();
      while (true) {
        std::string_view field;
        LATHE_RETURN_IF_ERROR(ReadField(body, &pos, &line, &field));
        record.push_back(field);
        if (pos >= body.size()) break;
        const char c = body[pos];
        if (c == ',') {
          ++pos;
          continue;
        }
        pos += body.compare(pos, 2, "\r\n") == 0 ? 2 : 1;  // c is '\n' or '\r'
        ++line;
        break;
      }
      if (!header_done) {
        LATHE_RETURN_IF_ERROR(budget.CheckTable(0, record.size()));
        SetHeader(record);
        header_done = true;
        const uint64_t lines = std::count(body.begin() + pos, body.end(), '\n') + 1;
        fields.reserve(std::min<uint64_t>(lines, budget.max_rows(header.size())) * header.size());
        continue;
      }
      if (record.size() > header.size()) {
        return CsvError(fmt::format("Error tokenizing data. C error: Expected {} fields in line {}, saw {}",
                                    header.size(), record_line, record.size()));
      }
      LATHE_RETURN_IF_ERROR(budget.CheckTable(rows + 1, header.size()));
      fields.insert(fields.end(), record.begin(), record.end());
      fields.resize(fields.size() + header.size() - record.size());
      ++rows;
    }
    if (!header_done) return CsvError("No columns to parse from file");
    return Status::Ok();
  }

  std::vector<std::string> header;
  std::vector<std::string_view> fields;  // fields[row * header.size() + column]
  size_t rows = 0;

 private:
  Status ReadField(std::string_view body, size_t* pos, size_t* line, std::string_view* field) {
    if (*pos < body.size() && body[*pos] == '"') {
      const size_t start_line = *line;
      size_t begin = ++*pos;
      bool escaped = false;
      const size_t unescaped_begin = unescaped_.size();
      while (true) {
        const size_t quote = body.find('"', *pos);
        if (quote == std::string_view::npos) {
          return CsvError(
              fmt::format("Error tokenizing data. C error: EOF inside string starting at row {}", start_line));
        }
        *line += std::count(body.begin() + *pos, body.begin() + quote, '\n');
        if (quote + 1 < body.size() && body[quote + 1] == '"') {
          unescaped_.append(body.substr(begin, quote + 1 - begin));
          escaped = true;
          *pos = begin = quote + 2;
          continue;
        }
        if (escaped) {
          unescaped_.append(body.substr(begin, quote - begin));
          // unescaped_ never reallocates: it was reserved for the whole body.
          *field = std::string_view(unescaped_).substr(unescaped_begin);
        } else {
          *field = body.substr(begin, quote - begin);
        }
        *pos = quote + 1;
        break;
      }
      if (*pos < body.size() && body[*pos] != ',' && body[*pos] != '\n' && body[*pos] != '\r') {
        return CsvError(fmt::format("unexpected character after a closing quote in line {}", *line));
      }
      return Status::Ok();
    }
    const size_t end = std::min(body.find_first_of(",\r\n", *pos), body.size());
    *field = body.substr(*pos, end - *pos);
    *pos = end;
    return Status::Ok();
  }

  // Header names as pandas makes them: blanks -> "Unnamed: <i>", repeats -> "<name>.<k>".
  void SetHeader(const std::vector<std::string_view>& record) {
    header.reserve(record.size());
    for (size_t column = 0; column < record.size(); ++column) {
      std::string base = record[column].empty() ? fmt::format("Unnamed: {}", column) : std::string(record[column]);
      std::string name = base;
      for (int suffix = 1; std::find(header.begin(), header.end(), name) != header.end(); ++suffix) {
        name = fmt::format("{}.{}", base, suffix);
      }
      header.push_back(std::move(name));
    }
  }

  std::string unescaped_;
};

// A CSV field as a number the way pandas reads one: surrounding blanks and a leading '+' allowed.
bool ParseCsvNumber(std::string_view text, double* value, bool* integral) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  int64_t integer;
  if (auto [ptr, ec] = std::from_chars(text.data(), end, integer); ec == std::errc() && ptr == end) {
    *value = static_cast<double>(integer);
    *integral = true;
    return true;
  }
  *integral = false;
  auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return ec == std::errc() && ptr == end;
}

Result<InferenceRequest> DecodeMlflowCsv(std::string_view body, const DecodeLimits& limits) {
  Budget budget(limits);
  CsvTable table;
  LATHE_RETURN_IF_ERROR(table.Parse(body, budget));
  if (table.rows == 0) return EmptyBatch("the request");
  const size_t width = table.header.size();
  InferenceRequest request;
  request.inputs.resize(width);
  for (size_t column = 0; column < width; ++column) {
    Tensor& tensor = request.inputs[column];
    tensor.name = std::move(table.header[column]);
    LATHE_RETURN_IF_ERROR(budget.Take({"column", tensor.name}, table.rows, {}));
    tensor.shape = {static_cast<int64_t>(table.rows)};
    bool numeric = true, all_integral = true, any_null = false;
    tensor.numbers.reserve(table.rows);
    for (size_t row = 0; row < table.rows && numeric; ++row) {
      const std::string_view field = table.fields[row * width + column];
      double value;
      bool integral;
      if (field.empty()) {
        any_null = true;
        tensor.numbers.push_back(kNaN);
      } else if (ParseCsvNumber(field, &value, &integral)) {
        all_integral &= integral;
        tensor.numbers.push_back(value);
      } else {
        numeric = false;
      }
    }
    if (numeric) {
      tensor.datatype = all_integral && !any_null ? DataType::kInt64 : DataType::kFp64;
      continue;
    }
    tensor.numbers = {};
    tensor.datatype = DataType::kBytes;
    tensor.strings.reserve(table.rows);
    for (size_t row = 0; row < table.rows; ++row) {
      const std::string_view field = table.fields[row * width + column];
      tensor.strings.emplace_back(field);
      if (field.empty()) {
        tensor.nulls.resize(table.rows);
        tensor.nulls[row] = 1;
      }
    }
  }
  return request;
}

// MLflow's content-type check: "application/json" or "text/csv", charset utf-8 at most.
Result<bool> IsCsvContentType(std::string_view content_type) {
  auto trim = [](std::string_view text) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    return text;
  };
  auto lower = [](std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
  };
  const size_t semicolon = std::min(content_type.find(';'), content_type.size());
  const std::string mime = lower(trim(content_type.substr(0, semicolon)));
  if (mime != "application/json" && mime != "text/csv") {
    return Status::BadRequest(fmt::format(
        "This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got '{}'.",
        content_type));
  }
  std::vector<std::string> unexpected;
  for (size_t pos = semicolon; pos < content_type.size();) {
    const size_t next = std::min(content_type.find(';', pos + 1), content_type.size());
    const std::string_view pair = trim(content_type.substr(pos + 1, next - pos - 1));
    const size_t equals = std::min(pair.find('='), pair.size());
    const std::string key = lower(trim(pair.substr(0, equals)));
    if (key == "charset") {
      std::string value = lower(trim(pair.substr(std::min(equals + 1, pair.size()))));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      if (value != "utf-8") return Status::BadRequest("The scoring server only supports UTF-8");
    } else if (!key.empty()) {
      unexpected.push_back(key);
    }
    pos = next;
  }
  if (!unexpected.empty()) {
    return Status::BadRequest(fmt::format("Unrecognized content type parameters: {}. {}", fmt::join(unexpected, ", "),
                                          kScoringProtocolChangeInfo));
  }
  return mime == "text/csv";
}

// ----------------------------------------------------------------------------------------------
// Encoding

// Appends one element of a tensor. Non-finite floats become OIP's strings, or the bare tokens
// Python's json module writes (what MLflow's server returns).
void AppendElement(std::string& out, const Tensor& tensor, size_t index, bool nonfinite_as_strings) {
  if (tensor.is_bytes()) {
    if (tensor.is_null(index)) {
      out += "null";
    } else {
      AppendJsonString(out, tensor.strings[index]);
    }
    return;
  }
  const double value = tensor.numbers[index];
  if (!std::isfinite(value)) {
    const char* text = std::isnan(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
    if (nonfinite_as_strings) {
      out += '"';
      out += text;
      out += '"';
    } else {
      out += text;
    }
    return;
  }
  char buffer[32];
  char* end;
  switch (tensor.datatype) {
    case DataType::kBool:
      out += value != 0 ? "true" : "false";
      return;
    case DataType::kFp32:
    case DataType::kFp64: {
      end = tensor.datatype == DataType::kFp32
                ? std::to_chars(buffer, buffer + sizeof(buffer), static_cast<float>(value)).ptr
                : std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
      out.append(buffer, end);
      // Python writes floats with a point ("1.0"); keep them floats for clients that care.
      if (std::find_if(buffer, end, [](char c) { return c == '.' || c == 'e'; }) == end) out += ".0";
      return;
    }
    default:
      if (value >= -9223372036854775808.0 && value < 9223372036854775808.0) {
        AppendInteger(out, static_cast<int64_t>(value));
      } else if (value >= 0 && value < 18446744073709551616.0) {
        AppendInteger(out, static_cast<uint64_t>(value));
      } else {
        AppendShortest(out, value);
      }
  }
}

// The shape to write a tensor with: its own when it matches the values it holds, else flat.
std::vector<int64_t> WritableShape(const Tensor& tensor) {
  int64_t count = tensor.shape.empty() ? 0 : 1;
  for (int64_t dim : tensor.shape) count = dim < 0 ? -1 : count * dim;
  if (!tensor.shape.empty() && count == static_cast<int64_t>(tensor.element_count())) return tensor.shape;
  return {static_cast<int64_t>(tensor.element_count())};
}

// Writes `shape`'s worth of elements from `*index` on as nested lists (a value when shape is empty).
void AppendNested(std::string& out, const Tensor& tensor, std::span<const int64_t> shape, size_t* index) {
  if (shape.empty()) {
    AppendElement(out, tensor, (*index)++, false);
    return;
  }
  out += '[';
  for (int64_t i = 0; i < shape[0]; ++i) {
    if (i > 0) out += ',';
    AppendNested(out, tensor, shape.subspan(1), index);
  }
  out += ']';
}

void AppendIdList(std::string& out, const std::vector<std::string>& ids) {
  out += '[';
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(out, ids[i]);
  }
  out += ']';
}

size_t EstimatedJsonSize(const InferenceResponse& response) {
  size_t size = 256 + response.prediction_ids.size() * 32;
  for (const auto& output : response.outputs) size += 64 + output.element_count() * 24;
  return size;
}

}  // namespace

Result<InferenceRequest> DecodeOipRequest(std::string_view body, const DecodeLimits& limits) {
  return WithParsedJson(body, [&](element root) { return DecodeOipRoot(root, limits); });
}

Result<InferenceRequest> DecodeMlflowRequest(std::string_view content_type, std::string_view body,
                                             const DecodeLimits& limits) {
  LATHE_ASSIGN_OR_RETURN(const bool csv, IsCsvContentType(content_type));
  if (csv) return DecodeMlflowCsv(body, limits);
  return WithParsedJson(body, [&](element root) { return DecodeMlflowJson(root, limits); });
}

std::string EncodeOipResponse(const InferenceResponse& response) {
  std::string out;
  out.reserve(EstimatedJsonSize(response));
  out += "{\"model_name\":";
  AppendJsonString(out, response.model_name);
  out += ",\"model_version\":";
  AppendJsonString(out, response.model_version);
  if (!response.id.empty()) {
    out += ",\"id\":";
    AppendJsonString(out, response.id);
  }
  if (!response.prediction_ids.empty()) {
    out += ",\"parameters\":{\"prediction_ids\":";
    AppendIdList(out, response.prediction_ids);
    out += '}';
  }
  out += ",\"outputs\":[";
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const Tensor& output = response.outputs[i];
    if (i > 0) out += ',';
    out += "{\"name\":";
    AppendJsonString(out, output.name);
    out += ",\"shape\":[";
    const std::vector<int64_t> shape = WritableShape(output);
    for (size_t d = 0; d < shape.size(); ++d) {
      if (d > 0) out += ',';
      AppendInteger(out, shape[d]);
    }
    out += "],\"datatype\":\"";
    out += models::DataTypeName(output.datatype);
    out += "\",\"data\":[";
    for (size_t e = 0; e < output.element_count(); ++e) {
      if (e > 0) out += ',';
      AppendElement(out, output, e, true);
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

std::string EncodeMlflowResponse(const InferenceResponse& response) {
  std::string out;
  out.reserve(EstimatedJsonSize(response));
  out += "{\"predictions\":";
  if (response.outputs.size() == 1) {
    const Tensor& output = response.outputs[0];
    const std::vector<int64_t> shape = WritableShape(output);
    size_t index = 0;
    AppendNested(out, output, shape, &index);
  } else {
    std::vector<std::vector<int64_t>> shapes;
    int64_t rows = 0;
    for (const auto& output : response.outputs) {
      shapes.push_back(WritableShape(output));
      rows = std::max(rows, shapes.back()[0]);
    }
    out += '[';
    for (int64_t row = 0; row < rows; ++row) {
      if (row > 0) out += ',';
      out += '{';
      for (size_t i = 0; i < response.outputs.size(); ++i) {
        if (i > 0) out += ',';
        AppendJsonString(out, response.outputs[i].name);
        out += ':';
        const std::span<const int64_t> row_shape = std::span<const int64_t>(shapes[i]).subspan(1);
        if (row >= shapes[i][0]) {
          out += "null";
          continue;
        }
        int64_t width = 1;
        for (int64_t dim : row_shape) width *= dim;
        size_t index = static_cast<size_t>(row * width);
        AppendNested(out, response.outputs[i], row_shape, &index);
      }
      out += '}';
    }
    out += ']';
  }
  if (!response.prediction_ids.empty()) {
    out += ",\"prediction_ids\":";
    AppendIdList(out, response.prediction_ids);
  }
  out += '}';
  return out;
}

}  // namespace lathe::serving
