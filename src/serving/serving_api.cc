// Inference and deployment endpoints over the DeploymentManager.
#include "serving/serving_api.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/json_dump.h"
#include "core/version.h"
#include "http/server.h"
#include "models/signature.h"

namespace lathe::serving {
namespace {

using nlohmann::json;

enum class Protocol { kOip, kMlflow };

// "/v2/models/" suffixes: "<m>", "<m>/ready", "<m>/infer", "<m>/versions/<v>[/ready|/infer]".
struct ModelPath {
  std::string model;
  std::string version;
  std::string action;  // "", "ready" or "infer"
};

Result<ModelPath> ParseModelPath(std::string_view suffix) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= suffix.size()) {
    size_t slash = suffix.find('/', start);
    if (slash == std::string_view::npos) slash = suffix.size();
    parts.push_back(suffix.substr(start, slash - start));
    start = slash + 1;
  }
  ModelPath path;
  if (parts.empty() || parts[0].empty()) return Status(ErrorCode::kEndpointNotFound, "no model name in the path");
  path.model = std::string(parts[0]);
  size_t next = 1;
  if (parts.size() >= 3 && parts[1] == "versions") {
    if (parts[2].empty()) return Status(ErrorCode::kEndpointNotFound, "no version in the path");
    path.version = std::string(parts[2]);
    next = 3;
  }
  if (parts.size() == next + 1 && (parts[next] == "ready" || parts[next] == "infer")) {
    path.action = std::string(parts[next]);
  } else if (parts.size() != next) {
    return Status(ErrorCode::kEndpointNotFound, fmt::format("no endpoint at /v2/models/{}", suffix));
  }
  return path;
}

json SpecsJson(const std::vector<models::TensorSpec>& specs, models::InputMode mode) {
  json list = json::array();
  for (const auto& spec : specs) {
    list.push_back({{"name", spec.name},
                    {"datatype", models::DataTypeName(spec.datatype)},
                    {"shape", mode == models::InputMode::kColumns ? std::vector<int64_t>{-1} : spec.shape}});
  }
  return list;
}

// A request column of this name carries the caller's own prediction ids (one per row), unless the
// model itself takes a column of that name.
constexpr std::string_view kPredictionIdColumn = "prediction_id";

Status TakePredictionIdColumn(const models::ModelMetadata& metadata, InferenceRequest& request) {
  for (const auto& spec : metadata.inputs) {
    if (spec.name == kPredictionIdColumn) return Status::Ok();
  }
  auto column = std::find_if(request.inputs.begin(), request.inputs.end(),
                             [](const models::Tensor& tensor) { return tensor.name == kPredictionIdColumn; });
  if (column == request.inputs.end()) return Status::Ok();
  if (!request.prediction_ids.empty()) {
    return Status::InvalidParameter("prediction ids are given twice: as prediction_ids and as a prediction_id column");
  }
  if (column->width() != 1) {
    return Status::InvalidParameter("the prediction_id column must hold one id per row");
  }
  const size_t rows = column->element_count();
  request.prediction_ids.reserve(rows);
  for (size_t row = 0; row < rows; ++row) {
    if (column->is_bytes()) {
      if (column->is_null(row)) {
        return Status::InvalidParameter(fmt::format("the prediction_id column is null at row {}", row));
      }
      request.prediction_ids.push_back(column->strings[row]);
    } else {
      const double value = column->numbers[row];
      if (!std::isfinite(value) || value != std::floor(value)) {
        return Status::InvalidParameter(fmt::format("the prediction_id column holds {} at row {}: ids are strings or "
                                                    "integers",
                                                    value, row));
      }
      request.prediction_ids.push_back(fmt::format("{:.0f}", value));
    }
  }
  request.inputs.erase(column);
  return Status::Ok();
}

class InferenceApi {
 public:
  InferenceApi(DeploymentManager& manager, MetricsRegistry& metrics, const ServingApiOptions& options)
      : manager_(manager), metrics_(metrics), options_(options) {}

