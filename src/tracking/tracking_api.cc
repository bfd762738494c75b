// MLflow tracking endpoints: request validation, then Store calls, then MLflow-shaped JSON.
#include "core/json_dump.h"
#include "tracking/tracking_api.h"

#include <fmt/format.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/request_params.h"
#include "tracking/fast_log_batch.h"
#include "tracking/json.h"
#include "tracking/search_filter.h"
#include "tracking/validation.h"

namespace lathe::tracking {
namespace {

using nlohmann::json;
using storage::Tag;

constexpr std::string_view kRunNameTag = "mlflow.runName";
constexpr std::string_view kUserTag = "mlflow.user";
constexpr int64_t kMaxSearchResults = 50000;

ApiResponse Ok(const json& body) { return ApiResponse::Json(DumpJson(body)); }
ApiResponse Empty() { return ApiResponse::Json("{}"); }

storage::WriteContext Context(const ApiRequest& request, std::string action) {
  return storage::WriteContext{request.actor, request.request_id, std::move(action)};
}

Result<int64_t> ParseExperimentId(const RequestParams& params, std::string_view name, bool required) {
  const json* raw = params.json().contains(name) ? &params.json().at(std::string(name)) : nullptr;
  if (raw == nullptr || raw->is_null() || (raw->is_string() && raw->get<std::string>().empty())) {
    if (required) return Status::InvalidParameter(RequestParams::MissingMessage(name));
    return int64_t{0};
  }
  auto id = params.Int64(name);
  if (!id.ok() || !id.value() || *id.value() < 0) {
    return Status::InvalidParameter(fmt::format("Invalid experiment ID: '{}'", raw->is_string() ? raw->get<std::string>() : DumpJson(*raw)));
  }
  return *id.value();
}

Result<std::string> RunIdOf(const RequestParams& params) {
  LATHE_ASSIGN_OR_RETURN(auto run_id, params.String("run_id"));
  if (!run_id || run_id->empty()) {
    LATHE_ASSIGN_OR_RETURN(run_id, params.String("run_uuid"));
  }
  if (!run_id || run_id->empty()) return Status::InvalidParameter(RequestParams::MissingMessage("run_id"));
  return *run_id;
}

Result<storage::ViewType> ParseViewType(const RequestParams& params, std::string_view field) {
  const json* raw = params.json().contains(field) ? &params.json().at(std::string(field)) : nullptr;
  if (raw == nullptr || raw->is_null()) return storage::ViewType::kActiveOnly;
  // protobuf JSON allows enum names or numbers (ACTIVE_ONLY=1, DELETED_ONLY=2, ALL=3).
  std::string text = raw->is_string() ? raw->get<std::string>() : DumpJson(*raw);
  if (text == "ACTIVE_ONLY" || text == "1") return storage::ViewType::kActiveOnly;
  if (text == "DELETED_ONLY" || text == "2") return storage::ViewType::kDeletedOnly;
  if (text == "ALL" || text == "3") return storage::ViewType::kAll;
  return Status::InvalidParameter(
      fmt::format("Invalid value {} for parameter '{}' supplied: expected ACTIVE_ONLY, DELETED_ONLY or ALL.", text, field));
}

Result<int64_t> ParseMaxResults(const RequestParams& params, int64_t default_value, int64_t max_value) {
  LATHE_ASSIGN_OR_RETURN(auto max_results, params.Int64("max_results"));
  int64_t value = max_results.value_or(default_value);
  if (value <= 0 || value > max_value) {
    return Status::InvalidParameter(fmt::format(
        "Invalid value {} for parameter 'max_results' supplied. It must be at most {}, and at least 1.", value, max_value));
  }
  return value;
}

// ---------------------------------------------------------------------------------------------

class TrackingApi {
 public:
  TrackingApi(storage::Store& store, artifacts::LocalArtifactStore& artifact_store)
      : store_(store), artifact_store_(artifact_store) {}

