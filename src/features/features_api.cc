#include "features/features_api.h"

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/ids.h"
#include "core/json_dump.h"
#include "features/offline.h"
#include "features/repo_registry.h"

namespace lathe::features {

using nlohmann::json;

namespace {
// Entity rows per REST training-set request; larger sets belong to `lathe features historical`.
constexpr size_t kMaxHistoricalRows = 100000;
}  // namespace

FeatureService::FeatureService(storage::Store& store, std::filesystem::path data_dir)
    : store_(store), data_dir_(std::move(data_dir)) {}

Result<std::shared_ptr<OnlineFeatures>> FeatureService::Online() {
  auto now = std::chrono::steady_clock::now();
  std::shared_ptr<OnlineFeatures> current;
  {
    std::lock_guard lock(mutex_);
    current = online_;
    if (current && now - checked_at_ < std::chrono::seconds(1)) return current;
    checked_at_ = now;  // one request per second looks for a new version; the others go on
  }
  // The store is read without the lock, so a slow read never stalls the requests being served.
  LATHE_ASSIGN_OR_RETURN(auto latest, store_.GetLatestFeatureRepoVersion());
  if (!latest) return Status::NotFound("no feature repository has been applied: run `lathe features apply`");
  if (current && current->repo_hash() == latest->hash) return current;
  LATHE_ASSIGN_OR_RETURN(auto applied, LoadAppliedRepo(store_));
  if (!applied) return Status::NotFound("no feature repository has been applied: run `lathe features apply`");
  std::shared_ptr<OnlineStore> online_store;
  {
    std::lock_guard lock(mutex_);
    if (online_ && online_->repo_hash() == applied->hash) return online_;
    if (online_store_ && online_store_uri_ == applied->repo.online_store) online_store = online_store_;
  }
  if (!online_store) {
    LATHE_ASSIGN_OR_RETURN(auto opened, OpenOnlineStore(applied->repo.online_store, data_dir_, applied->repo.project));
    online_store = std::move(opened);
  }
  auto next = std::make_shared<OnlineFeatures>(applied->repo, applied->hash, online_store);
  std::lock_guard lock(mutex_);
  online_store_ = online_store;
  online_store_uri_ = applied->repo.online_store;
  online_ = next;
  return next;
}

namespace {

Result<json> ParseBody(const ApiRequest& request) {
  auto body = json::parse(request.body, nullptr, false);
  if (body.is_discarded()) return Status::BadRequest("the request body is not valid JSON");
  if (!body.is_object()) return Status::BadRequest("the request body must be a JSON object");
  return body;
}

// Training set over REST: the entity rows come column-wise in the body and the answer is
// column-wise too.
Result<ApiResponse> Historical(FeatureService& service, ApiRequest& request) {
  // Ordered: the entity columns come back in the order the client sent them.
  auto body = nlohmann::ordered_json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Status::BadRequest("the request body must be a JSON object");
  LATHE_ASSIGN_OR_RETURN(auto online, service.Online());
  const FeatureRepo& repo = online->repo();
  if (!body.contains("features") || !body["features"].is_array()) {
    return Status::InvalidParameter("'features' must be a list of view:feature");
  }
  std::vector<std::string> names;
  for (const auto& item : body["features"]) {
    if (!item.is_string()) return Status::InvalidParameter("'features' must be a list of view:feature");
    names.push_back(item.get<std::string>());
  }
  HistoricalRequest historical;
  LATHE_ASSIGN_OR_RETURN(historical.features, ParseFeatureRefs(repo, names));
  historical.full_feature_names = body.value("full_feature_names", false);
  historical.timestamp_column = body.value("timestamp_column", std::string("event_timestamp"));
  if (!body.contains("entities") || !body["entities"].is_object() || body["entities"].empty()) {
    return Status::InvalidParameter("'entities' must be an object of column -> list of values");
  }
  size_t rows = 0;
  bool first = true;
  for (const auto& [column, values] : body["entities"].items()) {
    if (!values.is_array()) return Status::InvalidParameter(fmt::format("entities.{} must be a list", column));
    if (!first && values.size() != rows) {
      return Status::InvalidParameter(fmt::format("entities.{} has {} values, other columns have {}", column, values.size(), rows));
    }
    rows = values.size();
    first = false;
  }
  if (rows == 0) return Status::InvalidParameter("no entity rows");
  if (rows > kMaxHistoricalRows) {
    return Status::LimitExceeded(fmt::format("at most {} entity rows per request; use `lathe features historical` for more", kMaxHistoricalRows));
  }
  // DuckDB reads the rows from a newline-delimited JSON file, inferring column types as it does
  // for an entity file.
  auto scratch = service.data_dir() / "features" / "requests";
  std::error_code error;
  std::filesystem::create_directories(scratch, error);
  auto path = scratch / (NewUuidHex() + ".ndjson");
  struct Remove {
    std::filesystem::path path;
    ~Remove() {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
  } remove{path};
  {
    std::ofstream file(path);
    for (size_t row = 0; row < rows; ++row) {
      nlohmann::ordered_json object = nlohmann::ordered_json::object();
      for (const auto& [column, values] : body["entities"].items()) object[column] = values[row];
      file << object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    }
    if (!file) return Status::Internal("cannot stage the entity rows");
  }
  DuckDbOptions options;
  options.threads = 2;
  LATHE_ASSIGN_OR_RETURN(auto db, DuckDb::Open(options));
  LATHE_RETURN_IF_ERROR(RegisterSources(repo, *db));
  historical.entities_path = path.string();
  LATHE_ASSIGN_OR_RETURN(auto query, PrepareHistorical(repo, *db, historical));
  LATHE_ASSIGN_OR_RETURN(auto table, db->Query(fmt::format("SELECT CAST(to_json(__q) AS VARCHAR) FROM ({}) AS __q", query)));
  nlohmann::ordered_json columns = nlohmann::ordered_json::object();
  json order = json::array();
  for (const auto& row : table.rows) {
    auto object = nlohmann::ordered_json::parse(std::get<std::string>(row[0]), nullptr, false);
    for (const auto& [column, value] : object.items()) {
      if (!columns.contains(column)) {
        order.push_back(column);
        columns[column] = json::array();
      }
      columns[column].push_back(value);
    }
  }
  nlohmann::ordered_json out = {{"columns", order}, {"data", columns}, {"feature_repo_hash", online->repo_hash()}};
  return ApiResponse::Json(out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

}  // namespace

std::vector<Route> FeatureRoutes(FeatureService& service) {
  std::vector<Route> routes;
  routes.push_back({"POST", "/api/lathe/features/online", [&service](ApiRequest& request) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto body, ParseBody(request));
                      LATHE_ASSIGN_OR_RETURN(auto online, service.Online());
                      LATHE_ASSIGN_OR_RETURN(auto result, online->Read(body));
                      return ApiResponse::Json(ToText(result));
                    }});
  routes.push_back({"POST", "/api/lathe/features/historical",
                    [&service](ApiRequest& request) { return Historical(service, request); }});
  routes.push_back({"GET", "/api/lathe/features/repository", [&service](ApiRequest&) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto applied, LoadAppliedRepo(service.store()));
                      if (!applied) return Status::NotFound("no feature repository has been applied");
                      json out = {{"version", applied->version}, {"hash", applied->hash}, {"definition", ToJson(applied->repo)}};
                      return ApiResponse::Json(DumpJson(out));
                    }});
  routes.push_back({"GET", "/api/lathe/features/versions", [&service](ApiRequest&) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto versions, service.store().ListFeatureRepoVersions(1000));
                      json out = {{"versions", json::array()}};
                      for (const auto& version : versions) {
                        out["versions"].push_back({{"version", version.version}, {"hash", version.hash},
                                                   {"created_at", version.created_at}, {"actor", version.actor}});
                      }
                      return ApiResponse::Json(DumpJson(out));
                    }});
  return routes;
}

}  // namespace lathe::features
