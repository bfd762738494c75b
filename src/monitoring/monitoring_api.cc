#include "monitoring/monitoring_api.h"

#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/json_dump.h"
#include "storage/duckdb.h"

namespace lathe::monitoring {
namespace {

using nlohmann::json;

Result<std::optional<int64_t>> OptionalTime(const ApiRequest& request, const json* body, const std::string& name) {
  if (const std::string* value = request.QueryValue(name)) {
    LATHE_ASSIGN_OR_RETURN(auto parsed, ParseTimestamp(name, *value));
    return std::optional<int64_t>(parsed);
  }
  if (body && body->contains(name)) {
    const auto& value = (*body)[name];
    if (value.is_number_integer()) return std::optional<int64_t>(value.get<int64_t>());
    if (value.is_string()) {
      LATHE_ASSIGN_OR_RETURN(auto parsed, ParseTimestamp(name, value.get<std::string>()));
      return std::optional<int64_t>(parsed);
    }
    return Status::InvalidParameter(fmt::format("'{}' must be Unix milliseconds or an ISO-8601 string", name));
  }
  return std::optional<int64_t>();
}

Result<int64_t> Limit(const ApiRequest& request, int64_t fallback) {
  const std::string* value = request.QueryValue("limit");
  if (!value) return fallback;
  if (value->empty() || value->size() > 6 || value->find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidParameter(fmt::format("'limit' must be an integer between 1 and 100000, not '{}'", *value));
  }
  int64_t limit = std::stoll(*value);
  if (limit < 1 || limit > 100000) return Status::InvalidParameter("'limit' must be between 1 and 100000");
  return limit;
}

Result<std::vector<Label>> ParseLabels(const json& body) {
  if (!body.contains("labels") || !body["labels"].is_array()) {
    return Status::InvalidParameter("'labels' must be a list of {\"prediction_id\": ..., \"label\": ...}");
  }
  std::vector<Label> labels;
  labels.reserve(body["labels"].size());
  size_t index = 0;
  for (const auto& item : body["labels"]) {
    if (!item.is_object() || !item.contains("prediction_id") || !item.contains("label")) {
      return Status::InvalidParameter(fmt::format("labels[{}] must be an object with prediction_id and label", index));
    }
    const auto& id = item["prediction_id"];
    Label label;
    if (id.is_string()) label.prediction_id = id.get<std::string>();
    else if (id.is_number_integer()) label.prediction_id = std::to_string(id.get<int64_t>());
    else return Status::InvalidParameter(fmt::format("labels[{}].prediction_id must be a string or an integer", index));
    if (label.prediction_id.empty()) return Status::InvalidParameter(fmt::format("labels[{}].prediction_id is empty", index));
    const auto& value = item["label"];
    if (value.is_string()) label.value = value.get<std::string>();
    else if (value.is_number_integer()) label.value = std::to_string(value.get<int64_t>());
    else if (value.is_number_float()) label.value = LabelText(storage::Cell(value.get<double>()));
    else if (value.is_boolean()) label.value = value.get<bool>() ? "true" : "false";
    else return Status::InvalidParameter(fmt::format("labels[{}].label must be a string, a number or a boolean", index));
    labels.push_back(std::move(label));
    ++index;
  }
  return labels;
}

Result<json> ParseObjectBody(const ApiRequest& request, bool allow_empty) {
  if (request.body.empty() && allow_empty) return json::object();
  auto body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Status::BadRequest("the request body must be a JSON object");
  return body;
}

// "/api/lathe/monitor/<name>/<action>" -> (name, action).
Result<std::pair<std::string, std::string>> MonitorAction(const ApiRequest& request) {
  const std::string& suffix = request.path_suffix;
  const size_t slash = suffix.find('/');
  if (slash == std::string::npos || slash == 0 || suffix.find('/', slash + 1) != std::string::npos) {
    return Status(ErrorCode::kEndpointNotFound, fmt::format("no endpoint at /api/lathe/monitor/{}", suffix));
  }
  return std::pair{suffix.substr(0, slash), suffix.substr(slash + 1)};
}

json ReferenceJson(const storage::MonitorReference& reference) {
  return {{"deployment", reference.deployment},
          {"version", reference.version},
          {"rows", reference.rows},
          {"source", reference.source},
          {"kinds", json::parse(reference.kinds, nullptr, false)},
          {"created_at", FormatIsoUtcMillis(reference.created_at)},
          {"created_by", reference.actor}};
}

Result<ApiResponse> RegisterReference(MonitorService& service, ApiRequest& request, const std::string& deployment) {
  std::string format;
  if (const std::string* given = request.QueryValue("format")) format = *given;
  else if (request.content_type.find("csv") != std::string::npos) format = "csv";
  else if (request.content_type.find("parquet") != std::string::npos) format = "parquet";
  if (format != "csv" && format != "parquet") {
    return Status::InvalidParameter(
        "send the reference data as CSV (Content-Type: text/csv) or Parquet (Content-Type: application/vnd.apache.parquet), "
        "or say ?format=csv|parquet");
  }
  if (request.body_file.empty()) return Status::InvalidParameter("the request has no body");
  std::map<std::string, ColumnKind> kinds;
  if (const std::string* given = request.QueryValue("kinds")) {
    std::vector<std::string> items;
    for (size_t start = 0; start <= given->size();) {
      const size_t comma = std::min(given->find(',', start), given->size());
      items.push_back(given->substr(start, comma - start));
      start = comma + 1;
    }
    LATHE_ASSIGN_OR_RETURN(kinds, ParseColumnKindList(items));
  }
  const auto file = request.body_file.string() + "." + format;
  std::error_code error;
  std::filesystem::rename(request.body_file, file, error);
  if (error) return Status::Internal(fmt::format("cannot stage the upload: {}", error.message()));
  request.body_file = file;  // removed by the server with the upload
  std::string source = "upload";
  if (const std::string* given = request.QueryValue("source")) source = *given;
  auto saved = service.RegisterReference({request.actor, request.request_id, "monitor/reference"}, deployment, file, source, kinds);
  std::filesystem::remove(file, error);
  if (!saved.ok()) return saved.status();
  return ApiResponse::Json(DumpJson(json{{"reference", ReferenceJson(*saved)}}));
}

}  // namespace

std::vector<Route> MonitoringRoutes(MonitorService& service) {
  std::vector<Route> routes;
  routes.push_back({"GET", "/api/lathe/monitor", [&service](ApiRequest&) -> Result<ApiResponse> {
                      return ApiResponse::Json(DumpJson(service.Overview()));
                    }});
  routes.push_back({"POST", "/api/lathe/monitor/labels", [&service](ApiRequest& request) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto body, ParseObjectBody(request, false));
                      if (!body.contains("deployment") || !body["deployment"].is_string()) {
                        return Status::InvalidParameter("'deployment' must name the deployment the predictions came from");
                      }
                      LATHE_ASSIGN_OR_RETURN(auto labels, ParseLabels(body));
                      LATHE_ASSIGN_OR_RETURN(auto answer, service.PostLabels(body["deployment"].get<std::string>(), labels));
                      return ApiResponse::Json(DumpJson(answer));
                    }});
  routes.push_back({"GET", "/api/lathe/monitor/alerts", [&service](ApiRequest& request) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto limit, Limit(request, 100));
                      LATHE_ASSIGN_OR_RETURN(auto alerts, service.Alerts("", limit));
                      return ApiResponse::Json(DumpJson(alerts));
                    }});
  Route upload{"PUT", "/api/lathe/monitor/references/",
               [&service](ApiRequest& request) -> Result<ApiResponse> {
                 return RegisterReference(service, request, request.path_suffix);
               },
               true};
  upload.streams_upload = true;
  routes.push_back(std::move(upload));
  routes.push_back({"GET", "/api/lathe/monitor/references/",
                    [&service](ApiRequest& request) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto reference, service.Reference(request.path_suffix));
                      return ApiResponse::Json(DumpJson(json{{"reference", ReferenceJson(reference)}}));
                    },
                    true});
  routes.push_back({"POST", "/api/lathe/monitor/",
                    [&service](ApiRequest& request) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto target, MonitorAction(request));
                      if (target.second != "evaluate") {
                        return Status(ErrorCode::kEndpointNotFound, fmt::format("no POST endpoint '{}'", target.second));
                      }
                      LATHE_ASSIGN_OR_RETURN(auto body, ParseObjectBody(request, true));
                      LATHE_ASSIGN_OR_RETURN(auto window_end, OptionalTime(request, &body, "window_end"));
                      LATHE_ASSIGN_OR_RETURN(auto evaluation, service.Evaluate(target.first, window_end));
                      return ApiResponse::Json(DumpJson(ToJson(evaluation)));
                    },
                    true});
  routes.push_back({"GET", "/api/lathe/monitor/",
                    [&service](ApiRequest& request) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto target, MonitorAction(request));
                      const auto& [monitor, action] = target;
                      if (action == "results") {
                        LATHE_ASSIGN_OR_RETURN(auto from, OptionalTime(request, nullptr, "from"));
                        LATHE_ASSIGN_OR_RETURN(auto to, OptionalTime(request, nullptr, "to"));
                        LATHE_ASSIGN_OR_RETURN(auto limit, Limit(request, 1000));
                        LATHE_ASSIGN_OR_RETURN(auto results, service.Results(monitor, from.value_or(0),
                                                                             to.value_or(std::numeric_limits<int64_t>::max()), limit));
                        return ApiResponse::Json(DumpJson(results));
                      }
                      if (action == "alerts") {
                        LATHE_ASSIGN_OR_RETURN(auto limit, Limit(request, 100));
                        LATHE_ASSIGN_OR_RETURN(auto alerts, service.Alerts(monitor, limit));
                        return ApiResponse::Json(DumpJson(alerts));
                      }
                      if (action == "report") {
                        LATHE_ASSIGN_OR_RETURN(auto window_end, OptionalTime(request, nullptr, "window_end"));
                        const std::string* format = request.QueryValue("format");
                        if (format && *format == "json") {
                          LATHE_ASSIGN_OR_RETURN(auto evaluation, service.Evaluate(monitor, window_end, false));
                          return ApiResponse::Json(DumpJson(ToJson(evaluation)));
                        }
                        if (format && *format != "html") {
                          return Status::InvalidParameter(fmt::format("unknown format '{}': html or json", *format));
                        }
                        LATHE_ASSIGN_OR_RETURN(auto html, service.HtmlReport(monitor, window_end));
                        ApiResponse response = ApiResponse::Text(std::move(html));
                        response.content_type = "text/html; charset=utf-8";
                        return response;
                      }
                      return Status(ErrorCode::kEndpointNotFound,
                                    fmt::format("no endpoint '{}': results, alerts or report", action));
                    },
                    true});
  return routes;
}

}  // namespace lathe::monitoring