  Result<ApiResponse> CreateExperiment(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("name"));
    LATHE_RETURN_IF_ERROR(ValidateExperimentName(name));
    LATHE_ASSIGN_OR_RETURN(auto location, params.String("artifact_location"));
    LATHE_ASSIGN_OR_RETURN(auto tags, ParseTagList(params, "tags"));
    LATHE_ASSIGN_OR_RETURN(auto id, store_.CreateExperiment(Context(request, "experiments/create"), name,
                                                            location.value_or(""), DefaultArtifactLocation, tags));
    return Ok({{"experiment_id", std::to_string(id)}});
  }

  Result<ApiResponse> GetExperiment(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto id, ParseExperimentId(params, "experiment_id", true));
    LATHE_ASSIGN_OR_RETURN(auto experiment, store_.GetExperiment(id));
    return Ok({{"experiment", ExperimentJson(experiment)}});
  }

  Result<ApiResponse> GetExperimentByName(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto name, params.RequiredString("experiment_name"));
    LATHE_ASSIGN_OR_RETURN(auto experiment, store_.GetExperimentByName(name));
    return Ok({{"experiment", ExperimentJson(experiment)}});
  }

  Result<ApiResponse> SearchExperiments(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    storage::ExperimentSearch search;
    LATHE_ASSIGN_OR_RETURN(search.max_results, ParseMaxResults(params, 1000, kMaxSearchResults));
    LATHE_ASSIGN_OR_RETURN(search.view, ParseViewType(params, "view_type"));
    LATHE_RETURN_IF_ERROR(ReadSearchTerms(params, ParseExperimentFilter, ParseExperimentOrderBy, search));
    LATHE_ASSIGN_OR_RETURN(auto page, store_.SearchExperiments(search));
    return Ok(PageJson(page, "experiments", search.offset, ExperimentJson));
  }

  Result<ApiResponse> UpdateExperiment(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto id, ParseExperimentId(params, "experiment_id", true));
    LATHE_ASSIGN_OR_RETURN(auto new_name, params.String("new_name"));
    if (!new_name) return Empty();  // MLflow treats a missing new_name as nothing to do
    LATHE_RETURN_IF_ERROR(ValidateExperimentName(*new_name));
    LATHE_RETURN_IF_ERROR(store_.RenameExperiment(Context(request, "experiments/update"), id, *new_name));
    return Empty();
  }

  Result<ApiResponse> SetExperimentLifecycle(ApiRequest& request, bool deleted) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto id, ParseExperimentId(params, "experiment_id", true));
    LATHE_RETURN_IF_ERROR(store_.SetExperimentLifecycle(
        Context(request, deleted ? "experiments/delete" : "experiments/restore"), id, deleted));
    return Empty();
  }

  Result<ApiResponse> SetExperimentTag(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto id, ParseExperimentId(params, "experiment_id", true));
    LATHE_ASSIGN_OR_RETURN(auto tag, ParseTag(params));
    LATHE_RETURN_IF_ERROR(store_.SetExperimentTag(Context(request, "experiments/set-experiment-tag"), id, tag));
    return Empty();
  }

  Result<ApiResponse> CreateRun(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    storage::RunInfo info;
    LATHE_ASSIGN_OR_RETURN(info.experiment_id, ParseExperimentId(params, "experiment_id", false));
    LATHE_ASSIGN_OR_RETURN(auto tags, ParseTagList(params, "tags"));
    LATHE_ASSIGN_OR_RETURN(auto run_name, params.String("run_name"));
    LATHE_ASSIGN_OR_RETURN(auto user_id, params.String("user_id"));
    LATHE_ASSIGN_OR_RETURN(auto start_time, params.Int64("start_time"));
    std::string name_from_tag, user_from_tag;
    for (const auto& tag : tags) {
      if (tag.key == kRunNameTag) name_from_tag = tag.value;
      if (tag.key == kUserTag) user_from_tag = tag.value;
    }
    if (run_name && !run_name->empty() && !name_from_tag.empty() && *run_name != name_from_tag) {
      return Status::InvalidParameter(fmt::format(
          "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
          "(run_name='{}', mlflow.runName='{}').",
          *run_name, name_from_tag));
    }
    info.run_name = run_name && !run_name->empty() ? *run_name : !name_from_tag.empty() ? name_from_tag : NewRunName();
    LATHE_RETURN_IF_ERROR(ValidateLength("Run name", info.run_name, kMaxRunNameLength));
    if (name_from_tag.empty()) tags.push_back(Tag{std::string(kRunNameTag), info.run_name});
    info.user_id = user_id && !user_id->empty() ? *user_id : user_from_tag;
    info.start_time = start_time.value_or(NowMillis());
    info.run_id = NewUuidHex();
    info.status = "RUNNING";
    LATHE_ASSIGN_OR_RETURN(auto experiment, store_.GetExperiment(info.experiment_id));
    info.artifact_uri = fmt::format("{}/{}/artifacts", experiment.artifact_location, info.run_id);
    LATHE_RETURN_IF_ERROR(store_.CreateRun(Context(request, "runs/create"), info, tags));
    LATHE_ASSIGN_OR_RETURN(auto run, store_.GetRun(info.run_id));
    return Ok({{"run", RunJson(run)}});
  }

  Result<ApiResponse> GetRun(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, RunIdOf(params));
    LATHE_ASSIGN_OR_RETURN(auto run, store_.GetRun(run_id));
    return Ok({{"run", RunJson(run)}});
  }

  Result<ApiResponse> UpdateRun(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, RunIdOf(params));
    storage::RunUpdate update;
    LATHE_ASSIGN_OR_RETURN(update.status, params.String("status"));
    if (update.status) {
      static const char* const kStatuses[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"};
      if (std::find(std::begin(kStatuses), std::end(kStatuses), *update.status) == std::end(kStatuses)) {
        return Status::InvalidParameter(fmt::format(
            "Invalid value {} for parameter 'status' supplied: expected one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED.",
            *update.status));
      }
    }
    LATHE_ASSIGN_OR_RETURN(update.end_time, params.Int64("end_time"));
    LATHE_ASSIGN_OR_RETURN(update.run_name, params.String("run_name"));
    if (update.run_name) LATHE_RETURN_IF_ERROR(ValidateLength("Run name", *update.run_name, kMaxRunNameLength));
    LATHE_ASSIGN_OR_RETURN(auto info, store_.UpdateRun(Context(request, "runs/update"), run_id, update));
    return Ok({{"run_info", RunInfoJson(info)}});
  }

  Result<ApiResponse> SetRunLifecycle(ApiRequest& request, bool deleted) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, params.RequiredString("run_id"));
    LATHE_RETURN_IF_ERROR(store_.SetRunLifecycle(Context(request, deleted ? "runs/delete" : "runs/restore"), run_id, deleted));
    return Empty();
  }

  // Reads a metric's fields with their JSON types; ValidateBatch checks the values.
  static Result<storage::Metric> ParseMetric(const RequestParams& item) {
    storage::Metric metric;
    LATHE_ASSIGN_OR_RETURN(metric.key, item.RequiredString("key"));
    LATHE_ASSIGN_OR_RETURN(metric.value, item.RequiredDouble("value"));
    LATHE_ASSIGN_OR_RETURN(metric.timestamp, item.RequiredInt64("timestamp"));
    LATHE_ASSIGN_OR_RETURN(auto step, item.Int64("step"));
    metric.step = step.value_or(0);
    return metric;
  }

  static Result<storage::Param> ParseParam(const RequestParams& item) {
    storage::Param param;
    LATHE_ASSIGN_OR_RETURN(param.key, item.RequiredString("key"));
    LATHE_ASSIGN_OR_RETURN(auto value, item.String("value"));
    if (!value) return Status::InvalidParameter(RequestParams::MissingMessage("value"));
    param.value = std::move(*value);
    return param;
  }

  // MLflow's rules for what a batch (or a single log call) may hold.
  static Status ValidateBatch(const storage::LogBatch& batch) {
    LATHE_RETURN_IF_ERROR(ValidateBatchLimit("metrics", batch.metrics.size(), kMaxMetricsPerBatch));
    LATHE_RETURN_IF_ERROR(ValidateBatchLimit("params", batch.params.size(), kMaxParamsTagsPerBatch));
    LATHE_RETURN_IF_ERROR(ValidateBatchLimit("tags", batch.tags.size(), kMaxParamsTagsPerBatch));
    LATHE_RETURN_IF_ERROR(ValidateBatchLimit("metrics, params, and tags",
                                             batch.metrics.size() + batch.params.size() + batch.tags.size(),
                                             kMaxEntitiesPerBatch));
    for (const auto& metric : batch.metrics) {
      LATHE_RETURN_IF_ERROR(ValidateKeyName("metric", metric.key));
      if (metric.timestamp < 0) {
        return Status::InvalidParameter(fmt::format(
            "Got invalid timestamp {} for metric '{}' (value={}). Timestamp must be a nonnegative long (64-bit "
            "integer) ",
            metric.timestamp, metric.key, metric.value));
      }
    }
    std::vector<std::string> duplicates;
    for (size_t i = 0; i < batch.params.size(); ++i) {
      const auto& param = batch.params[i];
      LATHE_RETURN_IF_ERROR(ValidateKeyName("param", param.key));
      LATHE_RETURN_IF_ERROR(ValidateLength("Param value", param.value, kMaxParamValueLength));
      for (size_t j = 0; j < i; ++j) {
        if (batch.params[j].key == param.key) duplicates.push_back(param.key);
      }
    }
    if (!duplicates.empty()) {
      return Status::InvalidParameter(fmt::format(
          "Duplicate parameter keys have been submitted: {}. Please ensure the request contains only one param value "
          "per param key.",
          DumpJson(json(duplicates))));
    }
    for (const auto& tag : batch.tags) {
      LATHE_RETURN_IF_ERROR(ValidateKeyName("tag", tag.key));
      LATHE_RETURN_IF_ERROR(ValidateLength("Tag value", tag.value, kMaxTagValueLength));
    }
    return Status::Ok();
  }

  // Validates and stores a batch of one kind of call (log-metric, log-batch, ...).
  Result<ApiResponse> StoreBatch(const ApiRequest& request, const char* action, const std::string& run_id,
                                 const storage::LogBatch& batch) {
    LATHE_RETURN_IF_ERROR(ValidateBatch(batch));
    LATHE_RETURN_IF_ERROR(store_.LogBatch(Context(request, action), run_id, batch));
    return Empty();
  }

  Result<ApiResponse> LogMetric(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, RunIdOf(params));
    storage::LogBatch batch;
    LATHE_ASSIGN_OR_RETURN(auto metric, ParseMetric(params));
    batch.metrics.push_back(std::move(metric));
    return StoreBatch(request, "runs/log-metric", run_id, batch);
  }

  Result<ApiResponse> LogParam(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, RunIdOf(params));
    storage::LogBatch batch;
    LATHE_ASSIGN_OR_RETURN(auto param, ParseParam(params));
    batch.params.push_back(std::move(param));
    return StoreBatch(request, "runs/log-parameter", run_id, batch);
  }

  Result<ApiResponse> SetTag(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, RunIdOf(params));
    storage::LogBatch batch;
    LATHE_ASSIGN_OR_RETURN(auto tag, ParseTag(params));
    batch.tags.push_back(std::move(tag));
    return StoreBatch(request, "runs/set-tag", run_id, batch);
  }

  Result<ApiResponse> DeleteTag(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, params.RequiredString("run_id"));
    LATHE_ASSIGN_OR_RETURN(auto key, params.RequiredString("key"));
    LATHE_RETURN_IF_ERROR(store_.DeleteTag(Context(request, "runs/delete-tag"), run_id, key));
    return Empty();
  }

  Result<ApiResponse> LogBatch(ApiRequest& request) {
    if (request.body.size() > kMaxBatchRequestBytes) {
      return Status::InvalidParameter(fmt::format(
          "Batched logging API requests must be at most {} bytes, got a request of size {}.", kMaxBatchRequestBytes,
          request.body.size()));
    }
    // Well-formed bodies take the simdjson path; anything unusual takes the general one, which
    // explains what is wrong.
    if (request.content_type.starts_with("application/json")) {
      if (auto parsed = ParseLogBatchFast(request.body)) {
        return StoreBatch(request, "runs/log-batch", parsed->run_id, parsed->batch);
      }
    }
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, RunIdOf(params));
    LATHE_ASSIGN_OR_RETURN(auto metrics, params.ObjectList("metrics"));
    LATHE_ASSIGN_OR_RETURN(auto param_items, params.ObjectList("params"));
    storage::LogBatch batch;
    // Count before converting: an oversized batch is refused without parsing its items.
    LATHE_RETURN_IF_ERROR(ValidateBatchLimit("metrics", metrics.size(), kMaxMetricsPerBatch));
    batch.metrics.reserve(metrics.size());
    for (const auto& item : metrics) {
      LATHE_ASSIGN_OR_RETURN(auto metric, ParseMetric(item));
      batch.metrics.push_back(std::move(metric));
    }
    for (const auto& item : param_items) {
      LATHE_ASSIGN_OR_RETURN(auto param, ParseParam(item));
      batch.params.push_back(std::move(param));
    }
    LATHE_ASSIGN_OR_RETURN(batch.tags, ParseTagList(params, "tags"));
    return StoreBatch(request, "runs/log-batch", run_id, batch);
  }

  Result<ApiResponse> LogModel(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, RunIdOf(params));
    LATHE_ASSIGN_OR_RETURN(auto model_json, params.RequiredString("model_json"));
    json model = json::parse(model_json, nullptr, false);
    if (model.is_discarded() || !model.is_object()) {
      return Status::InvalidParameter("model_json must be a JSON object describing the model (an MLmodel as JSON).");
    }
    for (const char* field : {"artifact_path", "flavors"}) {
      if (!model.contains(field)) {
        return Status::InvalidParameter(fmt::format("Model json is missing mandatory fields: ['{}']", field));
      }
    }
    // MLflow keeps the list of a run's logged models in the `mlflow.log-model.history` tag.
    LATHE_ASSIGN_OR_RETURN(auto run, store_.GetRun(run_id));
    json history = json::array();
    for (const auto& tag : run.tags) {
      if (tag.key == "mlflow.log-model.history") {
        history = json::parse(tag.value, nullptr, false);
        if (!history.is_array()) history = json::array();
      }
    }
    history.push_back(model);
    std::string value = DumpJson(history);
    storage::LogBatch batch;
    batch.tags.push_back(Tag{"mlflow.log-model.history", value});
    LATHE_RETURN_IF_ERROR(store_.LogBatch(Context(request, "runs/log-model"), run_id, batch));
    return Empty();
  }

  Result<ApiResponse> LogInputs(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, params.RequiredString("run_id"));
    LATHE_ASSIGN_OR_RETURN(auto items, params.ObjectList("datasets"));
    LATHE_RETURN_IF_ERROR(ValidateBatchLimit("datasets", items.size(), kMaxDatasetsPerBatch));
    std::vector<storage::DatasetInput> inputs;
    for (const auto& item : items) {
      storage::DatasetInput input;
      LATHE_ASSIGN_OR_RETURN(auto tags, item.ObjectList("tags"));
      for (const auto& tag : tags) {
        LATHE_ASSIGN_OR_RETURN(auto key, tag.RequiredString("key"));
        LATHE_ASSIGN_OR_RETURN(auto value, tag.String("value"));
        LATHE_RETURN_IF_ERROR(ValidateLength("Input tag key", key, 255));
        LATHE_RETURN_IF_ERROR(ValidateLength("Input tag value", value.value_or(""), 500));
        input.tags.push_back(Tag{key, value.value_or("")});
      }
      if (!item.json().contains("dataset") || !item.json()["dataset"].is_object()) {
        return Status::InvalidParameter(RequestParams::MissingMessage("datasets.dataset"));
      }
      auto dataset = RequestParams::FromJson(item.json()["dataset"]);
      auto& out = input.dataset;
      LATHE_ASSIGN_OR_RETURN(out.name, dataset.RequiredString("name"));
      LATHE_ASSIGN_OR_RETURN(out.digest, dataset.RequiredString("digest"));
      LATHE_ASSIGN_OR_RETURN(out.source_type, dataset.RequiredString("source_type"));
      LATHE_ASSIGN_OR_RETURN(out.source, dataset.RequiredString("source"));
      LATHE_ASSIGN_OR_RETURN(out.schema, dataset.String("schema"));
      LATHE_ASSIGN_OR_RETURN(out.profile, dataset.String("profile"));
      LATHE_RETURN_IF_ERROR(ValidateLength("Dataset name", out.name, 500));
      LATHE_RETURN_IF_ERROR(ValidateLength("Dataset digest", out.digest, 36));
      LATHE_RETURN_IF_ERROR(ValidateLength("Dataset source", out.source, 65535));
      LATHE_RETURN_IF_ERROR(ValidateLength("Dataset schema", out.schema.value_or(""), 65535));
      LATHE_RETURN_IF_ERROR(ValidateLength("Dataset profile", out.profile.value_or(""), 16777215));
      inputs.push_back(std::move(input));
    }
    LATHE_RETURN_IF_ERROR(store_.LogInputs(Context(request, "runs/log-inputs"), run_id, inputs));
    return Empty();
  }

  Result<ApiResponse> SearchRuns(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    storage::RunSearch search;
    LATHE_ASSIGN_OR_RETURN(auto experiment_ids, params.StringList("experiment_ids"));
    for (const auto& id : experiment_ids) {
      auto one = RequestParams::FromJson(json{{"experiment_id", id}});
      LATHE_ASSIGN_OR_RETURN(auto parsed, ParseExperimentId(one, "experiment_id", true));
      search.experiment_ids.push_back(parsed);
    }
    LATHE_ASSIGN_OR_RETURN(search.max_results, ParseMaxResults(params, 1000, kMaxSearchResults));
    LATHE_ASSIGN_OR_RETURN(search.view, ParseViewType(params, "run_view_type"));
    LATHE_RETURN_IF_ERROR(ReadSearchTerms(params, ParseRunFilter, ParseRunOrderBy, search));
    LATHE_ASSIGN_OR_RETURN(auto page, store_.SearchRuns(search));
    return Ok(PageJson(page, "runs", search.offset, RunJson));
  }

  Result<ApiResponse> GetMetricHistory(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, RunIdOf(params));
    LATHE_ASSIGN_OR_RETURN(auto key, params.RequiredString("metric_key"));
    LATHE_ASSIGN_OR_RETURN(auto max_results, params.Int64("max_results"));
    LATHE_ASSIGN_OR_RETURN(auto token, params.String("page_token"));
    LATHE_ASSIGN_OR_RETURN(int64_t offset, DecodePageToken(token.value_or("")));
    if (max_results && (*max_results <= 0 || *max_results > 25000)) {
      return Status::InvalidParameter(fmt::format(
          "Invalid value {} for parameter 'max_results' supplied. It must be between 1 and 25000.", *max_results));
    }
    LATHE_ASSIGN_OR_RETURN(auto history, store_.GetMetricHistory(run_id, key));
    // MLflow 2.12.2 returns the whole history; paging applies only when the client asks for it.
    int64_t total = static_cast<int64_t>(history.size());
    int64_t begin = std::min(offset, total);
    int64_t end = max_results ? std::min(total, begin + *max_results) : total;
    json body = json::object();
    if (end > begin) {
      auto& metrics = body["metrics"] = json::array();
      for (int64_t i = begin; i < end; ++i) metrics.push_back(MetricJson(history[i]));
    }
    if (end < total) body["next_page_token"] = EncodePageToken(end);
    return Ok(body);
  }

  Result<ApiResponse> GetMetricHistoryBulkInterval(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_ids, params.StringList("run_ids"));
    if (run_ids.empty()) return Status::InvalidParameter("GetMetricHistoryBulkInterval request must specify at least one run_id.");
    if (run_ids.size() > 100) {
      return Status::InvalidParameter("GetMetricHistoryBulkInterval request cannot specify more than 100 run_ids.");
    }
    LATHE_ASSIGN_OR_RETURN(auto key, params.RequiredString("metric_key"));
    LATHE_ASSIGN_OR_RETURN(auto start_step, params.Int64("start_step"));
    LATHE_ASSIGN_OR_RETURN(auto end_step, params.Int64("end_step"));
    if (start_step.has_value() != end_step.has_value()) {
      return Status::InvalidParameter("If either start step or end step are specified, both must be specified.");
    }
    if (start_step && *start_step > *end_step) {
      return Status::InvalidParameter("end_step must be greater than start_step.");
    }
    LATHE_ASSIGN_OR_RETURN(auto max_results, params.Int64("max_results"));
    int64_t limit = max_results.value_or(2500);
    if (limit <= 0 || limit > 2500) {
      return Status::InvalidParameter(fmt::format(
          "max_results must be between 1 and 2500, got {}.", limit));
    }
    LATHE_ASSIGN_OR_RETURN(auto points, store_.GetMetricHistoryBulkInterval(run_ids, key, start_step, end_step, limit));
    json body = json::object();
    if (!points.empty()) {
      auto& metrics = body["metrics"] = json::array();
      for (const auto& [run_id, metric] : points) {
        auto entry = MetricJson(metric);
        entry["run_id"] = run_id;
        metrics.push_back(std::move(entry));
      }
    }
    return Ok(body);
  }

  Result<ApiResponse> ListArtifacts(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    LATHE_ASSIGN_OR_RETURN(auto run_id, RunIdOf(params));
    LATHE_ASSIGN_OR_RETURN(auto path, params.String("path"));
    LATHE_ASSIGN_OR_RETURN(auto run, store_.GetRun(run_id));
    LATHE_ASSIGN_OR_RETURN(auto root, artifacts::RelativePathForUri(artifact_store_, run.info.artifact_uri));
    std::string sub = path.value_or("");
    // The path is relative to the run's artifact root: check it on its own, not only once joined.
    if (!sub.empty()) LATHE_RETURN_IF_ERROR(artifact_store_.Resolve(sub).status());
    std::string listed = sub.empty() ? root : root.empty() ? sub : root + "/" + sub;
    LATHE_ASSIGN_OR_RETURN(auto files, artifact_store_.List(listed));
    json body = {{"root_uri", run.info.artifact_uri}};
    if (!files.empty()) {
      auto& out = body["files"] = json::array();
      for (const auto& file : files) {
        json entry = {{"path", sub.empty() ? file.path : sub + "/" + file.path}, {"is_dir", file.is_dir}};
        if (!file.is_dir) entry["file_size"] = file.file_size;
        out.push_back(std::move(entry));
      }
    }
    return Ok(body);
  }

  Result<ApiResponse> QueryAudit(ApiRequest& request) {
    LATHE_ASSIGN_OR_RETURN(auto params, RequestParams::FromRequest(request));
    storage::AuditQuery query;
    LATHE_ASSIGN_OR_RETURN(query.actor, params.String("actor"));
    LATHE_ASSIGN_OR_RETURN(query.action, params.String("action"));
    LATHE_ASSIGN_OR_RETURN(query.object_id, params.String("object_id"));
    LATHE_ASSIGN_OR_RETURN(query.since, params.Int64("since"));
    LATHE_ASSIGN_OR_RETURN(auto limit, params.Int64("limit"));
    query.limit = limit.value_or(100);
    if (query.limit <= 0 || query.limit > 10000) {
      return Status::InvalidParameter(fmt::format("limit must be between 1 and 10000, got {}", query.limit));
    }
    LATHE_ASSIGN_OR_RETURN(auto entries, store_.QueryAudit(query));
    json out = json::array();
    for (const auto& entry : entries) {
      out.push_back({{"id", entry.id}, {"time", entry.time}, {"actor", entry.actor}, {"action", entry.action},
                     {"object_type", entry.object_type}, {"object_id", entry.object_id},
                     {"request_id", entry.request_id}});
    }
    return Ok({{"entries", out}});
  }

 private:
  storage::Store& store_;
  artifacts::LocalArtifactStore& artifact_store_;
};

}  // namespace

