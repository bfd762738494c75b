#include "features/online.h"

#include <cmath>
#include <ctime>
#include <map>
#include <set>

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"

namespace lathe::features {

std::string FormatTimestamp(int64_t micros) {
  int64_t seconds = micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
  int64_t fraction = micros - seconds * 1000000;
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::string text = fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                 tm.tm_hour, tm.tm_min, tm.tm_sec);
  return fraction ? fmt::format("{}.{:06d}Z", text, fraction) : text + "Z";
}

OnlineFeatures::OnlineFeatures(FeatureRepo repo, std::string repo_hash, std::shared_ptr<OnlineStore> store)
    : repo_(std::move(repo)), repo_hash_(std::move(repo_hash)), store_(std::move(store)) {}

Result<std::unique_ptr<DuckDb>> OnlineFeatures::TakeDuckDb() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!duckdb_pool_.empty()) {
      auto db = std::move(duckdb_pool_.back());
      duckdb_pool_.pop_back();
      return db;
    }
  }
  DuckDbOptions options;
  options.threads = 1;
  return DuckDb::Open(options);
}

void OnlineFeatures::ReturnDuckDb(std::unique_ptr<DuckDb> db) {
  std::lock_guard lock(pool_mutex_);
  if (duckdb_pool_.size() < 16) duckdb_pool_.push_back(std::move(db));
}

namespace {


Status CheckKeyValue(const Field& key, const nlohmann::json& value, size_t row) {
  bool ok = key.type == "int64" ? value.is_number_integer() : value.is_string();
  if (!ok) {
    return Status::InvalidParameter(fmt::format("entity key '{}' is {}: row {} has {}", key.name, key.type, row, value.dump()));
  }
  return Status::Ok();
}

std::string KeyText(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// A JSON value as a SQL literal of `type`.
std::string Literal(const nlohmann::json& value, const std::string& type) {
  if (value.is_null()) return fmt::format("CAST(NULL AS {})", DuckDbTypeFor(type));
  if (value.is_string()) return fmt::format("CAST({} AS {})", SqlString(value.get<std::string>()), DuckDbTypeFor(type));
  if (value.is_number_float() && !std::isfinite(value.get<double>())) return fmt::format("CAST(NULL AS {})", DuckDbTypeFor(type));
  return fmt::format("CAST({} AS {})", SqlString(value.dump()), DuckDbTypeFor(type));
}

nlohmann::json CellJson(const Cell& cell) {
  return std::visit(
      [](const auto& v) -> nlohmann::json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nullptr;
        } else if constexpr (std::is_same_v<T, double>) {
          return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
        } else {
          return v;
        }
      },
      cell);
}

}  // namespace

