// Registry endpoints: validation with MLflow's rules and messages, Store calls, MLflow-shaped JSON.
#include "registry/registry_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "core/json_dump.h"
#include "core/request_params.h"
#include "tracking/json.h"
#include "tracking/search_filter.h"
#include "tracking/validation.h"

namespace lathe::registry {
namespace {

using nlohmann::json;
using storage::Tag;

// mlflow/utils/validation.py and the column sizes of MLflow's registry tables.
constexpr size_t kMaxRegistryTagKey = 250;
constexpr size_t kMaxRegistryTagValue = 5000;
constexpr size_t kMaxAliasLength = 255;
constexpr size_t kMaxSourceLength = 500;
constexpr size_t kMaxRunLinkLength = 500;

// Search page sizes: SearchRegisteredModels defaults to 100 (at most 1000); SearchModelVersions'
// proto default, which a request without max_results gets from MLflow's server, is 200000.
constexpr int64_t kRegisteredModelsDefaultPage = 100;
constexpr int64_t kRegisteredModelsMaxPage = 1000;
constexpr int64_t kModelVersionsDefaultPage = 200000;
constexpr int64_t kModelVersionsMaxPage = 200000;

constexpr int64_t kAliasHistoryDefaultLimit = 1000;
constexpr int64_t kAliasHistoryMaxLimit = 10000;

ApiResponse Ok(const json& body) {
  return ApiResponse::Json(DumpJson(body));
}
ApiResponse Empty() {
  return ApiResponse::Json("{}");
}

storage::WriteContext Context(const ApiRequest& request, std::string action) {
  return storage::WriteContext{request.actor, request.request_id, std::move(action)};
}

// MLflow's server always stores description, run_id and run_link as strings (the proto's "" when a
// request leaves them out), so its answers carry them even when empty; user_id and
// status_message are never set through the API and appear only when there is a value.
json VersionJson(const storage::ModelVersion& version) {
  json out = {{"name", version.name},
              {"version", std::to_string(version.version)},
              {"creation_timestamp", version.creation_time},
              {"last_updated_timestamp", version.last_updated_time}};
  if (!version.user_id.empty()) out["user_id"] = version.user_id;
  out["current_stage"] = version.current_stage;
  out["description"] = version.description;
  out["source"] = version.source;
  out["run_id"] = version.run_id;
  out["status"] = version.status;
  if (!version.status_message.empty()) out["status_message"] = version.status_message;
  if (!version.tags.empty()) out["tags"] = tracking::TagsJson(version.tags);
  out["run_link"] = version.run_link;
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

// Python's int() on a string: surrounding whitespace and a sign are allowed.
std::optional<int64_t> ParsePythonInt(std::string_view text) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  auto first = std::find_if(text.begin(), text.end(), not_space);
  auto last = std::find_if(text.rbegin(), text.rend(), not_space).base();
  if (first >= last) return std::nullopt;
  std::string_view trimmed(&*first, static_cast<size_t>(last - first));
  if (trimmed.front() == '+') trimmed.remove_prefix(1);
  int64_t value = 0;
  auto [end, error] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  if (trimmed.empty() || error != std::errc() || end != trimmed.data() + trimmed.size()) return std::nullopt;
  return value;
}

// Versions travel as strings in MLflow's protocol; a JSON integer is accepted too.
Result<int64_t> VersionNumber(const RequestParams& params) {
  if (!params.Has("version")) return Status::InvalidParameter(RequestParams::MissingMessage("version"));
  const json& raw = params.json().at("version");
  if (raw.is_number_integer() &&
      !(raw.is_number_unsigned() && raw.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))) {
    return raw.get<int64_t>();
  }
  if (raw.is_string()) {
    const auto& text = raw.get_ref<const std::string&>();
    if (text.empty()) return Status::InvalidParameter(RequestParams::MissingMessage("version"));
    if (auto parsed = ParsePythonInt(text)) return *parsed;
  }
  std::string shown = raw.is_string() ? raw.get<std::string>() : DumpJson(raw);
  return Status::InvalidParameter(fmt::format("Model version must be an integer, got '{}'", shown.substr(0, 100)));
}

// mlflow/utils/validation.py `_validate_model_alias_name`, checks in its order.
Result<std::string> AliasName(const RequestParams& params) {
  LATHE_ASSIGN_OR_RETURN(auto alias, params.RequiredString("alias"));
  // Python's \w also admits non-ASCII letters: accept UTF-8 bytes beyond ASCII.
  bool valid_characters = std::all_of(
      alias.begin(), alias.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-' || c >= 0x80; });
  if (!valid_characters) {
    return Status::InvalidParameter(fmt::format(
        "Invalid alias name: '{}'. Names may only contain alphanumerics, underscores (_), and dashes (-).", alias));
  }
  LATHE_RETURN_IF_ERROR(tracking::ValidateLength("Registered model alias name", alias, kMaxAliasLength));
  auto same_letters = [](unsigned char a, unsigned char b) { return std::tolower(a) == std::tolower(b); };
  std::string_view latest = "latest";
  if (std::equal(alias.begin(), alias.end(), latest.begin(), latest.end(), same_letters)) {
    return Status::InvalidParameter("'latest' alias name (case insensitive) is reserved.");
  }
  bool version_like = alias.size() > 1 && (alias[0] == 'v' || alias[0] == 'V') &&
                      std::all_of(alias.begin() + 1, alias.end(), [](unsigned char c) { return std::isdigit(c); });
  if (version_like) return Status::InvalidParameter(fmt::format("Version alias name '{}' is reserved.", alias));
  return alias;
}

// A registry tag, `entity` being "Registered model" or "Model version" as in MLflow's messages.
Result<Tag> RegistryTag(const RequestParams& item, std::string_view entity) {
  LATHE_ASSIGN_OR_RETURN(auto key, item.RequiredString("key"));
  LATHE_RETURN_IF_ERROR(tracking::ValidateLength(fmt::format("{} key", entity), key, kMaxRegistryTagKey));
  LATHE_RETURN_IF_ERROR(tracking::ValidateKeyName("tag", key));
  LATHE_ASSIGN_OR_RETURN(auto value, item.String("value"));
  if (!value) return Status::InvalidParameter(RequestParams::MissingMessage("value"));
  LATHE_RETURN_IF_ERROR(tracking::ValidateLength(fmt::format("{} value", entity), *value, kMaxRegistryTagValue));
  return Tag{std::move(key), std::move(*value)};
}

Result<std::vector<Tag>> RegistryTags(const RequestParams& params, std::string_view entity) {
  LATHE_ASSIGN_OR_RETURN(auto items, params.ObjectList("tags"));
  std::vector<Tag> tags;
  tags.reserve(items.size());
  for (const auto& item : items) {
    LATHE_ASSIGN_OR_RETURN(auto tag, RegistryTag(item, entity));
    tags.push_back(std::move(tag));
  }
  return tags;
}

Result<int64_t> MaxResults(const RequestParams& params, int64_t default_value, int64_t limit) {
  LATHE_ASSIGN_OR_RETURN(auto value, params.Int64("max_results"));
  int64_t max_results = value.value_or(default_value);
  if (max_results < 1) {
    return Status::InvalidParameter(
        fmt::format("Invalid value for max_results. It must be a positive integer, but got {}", max_results));
  }
  if (max_results > limit) {
    return Status::InvalidParameter(
        fmt::format("Invalid value for request parameter max_results. It must be at most {}, but got value {}", limit,
                    max_results));
  }
  return max_results;
}

// The URI scheme (RFC 3986), or empty for a plain path. One letter is a Windows drive, not a scheme.
std::string_view UriScheme(std::string_view uri) {
  auto colon = uri.find(':');
  if (colon == std::string_view::npos || colon < 2 || !std::isalpha(static_cast<unsigned char>(uri[0]))) return {};
  bool valid = std::all_of(uri.begin() + 1, uri.begin() + colon,
                           [](unsigned char c) { return std::isalnum(c) || c == '+' || c == '-' || c == '.'; });
  return valid ? uri.substr(0, colon) : std::string_view();
}

bool IsLocalUri(std::string_view uri) {
  std::string_view scheme = UriScheme(uri);
  return scheme.empty() || scheme == "file";
}

// urllib.parse.unquote_plus.
std::string UnquotePlus(std::string_view text) {
  auto hex = [](unsigned char c) { return std::isdigit(c) ? c - '0' : std::tolower(c) - 'a' + 10; };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The filesystem path of a local URI: a plain path, or file:/p, file:///p, file://host/p.
std::filesystem::path LocalPath(std::string_view uri) {
  if (UriScheme(uri).empty()) return std::filesystem::path(std::string(uri));
  std::string_view rest = uri.substr(uri.find(':') + 1);
  if (rest.starts_with("//")) {
    rest.remove_prefix(2);
    auto slash = rest.find('/');
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  return std::filesystem::path(UnquotePlus(rest));
}

// The path as it resolves on this machine (symlinks followed), without a trailing separator.
std::filesystem::path Resolved(const std::filesystem::path& path) {
  std::error_code error;
  auto resolved = std::filesystem::weakly_canonical(std::filesystem::absolute(path, error), error);
  if (error) resolved = path.lexically_normal();
  if (!resolved.has_filename() && resolved.has_parent_path() && resolved != resolved.root_path()) {
    resolved = resolved.parent_path();
  }
  return resolved;
}

// MLflow's _validate_source: a local path may be a source only inside the artifact directory of
// the version's run (else any server file could be served as a model); any other URI must not
// climb out of its path with `.` or `..` segments, however often they are percent-encoded.
Status ValidateSource(const std::string& source, const storage::Run* run) {
  if (IsLocalUri(source)) {
    if (run != nullptr && IsLocalUri(run->info.artifact_uri)) {
      auto artifact_dir = Resolved(LocalPath(run->info.artifact_uri));
      auto source_path = Resolved(LocalPath(source));
      auto [dir_end, source_end] =
          std::mismatch(artifact_dir.begin(), artifact_dir.end(), source_path.begin(), source_path.end());
      if (dir_end == artifact_dir.end()) return Status::Ok();
    }
    return Status::InvalidParameter(fmt::format(
        "Invalid model version source: '{}'. To use a local path as a model version source, the run_id request "
        "parameter has to be specified and the local path has to be contained within the artifact directory of the "
        "run specified by the run_id.",
        source));
  }
  Status relative = Status::InvalidParameter(fmt::format(
      "Invalid model version source: '{}'. If supplying a source as an http, https, local file path, ftp, "
      "objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path references "
      "present. Please provide an absolute path.",
      source));
  std::string decoded = source;
  for (std::string next = UnquotePlus(decoded); next != decoded; next = UnquotePlus(decoded)) decoded = next;
  if (decoded.find('\0') != std::string::npos) return relative;
  // The path part of the URI, as urllib.parse.urlparse finds it.
  std::string_view path = std::string_view(decoded).substr(decoded.find(':') + 1);
  if (path.starts_with("//")) {
    path.remove_prefix(2);
    auto slash = path.find('/');
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  path = path.substr(0, path.find_first_of("?#"));
  if (!path.empty() && path.front() != '/') return relative;
  size_t start = 0;
  while (start < path.size()) {
    size_t slash = path.find('/', start);
    std::string_view part =
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part == "." || part == "..") return relative;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::Ok();
}

class RegistryApi {
 public:
  explicit RegistryApi(storage::Store& store) : store_(store) {}

  Result<ApiResponse> CreateModel(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto tags, RegistryTags(params, "Registered model"));
    LATHE_ASSIGN_OR_RETURN(auto description, params.String("description"));
    LATHE_ASSIGN_OR_RETURN(auto model, store_.CreateRegisteredModel(Context(request, "registered-models/create"), name,
                                                                    description.value_or(""), tags));
    return Ok({{"registered_model", ModelJson(model)}});
  }

  Result<ApiResponse> GetModel(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto model, store_.GetRegisteredModel(name));
    return Ok({{"registered_model", ModelJson(model)}});
  }

  Result<ApiResponse> RenameModel(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto new_name, params.RequiredString("new_name"));
    LATHE_ASSIGN_OR_RETURN(auto model,
                           store_.RenameRegisteredModel(Context(request, "registered-models/rename"), name, new_name));
    return Ok({{"registered_model", ModelJson(model)}});
  }

  Result<ApiResponse> UpdateModel(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto description, params.String("description"));
    LATHE_ASSIGN_OR_RETURN(auto model, store_.UpdateRegisteredModel(Context(request, "registered-models/update"), name,
                                                                    description.value_or("")));
    return Ok({{"registered_model", ModelJson(model)}});
  }

  Result<ApiResponse> DeleteModel(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_RETURN_IF_ERROR(store_.DeleteRegisteredModel(Context(request, "registered-models/delete"), name));
    return Empty();
  }

  Result<ApiResponse> SearchModels(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    storage::RegisteredModelSearch search;
    LATHE_ASSIGN_OR_RETURN(search.max_results,
                           MaxResults(params, kRegisteredModelsDefaultPage, kRegisteredModelsMaxPage));
    LATHE_RETURN_IF_ERROR(tracking::ReadSearchTerms(params, tracking::ParseRegisteredModelFilter,
                                                    tracking::ParseRegisteredModelOrderBy, search));
    LATHE_ASSIGN_OR_RETURN(auto page, store_.SearchRegisteredModels(search));
    return Ok(tracking::PageJson(page, "registered_models", search.offset, ModelJson));
  }

  Result<ApiResponse> GetLatestVersions(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
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
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto tag, RegistryTag(params, "Registered model"));
    LATHE_RETURN_IF_ERROR(store_.SetRegisteredModelTag(Context(request, "registered-models/set-tag"), name, tag));
    return Empty();
  }

