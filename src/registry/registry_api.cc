// Registry endpoints: validation with MLflow's rules and messages, Store calls, MLflow-shaped JSON.
#include "core/json_dump.h"
#include "registry/registry_api.h"

#include <charconv>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/request_params.h"
#include "tracking/json.h"
#include "tracking/search_filter.h"
#include "tracking/validation.h"

namespace lathe::registry {
namespace {

using nlohmann::json;
using storage::Tag;

constexpr size_t kMaxRegistryTagValue = 5000;
constexpr size_t kMaxAliasLength = 255;

ApiResponse Ok(const json& body) { return ApiResponse::Json(DumpJson(body)); }
ApiResponse Empty() { return ApiResponse::Json("{}"); }

storage::WriteContext Context(const ApiRequest& request, std::string action) {
  return storage::WriteContext{request.actor, request.request_id, std::move(action)};
}

json VersionJson(const storage::ModelVersion& version) {
  json out = {{"name", version.name},
              {"version", std::to_string(version.version)},
              {"creation_timestamp", version.creation_time},
              {"last_updated_timestamp", version.last_updated_time}};
  if (!version.user_id.empty()) out["user_id"] = version.user_id;
  out["current_stage"] = version.current_stage;
  if (!version.description.empty()) out["description"] = version.description;
  out["source"] = version.source;
  if (!version.run_id.empty()) out["run_id"] = version.run_id;
  out["status"] = version.status;
  if (!version.status_message.empty()) out["status_message"] = version.status_message;
  if (!version.tags.empty()) out["tags"] = tracking::TagsJson(version.tags);
  if (!version.run_link.empty()) out["run_link"] = version.run_link;
  if (!version.aliases.empty()) out["aliases"] = version.aliases;
  return out;
}

json ModelJson(const storage::RegisteredModel& model) {
  json out = {{"name", model.name},
              {"creation_timestamp", model.creation_time},
              {"last_updated_timestamp", model.last_updated_time}};
  if (!model.description.empty()) out["description"] = model.description;
  if (!model.latest_versions.empty()) {
    auto& versions = out["latest_versions"] = json::array();
    for (const auto& version : model.latest_versions) versions.push_back(VersionJson(version));
  }
  if (!model.tags.empty()) out["tags"] = tracking::TagsJson(model.tags);
  if (!model.aliases.empty()) {
    auto& aliases = out["aliases"] = json::array();
    for (const auto& [alias, version] : model.aliases) {
      aliases.push_back({{"alias", alias}, {"version", std::to_string(version)}});
    }
  }
  return out;
}

Result<std::string> ModelName(const RequestParams& params, std::string_view field = "name") {
  LATHE_ASSIGN_OR_RETURN(auto name, params.String(field));
  if (!name || name->empty()) {
    if (!params.Has(field)) return Status::InvalidParameter(RequestParams::MissingMessage(field));
    return Status::InvalidParameter("Registered model name cannot be empty.");
  }
  LATHE_RETURN_IF_ERROR(tracking::ValidateLength("Registered model name", *name, 256));
  return *name;
}

Result<int64_t> VersionNumber(const RequestParams& params) {
  if (!params.Has("version")) return Status::InvalidParameter(RequestParams::MissingMessage("version"));
  const json& raw = params.json()["version"];
  std::string text = raw.is_string() ? raw.get<std::string>() : DumpJson(raw);
  int64_t version = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || (!raw.is_string() && !raw.is_number_integer())) {
    return Status::InvalidParameter(fmt::format("Model version must be an integer, got '{}'", text.substr(0, 100)));
  }
  return version;
}

Result<std::string> AliasName(const RequestParams& params) {
  LATHE_ASSIGN_OR_RETURN(auto alias, params.RequiredString("alias"));
  LATHE_RETURN_IF_ERROR(tracking::ValidateLength("Registered model alias name", alias, kMaxAliasLength));
  static const std::regex kAliasCharacters(R"(^[\w\-]*$)");
  static const std::regex kVersionLike(R"(^[vV]\d+$)");
  if (!std::regex_match(alias, kAliasCharacters)) {
    return Status::InvalidParameter(fmt::format(
        "Invalid alias name: '{}'. Names may only contain alphanumerics, underscores (_), and dashes (-).", alias));
  }
  std::string lower = alias;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (lower == "latest") return Status::InvalidParameter("'latest' alias name (case insensitive) is reserved.");
  if (std::regex_match(alias, kVersionLike)) {
    return Status::InvalidParameter(fmt::format("Version alias name '{}' is reserved.", alias));
  }
  return alias;
}

Result<int64_t> MaxResults(const RequestParams& params, int64_t default_value, int64_t limit) {
  LATHE_ASSIGN_OR_RETURN(auto value, params.Int64("max_results"));
  int64_t max_results = value.value_or(default_value);
  if (max_results <= 0 || max_results > limit) {
    return Status::InvalidParameter(fmt::format(
        "Invalid value for max_results. It must be at most {}, and at least 1, but got value {}", limit, max_results));
  }
  return max_results;
}

// A local path as a model source is a way to read arbitrary server files: refuse it, and refuse
// `..` in any source (MLflow's _validate_source).
Status ValidateSource(const std::string& source) {
  auto scheme = source.find(":/");
  bool local = scheme == std::string::npos || source.starts_with("file:");
  if (local) {
    return Status::InvalidParameter(fmt::format(
        "Invalid model version source: '{}'. A local path cannot be a model version source; use a run or "
        "artifact URI such as runs:/<run_id>/model or mlflow-artifacts:/...",
        source));
  }
  std::string_view path = std::string_view(source).substr(scheme + 2);
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view part = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part == ".." || part == "%2e%2e" || part == "%2E%2E") {
      return Status::InvalidParameter(fmt::format("Invalid model version source: '{}'. It contains '..'.", source));
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return tracking::ValidateLength("Model version source", source, 500);
}

class RegistryApi {
 public:
  explicit RegistryApi(storage::Store& store) : store_(store) {}