  Result<ApiResponse> Infer(const ApiRequest& http, const std::string& name, const std::string& version,
                            Protocol protocol) {
    const auto started = std::chrono::steady_clock::now();
    std::shared_ptr<ServedModel> served;
    monitoring::PredictionEvent event;
    auto response = InferOnce(http, name, version, protocol, &served, options_.log_prediction ? &event : nullptr);
    if (response.ok() && served) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      served->ok_requests->Increment();
      served->latency->Observe(seconds);
      if (options_.log_prediction) {
        event.deployment = name;
        event.model = served->resolved.registered_name.empty() ? served->resolved.uri : served->resolved.registered_name;
        event.model_version = served->resolved.version;
        event.request_id = http.request_id;
        event.timestamp_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count() -
                             static_cast<int64_t>(seconds * 1000);
        event.latency_ms = seconds * 1000;
        options_.log_prediction(std::move(event));
      }
    } else if (!response.ok()) {
      // Errors are rare enough for a labelled lookup; unknown model names are not labels (unbounded).
      metrics_
          .GetCounter("lathe_inference_requests_total", "Inference requests by outcome",
                      {{"model", served ? name : ""},
                       {"version", served ? served->resolved.version : ""},
                       {"status", std::to_string(http::HttpStatusFor(response.status().code()))}})
          .Increment();
    }
    return response;
  }

  Result<ApiResponse> Metadata(const std::string& name, const std::string& version) {
    LATHE_ASSIGN_OR_RETURN(auto served, manager_.Route(name, version, ""));
    const auto& metadata = served->model->metadata();
    json body = {{"name", name},
                 {"versions", {served->resolved.version}},
                 {"platform", metadata.flavor == "lathe" ? "lathe_pipeline" : "lathe_" + metadata.flavor},
                 {"inputs", SpecsJson(metadata.inputs, metadata.input_mode)},
                 {"outputs", SpecsJson(metadata.outputs, models::InputMode::kTensor)},
                 {"parameters",
                  {{"input_mode", models::InputModeName(metadata.input_mode)},
                   {"evaluator", metadata.evaluator},
                   {"flavor", metadata.flavor},
                   {"model_uuid", metadata.model_uuid},
                   {"registered_model", served->resolved.registered_name},
                   {"max_batch_size", served->batcher->options().max_batch_size}}}};
    return ApiResponse::Json(DumpJson(body));
  }

 private:
  Result<ApiResponse> InferOnce(const ApiRequest& http, const std::string& name, const std::string& version,
                                Protocol protocol, std::shared_ptr<ServedModel>* served_out,
                                monitoring::PredictionEvent* logged) {
    Result<InferenceRequest> decoded = protocol == Protocol::kOip
                                           ? DecodeOipRequest(http.body, options_.limits)
                                           : DecodeMlflowRequest(http.content_type, http.body, options_.limits);
    if (!decoded.ok()) return decoded.status();
    InferenceRequest& request = *decoded;
    std::shared_ptr<ServedModel> shadow;
    LATHE_ASSIGN_OR_RETURN(auto served, manager_.Route(name, version, request.routing_key, &shadow));
    *served_out = served;
    const auto& metadata = served->model->metadata();
    LATHE_RETURN_IF_ERROR(TakePredictionIdColumn(metadata, request));
    if (!metadata.feature_lookup.empty()) {
      if (!options_.fetch_features) {
        return Status::InvalidState(fmt::format(
            "model '{}' takes inputs from the feature store, which only `lathe server` serves", name));
      }
      LATHE_RETURN_IF_ERROR(options_.fetch_features(metadata.feature_lookup, name, request.inputs));
    }
    // The log sees the named columns as the model's signature takes them, before binding packs them.
    if (logged) logged->AddInputs(request.inputs);
    LATHE_ASSIGN_OR_RETURN(auto inputs, models::BindInputs(metadata.input_mode, metadata.inputs, std::move(request.inputs),
                                                        metadata.packs_numeric_columns));
    const auto rows = static_cast<size_t>(inputs[0].rows());

    InferenceResponse response;
    response.model_name = name;
    response.model_version = served->resolved.version;
    response.id = request.id;
    if (!request.prediction_ids.empty()) {
      if (request.prediction_ids.size() != rows) {
        return Status::InvalidParameter(fmt::format("prediction_ids has {} ids for {} rows", request.prediction_ids.size(),
                                                    rows));
      }
      response.prediction_ids = std::move(request.prediction_ids);
    } else {
      response.prediction_ids.reserve(rows);
      for (size_t row = 0; row < rows; ++row) response.prediction_ids.push_back(fmt::format("{}-{}", http.request_id, row));
    }
    if (shadow) manager_.RecordShadow(std::move(shadow), inputs, response.prediction_ids);

    std::vector<models::Tensor> outputs;
    LATHE_RETURN_IF_ERROR(served->batcher->Predict(std::move(inputs), &outputs, [&](const BatchObservation& batch) {
      served->batch_rows->Observe(batch.rows);
    }));
    if (request.requested_outputs.empty()) {
      response.outputs = std::move(outputs);
    } else {
      for (const auto& wanted : request.requested_outputs) {
        auto found = std::find_if(outputs.begin(), outputs.end(), [&](const auto& t) { return t.name == wanted; });
        if (found == outputs.end()) {
          std::vector<std::string_view> names;
          for (const auto& output : outputs) names.push_back(output.name);
          return Status::InvalidParameter(fmt::format("unknown output '{}' (the model has: {})", wanted, fmt::join(names, ", ")));
        }
        response.outputs.push_back(std::move(*found));
      }
    }
    ApiResponse out;
    out.body = protocol == Protocol::kOip ? EncodeOipResponse(response) : EncodeMlflowResponse(response);
    if (logged) {
      logged->prediction_ids = std::move(response.prediction_ids);
      logged->AddOutputs(response.outputs);
    }
    return out;
  }

  DeploymentManager& manager_;
  MetricsRegistry& metrics_;
  const ServingApiOptions options_;
};

