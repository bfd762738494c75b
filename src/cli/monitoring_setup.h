// Monitoring inside `lathe server`: the prediction log fed by serving, the monitor service with its
// scheduler, and the registry rollback its alerts may run.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "cli/data_dir.h"
#include "core/status.h"
#include "monitoring/monitor_service.h"
#include "monitoring/prediction_log.h"
#include "serving/deployment_manager.h"
#include "serving/metrics.h"
#include "serving/serving_api.h"
#include "storage/store.h"

namespace lathe::cli {

struct MonitoringSettings {
  std::string config;             // monitoring.yaml; empty: no monitors, default log policy
  bool log_predictions = true;
  std::string flush_interval = "1s";
  size_t queue_rows = 100000;
};

struct MonitoringRuntime {
  std::unique_ptr<monitoring::PredictionLog> log;  // null when logging is off
  std::unique_ptr<monitoring::MonitorService> service;
};

// Opens the prediction log, hooks it into `serving_options` and `metrics`, and starts the monitors.
Result<MonitoringRuntime> StartMonitoring(const MonitoringSettings& settings, const DataDirLayout& layout,
                                          storage::Store& store, serving::DeploymentManager& deployments,
                                          serving::MetricsRegistry& metrics, serving::ServingApiOptions& serving_options);

// Moves the registry alias that `deployment` serves (models:/name@alias) back to the version it
// pointed to before its last move, as recorded in the alias history; the deployment follows.
Status RollbackDeployment(storage::Store& store, serving::DeploymentManager& deployments, const std::string& deployment);

}  // namespace lathe::cli