std::string DefaultArtifactLocation(int64_t experiment_id) { return fmt::format("mlflow-artifacts:/{}", experiment_id); }

std::vector<Route> TrackingRoutes(storage::Store& store, artifacts::LocalArtifactStore& artifact_store) {
  auto api = std::make_shared<TrackingApi>(store, artifact_store);
  auto bind = [api](auto method) -> ApiHandler {
    return [api, method](ApiRequest& request) { return ((*api).*method)(request); };
  };
  auto bind_flag = [api](auto method, bool flag) -> ApiHandler {
    return [api, method, flag](ApiRequest& request) { return ((*api).*method)(request, flag); };
  };
  const std::string base = "/api/2.0/mlflow/";
  std::vector<Route> routes = {
      {"POST", base + "experiments/create", bind(&TrackingApi::CreateExperiment)},
      {"GET", base + "experiments/get", bind(&TrackingApi::GetExperiment)},
      {"GET", base + "experiments/get-by-name", bind(&TrackingApi::GetExperimentByName)},
      {"GET", base + "experiments/search", bind(&TrackingApi::SearchExperiments)},
      {"POST", base + "experiments/search", bind(&TrackingApi::SearchExperiments)},
      {"POST", base + "experiments/update", bind(&TrackingApi::UpdateExperiment)},
      {"POST", base + "experiments/delete", bind_flag(&TrackingApi::SetExperimentLifecycle, true)},
      {"POST", base + "experiments/restore", bind_flag(&TrackingApi::SetExperimentLifecycle, false)},
      {"POST", base + "experiments/set-experiment-tag", bind(&TrackingApi::SetExperimentTag)},
      {"POST", base + "runs/create", bind(&TrackingApi::CreateRun)},
      {"GET", base + "runs/get", bind(&TrackingApi::GetRun)},
      {"POST", base + "runs/update", bind(&TrackingApi::UpdateRun)},
      {"POST", base + "runs/delete", bind_flag(&TrackingApi::SetRunLifecycle, true)},
      {"POST", base + "runs/restore", bind_flag(&TrackingApi::SetRunLifecycle, false)},
      {"POST", base + "runs/log-metric", bind(&TrackingApi::LogMetric)},
      {"POST", base + "runs/log-parameter", bind(&TrackingApi::LogParam)},
      {"POST", base + "runs/set-tag", bind(&TrackingApi::SetTag)},
      {"POST", base + "runs/delete-tag", bind(&TrackingApi::DeleteTag)},
      {"POST", base + "runs/log-batch", bind(&TrackingApi::LogBatch)},
      {"POST", base + "runs/log-model", bind(&TrackingApi::LogModel)},
      {"POST", base + "runs/log-inputs", bind(&TrackingApi::LogInputs)},
      {"POST", base + "runs/search", bind(&TrackingApi::SearchRuns)},
      {"GET", base + "metrics/get-history", bind(&TrackingApi::GetMetricHistory)},
      {"GET", base + "metrics/get-history-bulk-interval", bind(&TrackingApi::GetMetricHistoryBulkInterval)},
      {"GET", base + "artifacts/list", bind(&TrackingApi::ListArtifacts)},
      {"GET", "/api/lathe/audit", bind(&TrackingApi::QueryAudit)},
  };
  return routes;
}

}  // namespace lathe::tracking