Result<OnlineResult> OnlineFeatures::Read(const nlohmann::json& request) {
  if (!request.is_object()) return Status::BadRequest("the request must be a JSON object");
  if (!request.contains("features") || !request["features"].is_array()) {
    return Status::InvalidParameter("'features' must be a list of view:feature");
  }
  std::vector<std::string> names;
  for (const auto& item : request["features"]) {
    if (!item.is_string()) return Status::InvalidParameter("'features' must be a list of view:feature");
    names.push_back(item.get<std::string>());
  }
  LATHE_ASSIGN_OR_RETURN(auto refs, ParseFeatureRefs(repo_, names));
  if (!request.contains("entities") || !request["entities"].is_object() || request["entities"].empty()) {
    return Status::InvalidParameter("'entities' must be an object of join key -> list of values");
  }
  const auto& entities = request["entities"];
  size_t rows = 0;
  bool first = true;
  for (const auto& [key, values] : entities.items()) {
    if (!values.is_array()) return Status::InvalidParameter(fmt::format("entities.{} must be a list", key));
    if (first) rows = values.size();
    if (values.size() != rows) {
      return Status::InvalidParameter(fmt::format("entities.{} has {} values, other keys have {}", key, values.size(), rows));
    }
    first = false;
  }
  if (rows == 0) return Status::InvalidParameter("no entity rows");
  if (rows > kMaxOnlineRows) return Status::LimitExceeded(fmt::format("at most {} entity rows per request", kMaxOnlineRows));
  static const nlohmann::json kNoRequestData = nlohmann::json::object();
  const auto& request_data = request.contains("request_data") ? request["request_data"] : kNoRequestData;
  if (!request_data.is_object()) return Status::InvalidParameter("'request_data' must be an object of field -> list of values");
  std::string expected_hash = request.value("feature_repo_hash", "");

  // What to read: the requested view features and the inputs of requested on-demand views.
  std::vector<const OnDemandView*> on_demand;
  std::map<std::string, std::vector<std::string>> view_features;  // view -> features to read
  std::function<void(const FeatureRef&)> need = [&](const FeatureRef& ref) {
    if (const OnDemandView* view = repo_.FindOnDemandView(ref.view)) {
      if (std::find(on_demand.begin(), on_demand.end(), view) != on_demand.end()) return;
      for (const auto& input : view->inputs) need({input.substr(0, input.find(':')), input.substr(input.find(':') + 1)});
      on_demand.push_back(view);
      return;
    }
    auto& list = view_features[ref.view];
    if (std::find(list.begin(), list.end(), ref.feature) == list.end()) list.push_back(ref.feature);
  };
  for (const auto& ref : refs) need(ref);

  // Join keys: every one that a view needs must be given, with the declared type; no others.
  std::vector<Field> all_keys;
  for (const auto& [name, features] : view_features) {
    for (const auto& key : repo_.JoinKeys(*repo_.FindView(name))) {
      if (std::none_of(all_keys.begin(), all_keys.end(), [&](const Field& k) { return k.name == key.name; })) all_keys.push_back(key);
    }
  }
  for (const auto& key : all_keys) {
    if (!entities.contains(key.name)) return Status::InvalidParameter(fmt::format("missing entity key '{}'", key.name));
    for (size_t row = 0; row < rows; ++row) LATHE_RETURN_IF_ERROR(CheckKeyValue(key, entities[key.name][row], row));
  }
  for (const auto& [key, values] : entities.items()) {
    // Only on-demand features of request data: the entity columns just count the rows.
    if (all_keys.empty()) break;
    if (std::none_of(all_keys.begin(), all_keys.end(), [&](const Field& k) { return k.name == key; })) {
      return Status::InvalidParameter(fmt::format("'{}' is not a join key of the requested feature views", key));
    }
  }

  std::map<std::string, OnlineColumn> slots;  // "view:feature" -> values
  std::vector<std::string> mismatched_views;
  int64_t now = NowMillis() * 1000;
  for (const auto& [name, features] : view_features) {
    const FeatureView& view = *repo_.FindView(name);
    auto keys = repo_.JoinKeys(view);
    std::vector<std::string> encoded(rows);
    for (size_t row = 0; row < rows; ++row) {
      std::string text;
      for (size_t k = 0; k < keys.size(); ++k) {
        if (k) text += '\x1f';
        text += KeyText(entities[keys[k].name][row]);
      }
      encoded[row] = std::move(text);
    }
    std::vector<OnlineValue> found;
    LATHE_RETURN_IF_ERROR(store_->Read(name, encoded, found));
    if (!expected_hash.empty()) {
      LATHE_ASSIGN_OR_RETURN(auto state, store_->GetViewState(name));
      if (state && state->repo_hash != expected_hash) {
        mismatched_views.push_back(name);
        spdlog::warn("feature view {} was materialised by feature repository {} but the request expects {}", name,
                     state->repo_hash.substr(0, 12), expected_hash.substr(0, 12));
      }
    }
    std::vector<OnlineColumn*> view_slots;
    for (const auto& feature : features) view_slots.push_back(&slots[name + ":" + feature]);
    thread_local simdjson::ondemand::parser parser;
    std::vector<std::string_view> raw(features.size());
    for (size_t row = 0; row < rows; ++row) {
      std::fill(raw.begin(), raw.end(), std::string_view());
      bool parsed = false;
      if (found[row].found) {
        const std::string& payload = found[row].payload;
        simdjson::padded_string copy;  // only when the store left no room for the padding
        simdjson::padded_string_view text(payload.data(), payload.size(), payload.capacity());
        if (payload.capacity() < payload.size() + simdjson::SIMDJSON_PADDING) {
          copy = simdjson::padded_string(payload);
          text = copy;
        }
        simdjson::ondemand::document document;
        simdjson::ondemand::object object;
        if (!parser.iterate(text).get(document) && !document.get_object().get(object)) {
          parsed = true;
          for (auto field : object) {
            std::string_view key;
            if (field.unescaped_key().get(key)) {
              parsed = false;
              break;
            }
            auto wanted = std::find(features.begin(), features.end(), key);
            if (wanted == features.end()) continue;
            // Feature values are scalars, so the token is the whole value.
            simdjson::ondemand::value value;
            if (field.value().get(value)) {
              parsed = false;
              break;
            }
            std::string_view text = value.raw_json_token();
            while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
            raw[static_cast<size_t>(wanted - features.begin())] = text;
          }
        }
        // `raw` views into the payload: copied out below, while it lives.
        const bool stale = view.ttl_seconds > 0 && now - found[row].event_micros > view.ttl_seconds * 1000000;
        const std::string timestamp = FormatTimestamp(found[row].event_micros);
        for (size_t f = 0; parsed && f < features.size(); ++f) {
          OnlineColumn& slot = *view_slots[f];
          if (raw[f].empty() || raw[f] == "null") {
            slot.values.emplace_back("null");
            slot.statuses.push_back("NULL_VALUE");
          } else {
            slot.values.emplace_back(raw[f]);
            slot.statuses.push_back(stale ? "OUTSIDE_MAX_AGE" : "PRESENT");
          }
          slot.timestamps.push_back(timestamp);
        }
        if (parsed) continue;
      }
      for (OnlineColumn* slot : view_slots) {
        slot->values.emplace_back("null");
        slot->statuses.push_back("NOT_FOUND");
        slot->timestamps.emplace_back();
      }
    }
  }

  // On-demand features: one DuckDB query over a VALUES list of the request fields and inputs.
  if (!on_demand.empty()) {
    LATHE_ASSIGN_OR_RETURN(auto db, TakeDuckDb());
    Status status = [&]() -> Status {
      for (const auto* view : on_demand) {
        std::vector<std::pair<std::string, std::string>> columns;  // name, type
        std::vector<const nlohmann::json*> sources;
        std::vector<std::string> input_slots;
        for (const auto& field : view->request_fields) {
          if (!request_data.contains(field.name) || !request_data[field.name].is_array() || request_data[field.name].size() != rows) {
            return Status::InvalidParameter(fmt::format("on-demand view '{}' needs request_data.{} with {} values", view->name,
                                                        field.name, rows));
          }
          columns.emplace_back(field.name, field.type);
          sources.push_back(&request_data[field.name]);
          input_slots.emplace_back();
        }
        for (const auto& input : view->inputs) {
          FeatureRef ref{input.substr(0, input.find(':')), input.substr(input.find(':') + 1)};
          columns.emplace_back(ref.feature, FindFeature(repo_, ref)->type);
          sources.push_back(nullptr);
          input_slots.push_back(input);
        }
        std::string values_sql;
        for (size_t row = 0; row < rows; ++row) {
          values_sql += row ? ", (" : "(";
          values_sql += std::to_string(row);
          for (size_t c = 0; c < columns.size(); ++c) {
            const nlohmann::json value = sources[c] ? (*sources[c])[row]
                                                    : nlohmann::json::parse(slots[input_slots[c]].values[row], nullptr, false);
            values_sql += ", " + Literal(value, columns[c].second);
          }
          values_sql += ")";
        }
        std::string column_names = "__row";
        for (const auto& [name, type] : columns) column_names += ", " + SqlIdentifier(name);
        std::string select;
        for (const auto& feature : view->features) {
          select += fmt::format(", CAST(({}) AS {})", feature.expression, DuckDbTypeFor(feature.type));
        }
        auto table = db->Query(fmt::format("SELECT __row{} FROM (VALUES {}) AS __t({}) ORDER BY __row", select, values_sql, column_names));
        if (!table.ok()) {
          return Status::InvalidParameter(fmt::format("on-demand view '{}': {}", view->name, table.status().message()));
        }
        for (size_t f = 0; f < view->features.size(); ++f) {
          OnlineColumn& slot = slots[view->name + ":" + view->features[f].name];
          for (const auto& row : table->rows) {
            auto value = CellJson(row[f + 1]);
            slot.statuses.push_back(value.is_null() ? "NULL_VALUE" : "PRESENT");
            slot.values.push_back(value.dump());
            slot.timestamps.emplace_back();
          }
        }
      }
      return Status::Ok();
    }();
    ReturnDuckDb(std::move(db));
    LATHE_RETURN_IF_ERROR(status);
  }

  OnlineResult result;
  for (const auto& key : all_keys) {
    OnlineColumn column;
    column.name = key.name;
    for (const auto& value : entities[key.name]) column.values.push_back(value.dump());
    column.statuses.assign(rows, "PRESENT");
    column.timestamps.assign(rows, std::string());
    result.columns.push_back(std::move(column));
  }
  for (const auto& ref : refs) {
    OnlineColumn column = std::move(slots[ref.Name()]);  // each feature is requested once
    column.name = ref.Name();
    result.columns.push_back(std::move(column));
  }
  result.repo_hash = repo_hash_;
  result.mismatched_views = std::move(mismatched_views);
  return result;
}