Route Inference(std::string method, std::string path, ApiHandler handler, bool prefix = false) {
  Route route{std::move(method), std::move(path), std::move(handler), prefix};
  route.error_style = ErrorStyle::kInference;
  return route;
}

Result<json> ParseJsonBody(const ApiRequest& request) {
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Status::BadRequest("the request body is not valid JSON");
  return body;
}

// Deploys (or replaces), records who did it, and answers with the deployment as loaded.
Result<ApiResponse> DeployAndDescribe(DeploymentManager& manager, const DeploymentAudit& audit,
                                      const ApiRequest& request, const DeploymentSpec& spec, bool replace) {
  LATHE_RETURN_IF_ERROR(manager.Deploy(spec, replace));
  spdlog::info("request_id={} actor={} {} {} from {}", request.request_id, request.actor,
               replace ? "redeployed" : "deployed", spec.name, spec.model_uri);
  LATHE_RETURN_IF_ERROR(audit(request, replace ? "deployments/update" : "deployments/create", spec.name));
  LATHE_ASSIGN_OR_RETURN(auto described, manager.Describe(spec.name));
  return ApiResponse::Json(DumpJson(json{{"deployment", described}}));
}

}  // namespace

std::vector<Route> InferenceRoutes(DeploymentManager& manager, MetricsRegistry& metrics,
                                   const ServingApiOptions& options) {
  auto api = std::make_shared<InferenceApi>(manager, metrics, options);
  std::vector<Route> routes;
  routes.push_back(Inference("GET", "/v2/health/live", [](ApiRequest&) -> Result<ApiResponse> {
    return ApiResponse::Json(R"({"live":true})");
  }));
  routes.push_back(Inference("GET", "/v2/health/ready", [&manager](ApiRequest&) -> Result<ApiResponse> {
    if (!manager.Ready()) return Status::Unavailable("models are still loading");
    return ApiResponse::Json(R"({"ready":true})");
  }));
  routes.push_back(Inference("GET", "/v2", [](ApiRequest&) -> Result<ApiResponse> {
    return ApiResponse::Json(DumpJson(json{{"name", "lathe"}, {"version", kVersion}, {"extensions", json::array()}}));
  }));
  routes.push_back(Inference(
      "GET", "/v2/models/",
      [api, &manager](ApiRequest& request) -> Result<ApiResponse> {
        LATHE_ASSIGN_OR_RETURN(auto path, ParseModelPath(request.path_suffix));
        if (path.action == "infer") return Status(ErrorCode::kMethodNotAllowed, "infer takes POST");
        if (path.action == "ready") {
          LATHE_RETURN_IF_ERROR(manager.Route(path.model, path.version, "").status());
          return ApiResponse::Json(DumpJson(json{{"name", path.model}, {"ready", true}}));
        }
        return api->Metadata(path.model, path.version);
      },
      true));
  routes.push_back(Inference(
      "POST", "/v2/models/",
      [api](ApiRequest& request) -> Result<ApiResponse> {
        LATHE_ASSIGN_OR_RETURN(auto path, ParseModelPath(request.path_suffix));
        if (path.action != "infer") return Status(ErrorCode::kMethodNotAllowed, "only .../infer takes POST");
        return api->Infer(request, path.model, path.version, Protocol::kOip);
      },
      true));
  routes.push_back({"POST", "/invocations", [api, &manager](ApiRequest& request) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto name, manager.DefaultDeployment());
                      return api->Infer(request, name, "", Protocol::kMlflow);
                    }});
  routes.push_back({"POST", "/models/",
                    [api](ApiRequest& request) -> Result<ApiResponse> {
                      const std::string& suffix = request.path_suffix;
                      constexpr std::string_view kAction = "/invocations";
                      if (!suffix.ends_with(kAction) || suffix.size() == kAction.size()) {
                        return Status(ErrorCode::kEndpointNotFound, "expected POST /models/<name>/invocations");
                      }
                      const std::string name = suffix.substr(0, suffix.size() - kAction.size());
                      if (name.find('/') != std::string::npos) {
                        return Status(ErrorCode::kEndpointNotFound, "expected POST /models/<name>/invocations");
                      }
                      return api->Infer(request, name, "", Protocol::kMlflow);
                    },
                    true});
  routes.push_back({"GET", "/ping", [](ApiRequest&) -> Result<ApiResponse> {
                      ApiResponse response = ApiResponse::Json("\n");
                      return response;
                    }});
  if (options.serve_health) {
    routes.push_back({"GET", "/health", [](ApiRequest&) -> Result<ApiResponse> { return ApiResponse::Text("OK"); }});
  }
  routes.push_back({"GET", "/metrics", [&metrics, &manager](ApiRequest&) -> Result<ApiResponse> {
                      ApiResponse response = ApiResponse::Text(metrics.Render() + manager.RenderGauges());
                      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
                      return response;
                    }});
  return routes;
}

