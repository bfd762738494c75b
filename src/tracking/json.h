// MLflow's JSON rendering of tracking entities (proto field names, int64 as JSON numbers, ids as
// strings, empty repeated fields omitted), shared by the tracking API and the CLI.
#pragma once

#include <nlohmann/json.hpp>

#include "storage/store.h"

namespace lathe::tracking {

nlohmann::json TagsJson(const std::vector<storage::Tag>& tags);
nlohmann::json MetricJson(const storage::Metric& metric);
nlohmann::json ExperimentJson(const storage::Experiment& experiment);
nlohmann::json RunInfoJson(const storage::RunInfo& info);
nlohmann::json RunJson(const storage::Run& run);
// Dumps with invalid UTF-8 replaced rather than thrown on.
std::string Dump(const nlohmann::json& value);

}  // namespace lathe::tracking
