#include "cli/monitoring_setup.h"

#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/duration.h"
#include "core/ids.h"
#include "serving/model_source.h"

namespace lathe::cli {
namespace {

// Hashes of sensitive columns are salted per data directory, so they cannot be looked up in
// precomputed tables yet stay joinable within one installation.
Result<std::string> LoadOrCreateSalt(const std::filesystem::path& dir) {
  const auto path = dir / "salt";
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Status::Internal(fmt::format("cannot create {}: {}", dir.string(), error.message()));
  if (std::ifstream in(path); in) {
    std::string salt;
    std::getline(in, salt);
    if (!salt.empty()) return salt;
  }
  const std::string salt = NewUuidHex() + NewUuidHex();
  const auto temp = dir / fmt::format("salt.{}.tmp", getpid());
  {
    std::ofstream out(temp, std::ios::trunc);
    out << salt << "\n";
    if (!out) return Status::Internal(fmt::format("cannot write {}", temp.string()));
  }
  // Another replica may have won the race: keep whichever salt landed first.
  if (::link(temp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    std::filesystem::remove(temp, error);
    return Status::Internal(fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  }
  std::filesystem::remove(temp, error);
  std::ifstream in(path);
  std::string stored;
  std::getline(in, stored);
  return stored;
}

std::string ReplicaName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "host");
  return fmt::format("{}-{}-{}", host, getpid(), NewUuidHex().substr(0, 8));
}

std::string RenderLogMetrics(const monitoring::PredictionLog& log) {
  const auto stats = log.stats();
  std::string out;
  auto counter = [&](const char* name, const char* help, uint64_t value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, value);
  };
  counter("lathe_prediction_log_rows_total", "Predicted rows written to the prediction log", stats.logged_rows);
  counter("lathe_prediction_log_dropped_rows_total", "Predicted rows dropped because the log queue was full",
          stats.dropped_rows);
  counter("lathe_prediction_log_sampled_out_rows_total", "Predicted rows not logged by the deployment's sampling rate",
          stats.sampled_out_rows);
  counter("lathe_prediction_log_invalid_rows_total", "Predicted rows not logged because the event was malformed",
          stats.invalid_rows);
  counter("lathe_prediction_log_write_errors_total", "Predicted rows lost to a failed write or sync of a log segment",
          stats.write_errors);
  out += fmt::format("# HELP lathe_prediction_log_queued_rows Rows waiting to be written\n"
                     "# TYPE lathe_prediction_log_queued_rows gauge\nlathe_prediction_log_queued_rows {}\n",
                     stats.queued_rows);
  return out;
}

}  // namespace

Result<MonitoringRuntime> StartMonitoring(const MonitoringSettings& settings, const DataDirLayout& layout,
                                          storage::Store& store, serving::DeploymentManager& deployments,
                                          serving::MetricsRegistry& metrics, serving::ServingApiOptions& serving_options) {
  monitoring::MonitoringConfig config;
  if (!settings.config.empty()) {
    LATHE_ASSIGN_OR_RETURN(config, monitoring::LoadMonitoringConfig(settings.config));
  }
  monitoring::MonitoringLayout monitoring_layout{layout.monitoring()};
  MonitoringRuntime runtime;
  if (settings.log_predictions) {
    monitoring::PredictionLogOptions options;
    options.root = monitoring_layout.predictions();
    LATHE_ASSIGN_OR_RETURN(options.flush_interval_ms, ParseDuration(settings.flush_interval));
    if (options.flush_interval_ms < 10 || options.flush_interval_ms > 60000) {
      return Status::InvalidParameter("--prediction-log-flush must be between 10ms and 1m");
    }
    options.queue_rows = settings.queue_rows;
    LATHE_ASSIGN_OR_RETURN(options.salt, LoadOrCreateSalt(monitoring_layout.root));
    options.default_policy = config.default_log_policy;
    options.policies = config.log_policies;
    LATHE_ASSIGN_OR_RETURN(runtime.log, monitoring::PredictionLog::Open(std::move(options)));
    auto* log = runtime.log.get();
    serving_options.log_prediction = [log](monitoring::PredictionEvent&& event) { log->Append(std::move(event)); };
    metrics.AddCollector([log] { return RenderLogMetrics(*log); });
  }
  monitoring::MonitorServiceOptions options{monitoring_layout, ReplicaName()};
  runtime.service = std::make_unique<monitoring::MonitorService>(
      store, runtime.log.get(), std::move(config), options,
      [&store, &deployments](const std::string& deployment) { return RollbackDeployment(store, deployments, deployment); });
  runtime.service->Start();
  return runtime;
}

Status RollbackDeployment(storage::Store& store, serving::DeploymentManager& deployments, const std::string& deployment) {
  LATHE_ASSIGN_OR_RETURN(auto described, deployments.Describe(deployment));
  const std::string uri = described.value("model_uri", "");
  LATHE_ASSIGN_OR_RETURN(auto parsed, serving::ParseModelUri(uri));
  if (parsed.kind != serving::ModelUri::Kind::kRegistryAlias) {
    return Status::InvalidState(fmt::format(
        "deployment '{}' serves {}, not a registry alias (models:/name@alias): there is nothing to roll back", deployment, uri));
  }
  LATHE_ASSIGN_OR_RETURN(auto current, store.GetModelVersionByAlias(parsed.name, parsed.alias));
  LATHE_ASSIGN_OR_RETURN(auto history, store.GetAliasHistory(parsed.name, 0, 100000));
  // The move that brought the alias to its current version, not counting earlier rollbacks, so that
  // a second rollback goes further back instead of undoing the first.
  std::optional<int64_t> previous;
  for (auto move = history.rbegin(); move != history.rend(); ++move) {
    if (move->alias != parsed.alias || move->to_version != current.version) continue;
    if (move->actor == "lathe-monitor") continue;
    previous = move->from_version;
    break;
  }
  if (!previous) {
    return Status::InvalidState(fmt::format("alias {}@{} has no earlier version in its history to roll back to", parsed.name,
                                            parsed.alias));
  }
  LATHE_RETURN_IF_ERROR(store.SetAlias({"lathe-monitor", "", "registered-models/alias"}, parsed.name, parsed.alias, *previous));
  spdlog::warn("rollback: {}@{} moved from version {} back to {} for deployment {}", parsed.name, parsed.alias,
               current.version, *previous, deployment);
  return Status::Ok();
}

}  // namespace lathe::cli
