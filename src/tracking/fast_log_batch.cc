// simdjson on-demand parsing of log-batch bodies into storage::LogBatch.
#include "tracking/fast_log_batch.h"

#include <simdjson.h>

namespace lathe::tracking {
namespace {

using simdjson::ondemand::json_type;

// Reads `{"key": "...", "value": "..."}` (value may be absent for neither).
bool ReadKeyValue(simdjson::ondemand::object object, std::string& key, std::string& value) {
  bool has_key = false, has_value = false;
  for (auto field : object) {
    std::string_view name;
    if (field.unescaped_key().get(name)) return false;
    std::string_view text;
    if (field.value().get_string().get(text)) return false;
    if (name == "key") {
      key.assign(text);
      has_key = true;
    } else if (name == "value") {
      value.assign(text);
      has_value = true;
    } else {
      return false;
    }
  }
  return has_key && has_value;
}

bool ReadMetric(simdjson::ondemand::object object, storage::Metric& metric) {
  bool has_key = false, has_value = false, has_timestamp = false;
  metric.step = 0;
  for (auto field : object) {
    std::string_view name;
    if (field.unescaped_key().get(name)) return false;
    auto value = field.value();
    if (name == "key") {
      std::string_view text;
      if (value.get_string().get(text)) return false;
      metric.key.assign(text);
      has_key = true;
    } else if (name == "value") {
      if (value.get_double().get(metric.value)) return false;
      has_value = true;
    } else if (name == "timestamp") {
      if (value.get_int64().get(metric.timestamp)) return false;
      has_timestamp = true;
    } else if (name == "step") {
      if (value.get_int64().get(metric.step)) return false;
    } else {
      return false;
    }
  }
  return has_key && has_value && has_timestamp;
}

}  // namespace

std::optional<ParsedLogBatch> ParseLogBatchFast(std::string& body) {
  size_t length = body.size();
  body.reserve(length + simdjson::SIMDJSON_PADDING);
  thread_local simdjson::ondemand::parser parser;
  simdjson::ondemand::document document;
  if (parser.iterate(simdjson::padded_string_view(body.data(), length, body.capacity())).get(document)) {
    return std::nullopt;
  }
  simdjson::ondemand::object root;
  if (document.get_object().get(root)) return std::nullopt;
  ParsedLogBatch parsed;
  for (auto field : root) {
    std::string_view name;
    if (field.unescaped_key().get(name)) return std::nullopt;
    auto value = field.value();
    if (name == "run_id" || name == "run_uuid") {
      std::string_view text;
      if (value.get_string().get(text)) return std::nullopt;
      if (!text.empty() && (name == "run_id" || parsed.run_id.empty())) parsed.run_id.assign(text);
    } else if (name == "metrics" || name == "params" || name == "tags") {
      simdjson::ondemand::array items;
      if (value.get_array().get(items)) return std::nullopt;
      for (auto item : items) {
        simdjson::ondemand::object object;
        if (item.get_object().get(object)) return std::nullopt;
        if (name == "metrics") {
          if (!ReadMetric(object, parsed.batch.metrics.emplace_back())) return std::nullopt;
        } else if (name == "params") {
          auto& param = parsed.batch.params.emplace_back();
          if (!ReadKeyValue(object, param.key, param.value)) return std::nullopt;
        } else {
          auto& tag = parsed.batch.tags.emplace_back();
          if (!ReadKeyValue(object, tag.key, tag.value)) return std::nullopt;
        }
      }
    } else {
      return std::nullopt;
    }
  }
  // Trailing content after the root object makes the document invalid.
  const char* trailing = nullptr;
  if (document.current_location().get(trailing) != simdjson::OUT_OF_BOUNDS || parsed.run_id.empty()) {
    return std::nullopt;
  }
  return parsed;
}

}  // namespace lathe::tracking