Result<nlohmann::json> OnlineFeatures::Get(const nlohmann::json& request) {
  LATHE_ASSIGN_OR_RETURN(auto result, Read(request));
  return ToJson(result);
}

nlohmann::json ToJson(const OnlineResult& result) {
  nlohmann::json response;
  auto& names = response["metadata"]["feature_names"] = nlohmann::json::array();
  auto& results = response["results"] = nlohmann::json::array();
  for (const auto& column : result.columns) {
    names.push_back(column.name);
    nlohmann::json values = nlohmann::json::array(), statuses = nlohmann::json::array(), timestamps = nlohmann::json::array();
    for (size_t row = 0; row < column.values.size(); ++row) {
      values.push_back(nlohmann::json::parse(column.values[row], nullptr, false));
      statuses.push_back(column.statuses[row]);
      timestamps.push_back(column.timestamps[row].empty() ? nlohmann::json() : nlohmann::json(column.timestamps[row]));
    }
    results.push_back({{"values", std::move(values)}, {"statuses", std::move(statuses)}, {"event_timestamps", std::move(timestamps)}});
  }
  response["metadata"]["feature_repo_hash"] = result.repo_hash;
  if (!result.mismatched_views.empty()) response["metadata"]["materialized_by_other_version"] = result.mismatched_views;
  return response;
}