  Result<ApiResponse> CreateModel(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto tags, tracking::ParseTagList(params, "tags", kMaxRegistryTagValue));
    LATHE_ASSIGN_OR_RETURN(auto description, params.String("description"));
    LATHE_ASSIGN_OR_RETURN(auto model, store_.CreateRegisteredModel(Context(request, "registered-models/create"), name,
                                                                    description.value_or(""), tags));
    return Ok({{"registered_model", ModelJson(model)}});
  }

  Result<ApiResponse> GetModel(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto model, store_.GetRegisteredModel(name));
    return Ok({{"registered_model", ModelJson(model)}});
  }

  Result<ApiResponse> RenameModel(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto new_name, ModelName(params, "new_name"));
    LATHE_ASSIGN_OR_RETURN(auto model, store_.RenameRegisteredModel(Context(request, "registered-models/rename"), name,
                                                                    new_name));
    return Ok({{"registered_model", ModelJson(model)}});
  }

  Result<ApiResponse> UpdateModel(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto description, params.String("description"));
    LATHE_ASSIGN_OR_RETURN(auto model, store_.UpdateRegisteredModel(Context(request, "registered-models/update"), name,
                                                                    description.value_or("")));
    return Ok({{"registered_model", ModelJson(model)}});
  }

  Result<ApiResponse> DeleteModel(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_RETURN_IF_ERROR(store_.DeleteRegisteredModel(Context(request, "registered-models/delete"), name));
    return Empty();
  }

  Result<ApiResponse> SearchModels(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    storage::RegisteredModelSearch search;
    LATHE_ASSIGN_OR_RETURN(search.max_results, MaxResults(params, 100, 1000));
    LATHE_RETURN_IF_ERROR(tracking::ReadSearchTerms(params, tracking::ParseRegisteredModelFilter,
                                                                 tracking::ParseRegisteredModelOrderBy, search));
    LATHE_ASSIGN_OR_RETURN(auto page, store_.SearchRegisteredModels(search));
    return Ok(tracking::PageJson(page, "registered_models", search.offset, ModelJson));
  }

  Result<ApiResponse> GetLatestVersions(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto stages, params.StringList("stages"));
    LATHE_ASSIGN_OR_RETURN(auto versions, store_.GetLatestVersions(name, stages));
    json body = json::object();
    if (!versions.empty()) {
      auto& out = body["model_versions"] = json::array();
      for (const auto& version : versions) out.push_back(VersionJson(version));
    }
    return Ok(body);
  }

  Result<ApiResponse> SetModelTag(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto tag, tracking::ParseTag(params, kMaxRegistryTagValue));
    LATHE_RETURN_IF_ERROR(store_.SetRegisteredModelTag(Context(request, "registered-models/set-tag"), name, tag));
    return Empty();
  }

  Result<ApiResponse> DeleteModelTag(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto key, params.RequiredString("key"));
    LATHE_RETURN_IF_ERROR(store_.DeleteRegisteredModelTag(Context(request, "registered-models/delete-tag"), name, key));
    return Empty();
  }

  Result<ApiResponse> SetAlias(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto alias, AliasName(params));
    LATHE_ASSIGN_OR_RETURN(auto version, VersionNumber(params));
    LATHE_RETURN_IF_ERROR(store_.SetAlias(Context(request, "registered-models/alias"), name, alias, version));
    return Empty();
  }

  Result<ApiResponse> DeleteAlias(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto alias, AliasName(params));
    LATHE_RETURN_IF_ERROR(store_.DeleteAlias(Context(request, "registered-models/alias/delete"), name, alias));
    return Empty();
  }

  Result<ApiResponse> GetByAlias(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto alias, params.RequiredString("alias"));
    LATHE_ASSIGN_OR_RETURN(auto version, store_.GetModelVersionByAlias(name, alias));
    return Ok({{"model_version", VersionJson(version)}});
  }

  Result<ApiResponse> CreateVersion(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    storage::ModelVersionCreate create;
    LATHE_ASSIGN_OR_RETURN(create.name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(create.source, params.RequiredString("source"));
    LATHE_RETURN_IF_ERROR(ValidateSource(create.source));
    LATHE_ASSIGN_OR_RETURN(auto run_id, params.String("run_id"));
    create.run_id = run_id.value_or("");
    if (!create.run_id.empty()) LATHE_RETURN_IF_ERROR(store_.GetRun(create.run_id).status());
    LATHE_ASSIGN_OR_RETURN(auto run_link, params.String("run_link"));
    create.run_link = run_link.value_or("");
    LATHE_RETURN_IF_ERROR(tracking::ValidateLength("Model version run_link", create.run_link, 500));
    LATHE_ASSIGN_OR_RETURN(auto description, params.String("description"));
    create.description = description.value_or("");
    LATHE_ASSIGN_OR_RETURN(create.tags, tracking::ParseTagList(params, "tags", kMaxRegistryTagValue));
    LATHE_ASSIGN_OR_RETURN(auto version, store_.CreateModelVersion(Context(request, "model-versions/create"), create));
    return Ok({{"model_version", VersionJson(version)}});
  }

  Result<ApiResponse> GetVersion(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto version, store_.GetModelVersion(name, number));
    return Ok({{"model_version", VersionJson(version)}});
  }

  Result<ApiResponse> UpdateVersion(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto description, params.String("description"));
    LATHE_ASSIGN_OR_RETURN(auto version, store_.UpdateModelVersion(Context(request, "model-versions/update"), name,
                                                                   number, description.value_or("")));
    return Ok({{"model_version", VersionJson(version)}});
  }

  Result<ApiResponse> DeleteVersion(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_RETURN_IF_ERROR(store_.DeleteModelVersion(Context(request, "model-versions/delete"), name, number));
    return Empty();
  }

  Result<ApiResponse> SearchVersions(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    storage::ModelVersionSearch search;
    LATHE_ASSIGN_OR_RETURN(search.max_results, MaxResults(params, 10000, 200000));
    LATHE_RETURN_IF_ERROR(tracking::ReadSearchTerms(params, tracking::ParseModelVersionFilter,
                                                                 tracking::ParseModelVersionOrderBy, search));
    LATHE_ASSIGN_OR_RETURN(auto page, store_.SearchModelVersions(search));
    return Ok(tracking::PageJson(page, "model_versions", search.offset, VersionJson));
  }

  Result<ApiResponse> GetDownloadUri(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto version, store_.GetModelVersion(name, number));
    return Ok({{"artifact_uri", version.storage_location.empty() ? version.source : version.storage_location}});
  }

  Result<ApiResponse> TransitionStage(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto stage, params.RequiredString("stage"));
    LATHE_ASSIGN_OR_RETURN(auto archive, params.Bool("archive_existing_versions"));
    if (!archive) return Status::InvalidParameter(RequestParams::MissingMessage("archive_existing_versions"));
    LATHE_ASSIGN_OR_RETURN(auto version, store_.TransitionModelVersionStage(
                                             Context(request, "model-versions/transition-stage"), name, number, stage,
                                             *archive));
    return Ok({{"model_version", VersionJson(version)}});
  }

  Result<ApiResponse> SetVersionTag(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto tag, tracking::ParseTag(params, kMaxRegistryTagValue));
    LATHE_RETURN_IF_ERROR(store_.SetModelVersionTag(Context(request, "model-versions/set-tag"), name, number, tag));
    return Empty();
  }

  Result<ApiResponse> DeleteVersionTag(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, ModelName(params));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto key, params.RequiredString("key"));
    LATHE_RETURN_IF_ERROR(
        store_.DeleteModelVersionTag(Context(request, "model-versions/delete-tag"), name, number, key));
    return Empty();
  }

  Result<ApiResponse> AliasHistory(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.String("name"));
    LATHE_ASSIGN_OR_RETURN(auto after, params.Int64("after_id"));
    LATHE_ASSIGN_OR_RETURN(auto limit, params.Int64("limit"));
    int64_t max_rows = limit.value_or(1000);
    if (max_rows <= 0 || max_rows > 10000) {
      return Status::InvalidParameter(fmt::format("limit must be between 1 and 10000, got {}", max_rows));
    }
    LATHE_ASSIGN_OR_RETURN(auto moves, store_.GetAliasHistory(name.value_or(""), after.value_or(0), max_rows));
    json out = json::array();
    for (const auto& move : moves) {
      json entry = {{"id", move.id}, {"name", move.name}, {"alias", move.alias}, {"actor", move.actor},
                    {"time", move.time}, {"request_id", move.request_id}};
      entry["from_version"] = move.from_version ? json(std::to_string(*move.from_version)) : json(nullptr);
      entry["to_version"] = move.to_version ? json(std::to_string(*move.to_version)) : json(nullptr);
      out.push_back(std::move(entry));
    }
    return Ok({{"moves", out}});
  }

 private:
  storage::Store& store_;
};

}  // namespace