  Result<ApiResponse> DeleteModelTag(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto key, params.RequiredString("key"));
    LATHE_RETURN_IF_ERROR(tracking::ValidateKeyName("tag", key));
    LATHE_RETURN_IF_ERROR(store_.DeleteRegisteredModelTag(Context(request, "registered-models/delete-tag"), name, key));
    return Empty();
  }

  Result<ApiResponse> SetAlias(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto alias, AliasName(params));
    LATHE_ASSIGN_OR_RETURN(auto version, VersionNumber(params));
    LATHE_RETURN_IF_ERROR(store_.SetAlias(Context(request, "registered-models/alias"), name, alias, version));
    return Empty();
  }

  Result<ApiResponse> DeleteAlias(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto alias, AliasName(params));
    LATHE_RETURN_IF_ERROR(store_.DeleteAlias(Context(request, "registered-models/alias/delete"), name, alias));
    return Empty();
  }

  Result<ApiResponse> GetByAlias(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto alias, AliasName(params));
    LATHE_ASSIGN_OR_RETURN(auto version, store_.GetModelVersionByAlias(name, alias));
    return Ok({{"model_version", VersionJson(version)}});
  }

  Result<ApiResponse> CreateVersion(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    storage::ModelVersionCreate create;
    LATHE_ASSIGN_OR_RETURN(create.name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(create.source, params.RequiredString("source"));
    LATHE_RETURN_IF_ERROR(tracking::ValidateLength("Model version source", create.source, kMaxSourceLength));
    LATHE_ASSIGN_OR_RETURN(auto run_id, params.String("run_id"));
    create.run_id = run_id.value_or("");
    LATHE_ASSIGN_OR_RETURN(auto run_link, params.String("run_link"));
    create.run_link = run_link.value_or("");
    LATHE_RETURN_IF_ERROR(tracking::ValidateLength("Model version run_link", create.run_link, kMaxRunLinkLength));
    LATHE_ASSIGN_OR_RETURN(auto description, params.String("description"));
    create.description = description.value_or("");
    LATHE_ASSIGN_OR_RETURN(create.tags, RegistryTags(params, "Model version"));
    // A version names the run it came from: that run has to exist.
    std::optional<storage::Run> run;
    if (!create.run_id.empty()) {
      LATHE_ASSIGN_OR_RETURN(run, store_.GetRun(create.run_id));
    }
    LATHE_RETURN_IF_ERROR(ValidateSource(create.source, run ? &*run : nullptr));
    LATHE_ASSIGN_OR_RETURN(auto version, store_.CreateModelVersion(Context(request, "model-versions/create"), create));
    return Ok({{"model_version", VersionJson(version)}});
  }

  Result<ApiResponse> GetVersion(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto version, store_.GetModelVersion(name, number));
    return Ok({{"model_version", VersionJson(version)}});
  }

  Result<ApiResponse> UpdateVersion(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto description, params.String("description"));
    LATHE_ASSIGN_OR_RETURN(auto version, store_.UpdateModelVersion(Context(request, "model-versions/update"), name,
                                                                   number, description.value_or("")));
    return Ok({{"model_version", VersionJson(version)}});
  }

  Result<ApiResponse> DeleteVersion(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_RETURN_IF_ERROR(store_.DeleteModelVersion(Context(request, "model-versions/delete"), name, number));
    return Empty();
  }

  Result<ApiResponse> SearchVersions(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    storage::ModelVersionSearch search;
    LATHE_ASSIGN_OR_RETURN(search.max_results, MaxResults(params, kModelVersionsDefaultPage, kModelVersionsMaxPage));
    LATHE_RETURN_IF_ERROR(tracking::ReadSearchTerms(params, tracking::ParseModelVersionFilter,
                                                    tracking::ParseModelVersionOrderBy, search));
    LATHE_ASSIGN_OR_RETURN(auto page, store_.SearchModelVersions(search));
    return Ok(tracking::PageJson(page, "model_versions", search.offset, VersionJson));
  }

  // Where the files are: for a copy registered from a models:/ source, the original's location.
  Result<ApiResponse> GetDownloadUri(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto version, store_.GetModelVersion(name, number));
    return Ok({{"artifact_uri", version.storage_location.empty() ? version.source : version.storage_location}});
  }

  Result<ApiResponse> TransitionStage(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto stage, params.RequiredString("stage"));
    // Required by the proto (MLflow's server would read an absent flag as false): asking keeps a
    // client from archiving, or not archiving, by accident.
    LATHE_ASSIGN_OR_RETURN(auto archive, params.Bool("archive_existing_versions"));
    if (!archive) return Status::InvalidParameter(RequestParams::MissingMessage("archive_existing_versions"));
    LATHE_ASSIGN_OR_RETURN(auto version,
                           store_.TransitionModelVersionStage(Context(request, "model-versions/transition-stage"), name,
                                                              number, stage, *archive));
    return Ok({{"model_version", VersionJson(version)}});
  }

  Result<ApiResponse> SetVersionTag(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto tag, RegistryTag(params, "Model version"));
    LATHE_RETURN_IF_ERROR(store_.SetModelVersionTag(Context(request, "model-versions/set-tag"), name, number, tag));
    return Empty();
  }

  Result<ApiResponse> DeleteVersionTag(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_ASSIGN_OR_RETURN(auto number, VersionNumber(params));
    LATHE_ASSIGN_OR_RETURN(auto key, params.RequiredString("key"));
    LATHE_RETURN_IF_ERROR(tracking::ValidateKeyName("tag", key));
    LATHE_RETURN_IF_ERROR(
        store_.DeleteModelVersionTag(Context(request, "model-versions/delete-tag"), name, number, key));
    return Empty();
  }

  // Lathe's own endpoint: alias moves after `after_id`, oldest first, for rollbacks and replicas.
  Result<ApiResponse> AliasHistory(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.String("name"));
    LATHE_ASSIGN_OR_RETURN(auto after, params.Int64("after_id"));
    LATHE_ASSIGN_OR_RETURN(auto limit, params.Int64("limit"));
    int64_t max_rows = limit.value_or(kAliasHistoryDefaultLimit);
    if (max_rows < 1 || max_rows > kAliasHistoryMaxLimit) {
      return Status::InvalidParameter(
          fmt::format("limit must be between 1 and {}, got {}", kAliasHistoryMaxLimit, max_rows));
    }
    LATHE_ASSIGN_OR_RETURN(auto moves, store_.GetAliasHistory(name.value_or(""), after.value_or(0), max_rows));
    json out = json::array();
    for (const auto& move : moves) {
      json entry = {{"id", move.id},       {"name", move.name}, {"alias", move.alias},
                    {"actor", move.actor}, {"time", move.time}, {"request_id", move.request_id}};
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