std::string ToText(const OnlineResult& result) {
  // Names are validated identifiers ("view:feature"), hashes hex and timestamps ISO text, so they
  // need no escaping; values are the stored JSON text of each value, copied as they are.
  std::string out = R"({"metadata":{"feature_names":[)";
  for (size_t c = 0; c < result.columns.size(); ++c) {
    if (c) out += ',';
    out += '"' + result.columns[c].name + '"';
  }
  out += R"(],"feature_repo_hash":")" + result.repo_hash + '"';
  if (!result.mismatched_views.empty()) out += R"(,"materialized_by_other_version":)" + nlohmann::json(result.mismatched_views).dump();
  out += R"(},"results":[)";
  for (size_t c = 0; c < result.columns.size(); ++c) {
    const OnlineColumn& column = result.columns[c];
    out += c ? R"(,{"values":[)" : R"({"values":[)";
    for (size_t row = 0; row < column.values.size(); ++row) {
      if (row) out += ',';
      out += column.values[row];
    }
    out += R"(],"statuses":[)";
    for (size_t row = 0; row < column.statuses.size(); ++row) {
      if (row) out += ',';
      out += '"';
      out += column.statuses[row];
      out += '"';
    }
    out += R"(],"event_timestamps":[)";
    for (size_t row = 0; row < column.timestamps.size(); ++row) {
      if (row) out += ',';
      out += column.timestamps[row].empty() ? "null" : '"' + column.timestamps[row] + '"';
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

}  // namespace lathe::features