std::vector<Route> RegistryRoutes(storage::Store& store) {
  auto api = std::make_shared<RegistryApi>(store);
  auto bind = [api](Result<ApiResponse> (RegistryApi::*method)(ApiRequest&)) -> ApiHandler {
    return [api, method](ApiRequest& request) { return ((*api).*method)(request); };
  };
  const std::string models = "/api/2.0/mlflow/registered-models/";
  const std::string versions = "/api/2.0/mlflow/model-versions/";
  return {
      {"POST", models + "create", bind(&RegistryApi::CreateModel)},
      {"GET", models + "get", bind(&RegistryApi::GetModel)},
      {"POST", models + "rename", bind(&RegistryApi::RenameModel)},
      {"PATCH", models + "update", bind(&RegistryApi::UpdateModel)},
      {"DELETE", models + "delete", bind(&RegistryApi::DeleteModel)},
      {"GET", models + "search", bind(&RegistryApi::SearchModels)},
      {"GET", models + "get-latest-versions", bind(&RegistryApi::GetLatestVersions)},
      {"POST", models + "get-latest-versions", bind(&RegistryApi::GetLatestVersions)},
      {"POST", models + "set-tag", bind(&RegistryApi::SetModelTag)},
      {"DELETE", models + "delete-tag", bind(&RegistryApi::DeleteModelTag)},
      {"POST", models + "alias", bind(&RegistryApi::SetAlias)},
      {"DELETE", models + "alias", bind(&RegistryApi::DeleteAlias)},
      {"GET", models + "alias", bind(&RegistryApi::GetByAlias)},
      {"POST", versions + "create", bind(&RegistryApi::CreateVersion)},
      {"GET", versions + "get", bind(&RegistryApi::GetVersion)},
      {"PATCH", versions + "update", bind(&RegistryApi::UpdateVersion)},
      {"DELETE", versions + "delete", bind(&RegistryApi::DeleteVersion)},
      {"GET", versions + "search", bind(&RegistryApi::SearchVersions)},
      {"GET", versions + "get-download-uri", bind(&RegistryApi::GetDownloadUri)},
      {"POST", versions + "transition-stage", bind(&RegistryApi::TransitionStage)},
      {"POST", versions + "set-tag", bind(&RegistryApi::SetVersionTag)},
      {"DELETE", versions + "delete-tag", bind(&RegistryApi::DeleteVersionTag)},
      {"GET", "/api/lathe/alias-history", bind(&RegistryApi::AliasHistory)},
  };
}

}  // namespace lathe::registry
