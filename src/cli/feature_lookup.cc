#include "cli/feature_lookup.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace lathe::cli {

using nlohmann::json;

namespace {

// Column values as JSON: integral numbers as integers (entity keys), null for missing values.
json ColumnJson(const models::Tensor& column) {
  json values = json::array();
  const size_t rows = static_cast<size_t>(column.rows());
  for (size_t row = 0; row < rows; ++row) {
    if (column.is_bytes()) {
      values.push_back(column.is_null(row) ? json(nullptr) : json(column.strings[row]));
      continue;
    }
    double value = column.numbers[row];
    if (!std::isfinite(value)) {
      values.push_back(nullptr);
    } else if (models::IsInteger(column.datatype) || (value == std::floor(value) && std::abs(value) < 9007199254740992.0)) {
      values.push_back(static_cast<int64_t>(value));
    } else {
      values.push_back(value);
    }
  }
  return values;
}

Result<models::Tensor> FeatureColumn(const std::string& name, const json& values) {
  models::Tensor column;
  column.name = name;
  column.shape = {static_cast<int64_t>(values.size())};
  bool strings = std::any_of(values.begin(), values.end(), [](const json& v) { return v.is_string(); });
  if (strings) {
    column.datatype = models::DataType::kBytes;
    for (const auto& value : values) {
      if (value.is_null()) {
        if (column.nulls.empty()) column.nulls.assign(values.size(), 0);
        column.nulls[column.strings.size()] = 1;
        column.strings.emplace_back();
      } else {
        column.strings.push_back(value.is_string() ? value.get<std::string>() : value.dump());
      }
    }
    return column;
  }
  column.datatype = models::DataType::kFp64;
  for (const auto& value : values) {
    if (value.is_number()) {
      column.numbers.push_back(value.get<double>());
    } else if (value.is_boolean()) {
      column.numbers.push_back(value.get<bool>() ? 1.0 : 0.0);
    } else {
      column.numbers.push_back(std::nan(""));
    }
  }
  return column;
}

}  // namespace

serving::FeatureFetcher MakeFeatureFetcher(features::FeatureService& service, serving::MetricsRegistry& metrics) {
  return [&service, &metrics](const models::FeatureLookup& lookup, const std::string& model,
                              std::vector<models::Tensor>& columns) -> Status {
    LATHE_ASSIGN_OR_RETURN(auto online, service.Online());
    const auto& repo = online->repo();
    LATHE_ASSIGN_OR_RETURN(auto refs, features::ParseFeatureRefs(repo, lookup.features));
    // Which request columns are entity keys of the looked-up views.
    std::set<std::string> key_names;
    for (const auto& ref : refs) {
      std::vector<std::string> views = {ref.view};
      if (const auto* on_demand = repo.FindOnDemandView(ref.view)) {
        views.clear();
        for (const auto& input : on_demand->inputs) views.push_back(input.substr(0, input.find(':')));
      }
      for (const auto& name : views) {
        if (const auto* view = repo.FindView(name)) {
          for (const auto& key : repo.JoinKeys(*view)) key_names.insert(key.name);
        }
      }
    }
    json request = {{"features", lookup.features}, {"entities", json::object()}, {"request_data", json::object()}};
    if (!lookup.feature_repo_hash.empty()) request["feature_repo_hash"] = lookup.feature_repo_hash;
    for (const auto& column : columns) {
      if (column.width() != 1) continue;
      (key_names.count(column.name) ? request["entities"] : request["request_data"])[column.name] = ColumnJson(column);
    }
    for (const auto& key : key_names) {
      if (!request["entities"].contains(key)) {
        return Status::InvalidParameter(fmt::format("model '{}' looks up features by '{}': the request has no such column", model, key));
      }
    }
    LATHE_ASSIGN_OR_RETURN(auto response, online->Get(request));
    if (response["metadata"].contains("materialized_by_other_version")) {
      metrics
          .GetCounter("lathe_feature_version_mismatch_total",
                      "Predictions whose features were materialised by other definitions than the model was trained on",
                      {{"model", model}})
          .Increment();
    }
    const auto& results = response["results"];
    const size_t first_feature = results.size() - refs.size();
    for (size_t i = 0; i < refs.size(); ++i) {
      const std::string& name = refs[i].feature;
      if (std::any_of(columns.begin(), columns.end(), [&](const models::Tensor& c) { return c.name == name; })) {
        return Status::InvalidParameter(fmt::format("column '{}' is sent in the request and also looked up in the feature store", name));
      }
      LATHE_ASSIGN_OR_RETURN(auto column, FeatureColumn(name, results[first_feature + i]["values"]));
      columns.push_back(std::move(column));
    }
    return Status::Ok();
  };
}

}  // namespace lathe::cli