std::vector<Route> DeploymentRoutes(DeploymentManager& manager, DeploymentAudit audit) {
  std::vector<Route> routes;
  routes.push_back({"GET", "/api/lathe/deployments", [&manager](ApiRequest&) -> Result<ApiResponse> {
                      return ApiResponse::Json(DumpJson(json{{"deployments", manager.DescribeAll()}}));
                    }});
  routes.push_back({"POST", "/api/lathe/deployments", [&manager, audit](ApiRequest& request) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto body, ParseJsonBody(request));
                      LATHE_ASSIGN_OR_RETURN(auto spec, DeploymentSpecFromJson(body));
                      return DeployAndDescribe(manager, audit, request, spec, /*replace=*/false);
                    }});
  auto name_of = [](const ApiRequest& request) -> Result<std::string> {
    if (request.path_suffix.empty() || request.path_suffix.find('/') != std::string::npos) {
      return Status(ErrorCode::kEndpointNotFound, "expected /api/lathe/deployments/<name>");
    }
    return request.path_suffix;
  };
  routes.push_back({"GET", "/api/lathe/deployments/",
                    [&manager, name_of](ApiRequest& request) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto name, name_of(request));
                      LATHE_ASSIGN_OR_RETURN(auto described, manager.Describe(name));
                      return ApiResponse::Json(DumpJson(json{{"deployment", described}}));
                    },
                    true});
  routes.push_back({"PUT", "/api/lathe/deployments/",
                    [&manager, name_of, audit](ApiRequest& request) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto name, name_of(request));
                      LATHE_ASSIGN_OR_RETURN(auto body, ParseJsonBody(request));
                      if (body.is_object() && !body.contains("name")) body["name"] = name;
                      LATHE_ASSIGN_OR_RETURN(auto spec, DeploymentSpecFromJson(body));
                      if (spec.name != name) {
                        return Status::InvalidParameter(
                            fmt::format("the body names deployment '{}' but the path names '{}'", spec.name, name));
                      }
                      return DeployAndDescribe(manager, audit, request, spec, /*replace=*/true);
                    },
                    true});
  routes.push_back({"DELETE", "/api/lathe/deployments/",
                    [&manager, name_of, audit](ApiRequest& request) -> Result<ApiResponse> {
                      LATHE_ASSIGN_OR_RETURN(auto name, name_of(request));
                      LATHE_RETURN_IF_ERROR(manager.Undeploy(name));
                      spdlog::info("request_id={} actor={} undeployed {}", request.request_id, request.actor, name);
                      LATHE_RETURN_IF_ERROR(audit(request, "deployments/delete", name));
                      return ApiResponse::Json("{}");
                    },
                    true});
  return routes;
}

}  // namespace lathe::serving
