// Typed access to MLflow request fields with MLflow's validation messages.
#include "core/json_dump.h"
#include "core/request_params.h"

#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace lathe {
namespace {

constexpr std::string_view kDocsHint = " See the API docs for more information about request parameters.";

std::optional<int64_t> ParseInt64(std::string_view text) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::string_view JsonTypeName(const nlohmann::json& value) {
  if (value.is_string()) return "str";
  if (value.is_boolean()) return "bool";
  if (value.is_number_integer()) return "int";
  if (value.is_number()) return "float";
  if (value.is_array()) return "list";
  if (value.is_object()) return "dict";
  return "NoneType";
}

}  // namespace

Result<RequestParams> RequestParams::FromRequest(const ApiRequest& request) {
  bool use_query = request.method == "GET" || (request.body.empty() && request.body_file.empty());
  if (use_query) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& [raw_key, value] : request.query) {
      std::string key = raw_key;
      // `k[]=a` and `k[0]=a` are the query-string spellings of a repeated field.
      if (auto bracket = key.find('['); bracket != std::string::npos && key.back() == ']') {
        key.resize(bracket);
      }
      auto& slot = object[key];
      if (slot.is_null()) {
        slot = value;
      } else if (slot.is_array()) {
        slot.push_back(value);
      } else {
        slot = nlohmann::json::array({slot, value});
      }
    }
    return RequestParams(std::move(object), true);
  }
  std::string_view type = request.content_type;
  if (type.substr(0, type.find(';')).find("application/json") == std::string_view::npos) {
    return Status::BadRequest(
        fmt::format("Bad Request. Content-Type must be 'application/json', got '{}'.", request.content_type));
  }
  nlohmann::json object = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) {
    return Status::BadRequest("Malformed JSON in the request body.");
  }
  // Older MLflow clients double-encode the body as a JSON string.
  if (object.is_string()) {
    object = nlohmann::json::parse(object.get<std::string>(), nullptr, false);
    if (object.is_discarded()) return Status::BadRequest("Malformed JSON in the request body.");
  }
  if (object.is_null()) object = nlohmann::json::object();
  if (!object.is_object()) {
    return Status::BadRequest(
        fmt::format("The request body must be a JSON object, got a {}.", JsonTypeName(object)));
  }
  return RequestParams(std::move(object), false);
}

std::string RequestParams::MissingMessage(std::string_view name) {
  return fmt::format("Missing value for required parameter '{}'.{}", name, kDocsHint);
}

const nlohmann::json* RequestParams::Find(std::string_view name) const {
  auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool RequestParams::Has(std::string_view name) const { return Find(name) != nullptr; }

Status RequestParams::TypeError(std::string_view name, const nlohmann::json& value,
                                std::string_view expected) const {
  std::string shown = value.is_string() ? value.get<std::string>() : DumpJson(value);
  if (shown.size() > 100) shown = shown.substr(0, 100) + "...";
  return Status::InvalidParameter(
      fmt::format("Invalid value {} for parameter '{}' supplied. Hint: Value was of type '{}', expected {}.{}",
                  shown, name, JsonTypeName(value), expected, kDocsHint));
}

Result<std::optional<std::string>> RequestParams::String(std::string_view name) const {
  const auto* value = Find(name);
  if (value == nullptr) return std::optional<std::string>();
  if (!value->is_string()) return TypeError(name, *value, "a string");
  return std::optional<std::string>(value->get<std::string>());
}

Result<std::string> RequestParams::RequiredString(std::string_view name) const {
  LATHE_ASSIGN_OR_RETURN(auto value, String(name));
  if (!value || value->empty()) return Status::InvalidParameter(MissingMessage(name));
  return std::move(*value);
}

Result<std::optional<int64_t>> RequestParams::Int64(std::string_view name) const {
  const auto* value = Find(name);
  if (value == nullptr) return std::optional<int64_t>();
  if (value->is_number_integer()) {
    if (value->is_number_unsigned() && value->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
      return TypeError(name, *value, "a 64-bit integer");
    }
    return std::optional<int64_t>(value->get<int64_t>());
  }
  if (value->is_number_float()) {
    double number = value->get<double>();
    if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 9.2e18) {
      return std::optional<int64_t>(static_cast<int64_t>(number));
    }
    return TypeError(name, *value, "a 64-bit integer");
  }
  if (value->is_string()) {
    if (auto parsed = ParseInt64(value->get_ref<const std::string&>())) return std::optional<int64_t>(*parsed);
  }
  return TypeError(name, *value, "a 64-bit integer");
}

Result<int64_t> RequestParams::RequiredInt64(std::string_view name) const {
  LATHE_ASSIGN_OR_RETURN(auto value, Int64(name));
  if (!value) return Status::InvalidParameter(MissingMessage(name));
  return *value;
}

Result<std::optional<double>> RequestParams::Double(std::string_view name) const {
  const auto* value = Find(name);
  if (value == nullptr) return std::optional<double>();
  if (value->is_number()) return std::optional<double>(value->get<double>());
  if (value->is_string()) {
    const auto& text = value->get_ref<const std::string&>();
    if (text == "NaN") return std::optional<double>(std::numeric_limits<double>::quiet_NaN());
    if (text == "Infinity" || text == "inf") return std::optional<double>(std::numeric_limits<double>::infinity());
    if (text == "-Infinity" || text == "-inf") return std::optional<double>(-std::numeric_limits<double>::infinity());
    double number = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error == std::errc() && end == text.data() + text.size() && !text.empty()) {
      return std::optional<double>(number);
    }
  }
  return TypeError(name, *value, "a number");
}

Result<double> RequestParams::RequiredDouble(std::string_view name) const {
  LATHE_ASSIGN_OR_RETURN(auto value, Double(name));
  if (!value) return Status::InvalidParameter(MissingMessage(name));
  return *value;
}

Result<std::optional<bool>> RequestParams::Bool(std::string_view name) const {
  const auto* value = Find(name);
  if (value == nullptr) return std::optional<bool>();
  if (value->is_boolean()) return std::optional<bool>(value->get<bool>());
  if (value->is_string()) {
    const auto& text = value->get_ref<const std::string&>();
    if (text == "true" || text == "True") return std::optional<bool>(true);
    if (text == "false" || text == "False") return std::optional<bool>(false);
  }
  return TypeError(name, *value, "a boolean");
}

Result<std::vector<std::string>> RequestParams::StringList(std::string_view name) const {
  std::vector<std::string> out;
  const auto* value = Find(name);
  if (value == nullptr) return out;
  auto take = [&](const nlohmann::json& item) -> Status {
    if (item.is_string()) {
      out.push_back(item.get<std::string>());
    } else if (item.is_number_integer()) {
      out.push_back(item.dump());  // ids such as experiment_ids may arrive as numbers
    } else {
      return TypeError(name, item, "a list of strings");
    }
    return Status::Ok();
  };
  if (value->is_array()) {
    for (const auto& item : *value) LATHE_RETURN_IF_ERROR(take(item));
  } else {
    LATHE_RETURN_IF_ERROR(take(*value));
  }
  return out;
}

Result<std::vector<RequestParams>> RequestParams::ObjectList(std::string_view name) const {
  std::vector<RequestParams> out;
  const auto* value = Find(name);
  if (value == nullptr) return out;
  if (!value->is_array()) return TypeError(name, *value, "a list of objects");
  out.reserve(value->size());
  for (const auto& item : *value) {
    if (!item.is_object()) return TypeError(name, item, "a list of objects");
    out.push_back(RequestParams(item, from_query_));
  }
  return out;
}

}  // namespace lathe
