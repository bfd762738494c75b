// The server side of monitoring: evaluates each configured monitor over windows of the prediction
// log (drift against the deployment's reference data, integrity, performance once labels are in),
// stores the results as time series, fires alerts with their actions, and accepts late labels and
// reference data. A scheduler evaluates monitors on their own; a lease in the metadata store makes
// sure that among several replicas only one evaluates (and alerts) per schedule period.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "monitoring/alerts.h"
#include "monitoring/drift_report.h"
#include "monitoring/integrity.h"
#include "monitoring/labels.h"
#include "monitoring/monitor_config.h"
#include "monitoring/prediction_log.h"
#include "storage/store.h"

namespace lathe::monitoring {

// Where monitoring keeps its files inside a data directory.
struct MonitoringLayout {
  std::filesystem::path root;  // <data>/monitoring
  std::filesystem::path predictions() const { return root / "predictions"; }
  std::filesystem::path labels() const { return root / "labels"; }
  std::filesystem::path references() const { return root / "references"; }
};

// One evaluation of a monitor over one window.
struct Evaluation {
  std::string monitor;
  std::string deployment;
  std::string status = "ok";  // "ok", "no_data" or "error"
  std::string message;
  int64_t window_start = 0;
  int64_t window_end = 0;
  int64_t rows = 0;
  int64_t labeled_rows = 0;
  std::string reference;  // what the drift was measured against
  std::optional<DriftReport> drift;
  std::string drift_error;
  std::optional<IntegrityReport> integrity;
  std::string integrity_error;
  nlohmann::json performance;  // null without labels or task
  std::string performance_error;
  std::map<std::string, double> metrics;  // what alert rules and time series read
  std::vector<std::string> alerts_fired;
};
nlohmann::json ToJson(const Evaluation& evaluation);

// A time given as Unix milliseconds or ISO-8601 (DuckDB's TIMESTAMPTZ parsing, so every offset form
// works); `what` names it in the error.
Result<int64_t> ParseTimestamp(const std::string& what, const std::string& text);

// Moves the deployment's registry alias back to the version it pointed to before.
using RollbackAction = std::function<Status(const std::string& deployment)>;

struct MonitorServiceOptions {
  MonitoringLayout layout;
  std::string holder;  // this replica's name in leases
};

class MonitorService {
 public:
  MonitorService(storage::Store& store, PredictionLog* log, MonitoringConfig config, MonitorServiceOptions options,
                 RollbackAction rollback);
  ~MonitorService();
  MonitorService(const MonitorService&) = delete;
  MonitorService& operator=(const MonitorService&) = delete;

  // Starts the scheduler for monitors with a schedule.
  void Start();
  void Stop();

  const MonitoringConfig& config() const { return config_; }

  // Evaluates a monitor over the window that ends at `window_end` (default: the last complete fixed
  // window, or now for last-N monitors), stores the result and runs its alert rules.
  Result<Evaluation> Evaluate(const std::string& monitor, std::optional<int64_t> window_end, bool store_result = true);
  // Stored results with windows starting in [from, to), oldest first.
  Result<nlohmann::json> Results(const std::string& monitor, int64_t from, int64_t to, int64_t limit);
  Result<nlohmann::json> Alerts(const std::string& monitor, int64_t limit);
  // The HTML report of a window (evaluated now, not stored) with performance over time.
  Result<std::string> HtmlReport(const std::string& monitor, std::optional<int64_t> window_end);

  // Records labels; answers how many matched logged predictions and which ids are unknown (kept
  // anyway: their prediction may be logged later, e.g. by another replica).
  Result<nlohmann::json> PostLabels(const std::string& deployment, const std::vector<Label>& labels);

  // Copies a CSV/Parquet file as the deployment's reference data (Parquet in the data directory)
  // with every column's kind: `kinds` where it names the column (each must be one), else inferred
  // as the drift report infers it. Evaluations take these kinds; a monitor's own `kinds` win.
  Result<storage::MonitorReference> RegisterReference(const storage::WriteContext& context, const std::string& deployment,
                                                      const std::string& file, const std::string& source,
                                                      const std::map<std::string, ColumnKind>& kinds = {});

  // The deployment's newest registered reference; kResourceDoesNotExist when it has none.
  Result<storage::MonitorReference> Reference(const std::string& deployment);

  // Monitors, prediction log counters and label counters, for GET /api/lathe/monitor.
  nlohmann::json Overview() const;

  // The monitor whose deployment is `deployment`; nullptr when none.
  const MonitorSpec* FindByDeployment(const std::string& deployment) const;

 private:
  Result<Evaluation> EvaluateWindow(const MonitorSpec& spec, int64_t window_start, int64_t window_end, bool sliding);
  void RunAlerts(const MonitorSpec& spec, Evaluation& evaluation);
  void RecordDelivery(const DeliveryRecord& record);
  void Schedule();

  storage::Store& store_;
  PredictionLog* log_;  // may be null (logging off): monitors then see no data
  const MonitoringConfig config_;
  const MonitorServiceOptions options_;
  LabelLog labels_;
  std::unique_ptr<ActionRunner> actions_;

  std::atomic<uint64_t> labels_received_{0};
  std::atomic<uint64_t> labels_unknown_{0};

  std::atomic<bool> stopping_{false};
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::thread scheduler_;
};

}  // namespace lathe::monitoring
