// JSON of tracking entities in MLflow 2.x's exact shape.
#include "tracking/json.h"

#include <cmath>

namespace lathe::tracking {

nlohmann::json TagsJson(const std::vector<storage::Tag>& tags) {
  auto out = nlohmann::json::array();
  for (const auto& tag : tags) out.push_back({{"key", tag.key}, {"value", tag.value}});
  return out;
}

nlohmann::json MetricJson(const storage::Metric& metric) {
  nlohmann::json value;
  // protobuf's JSON mapping spells non-finite doubles as strings.
  if (std::isnan(metric.value)) {
    value = "NaN";
  } else if (std::isinf(metric.value)) {
    value = metric.value > 0 ? "Infinity" : "-Infinity";
  } else {
    value = metric.value;
  }
  return {{"key", metric.key}, {"value", value}, {"timestamp", metric.timestamp}, {"step", metric.step}};
}

nlohmann::json ExperimentJson(const storage::Experiment& experiment) {
  nlohmann::json out = {{"experiment_id", std::to_string(experiment.experiment_id)},
                        {"name", experiment.name},
                        {"artifact_location", experiment.artifact_location},
                        {"lifecycle_stage", experiment.lifecycle_stage},
                        {"last_update_time", experiment.last_update_time},
                        {"creation_time", experiment.creation_time}};
  if (!experiment.tags.empty()) out["tags"] = TagsJson(experiment.tags);
  return out;
}

nlohmann::json RunInfoJson(const storage::RunInfo& info) {
  nlohmann::json out = {{"run_uuid", info.run_id},
                        {"run_name", info.run_name},
                        {"experiment_id", std::to_string(info.experiment_id)},
                        {"user_id", info.user_id},
                        {"status", info.status},
                        {"start_time", info.start_time}};
  if (info.end_time) out["end_time"] = *info.end_time;
  out["artifact_uri"] = info.artifact_uri;
  out["lifecycle_stage"] = info.lifecycle_stage;
  out["run_id"] = info.run_id;
  return out;
}

nlohmann::json RunJson(const storage::Run& run) {
  nlohmann::json data = nlohmann::json::object();
  if (!run.metrics.empty()) {
    auto& metrics = data["metrics"] = nlohmann::json::array();
    for (const auto& metric : run.metrics) metrics.push_back(MetricJson(metric));
  }
  if (!run.params.empty()) {
    auto& params = data["params"] = nlohmann::json::array();
    for (const auto& param : run.params) params.push_back({{"key", param.key}, {"value", param.value}});
  }
  if (!run.tags.empty()) data["tags"] = TagsJson(run.tags);
  nlohmann::json inputs = nlohmann::json::object();
  if (!run.inputs.empty()) {
    auto& dataset_inputs = inputs["dataset_inputs"] = nlohmann::json::array();
    for (const auto& input : run.inputs) {
      nlohmann::json dataset = {{"name", input.dataset.name},
                                {"digest", input.dataset.digest},
                                {"source_type", input.dataset.source_type},
                                {"source", input.dataset.source}};
      if (input.dataset.schema) dataset["schema"] = *input.dataset.schema;
      if (input.dataset.profile) dataset["profile"] = *input.dataset.profile;
      nlohmann::json entry = {{"dataset", dataset}};
      if (!input.tags.empty()) entry["tags"] = TagsJson(input.tags);
      dataset_inputs.push_back(std::move(entry));
    }
  }
  return {{"info", RunInfoJson(run.info)}, {"data", std::move(data)}, {"inputs", std::move(inputs)}};
}


}  // namespace lathe::tracking
