// The monitoring configuration of `lathe server` (--monitoring-config monitoring.yaml): monitors
// per deployment, the prediction log's policies, alert rules, and the allow-lists of webhooks and
// commands that alerts may use. Only this file can name a program or an address; the REST API can
// refer to them only by name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "monitoring/alerts.h"
#include "monitoring/drift_report.h"
#include "monitoring/integrity.h"
#include "monitoring/prediction_log.h"

namespace lathe::monitoring {

enum class Task { kNone, kClassification, kRegression };

struct MonitorSpec {
  std::string name;
  std::string deployment;
  int64_t window_ms = 3600000;  // fixed windows aligned to the epoch (UTC), e.g. hourly
  int64_t last_rows = 0;        // > 0: a sliding window of the last N logged rows instead
  int64_t schedule_ms = 0;      // how often the server evaluates; 0: never on its own
  std::string reference;        // a CSV/Parquet file; empty: the deployment's registered reference
  std::string prediction;       // the log column of the prediction; empty: the first output_ column
  std::string probabilities;    // the log column of class probabilities (optional)
  std::string target = "target";             // the reference's target column; labels are compared under it
  std::string reference_prediction = "prediction";  // the reference's prediction column, for prediction drift
  Task task = Task::kNone;
  DriftReportOptions drift;     // columns, kinds, per-column tests and thresholds, drift share
  IntegrityOptions integrity;   // rules, ranges, null shares
  std::vector<AlertRule> alerts;
};

struct MonitoringConfig {
  std::map<std::string, WebhookTarget> webhooks;
  std::map<std::string, CommandTarget> commands;
  DeploymentLogPolicy default_log_policy;
  std::map<std::string, DeploymentLogPolicy> log_policies;  // per deployment
  std::map<std::string, MonitorSpec> monitors;              // by name
};

// Parses monitoring.yaml text; every error names `file_name` and the line. Validates names,
// windows, tests, action references against the allow-lists and webhook URLs.
Result<MonitoringConfig> ParseMonitoringConfig(const std::string& text, const std::string& file_name);
Result<MonitoringConfig> LoadMonitoringConfig(const std::string& path);

}  // namespace lathe::monitoring
