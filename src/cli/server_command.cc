// `lathe server` and `lathe gc`: the commands that own a data directory.
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "artifacts/artifact_store.h"
#include "artifacts/artifacts_api.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/feature_lookup.h"
#include "cli/monitoring_setup.h"
#include "core/clock.h"
#include "core/duration.h"
#include "core/logging.h"
#include "core/version.h"
#include "features/features_api.h"
#include "http/server.h"
#include "monitoring/monitoring_api.h"
#include "registry/registry_api.h"
#include "serving/deployment_manager.h"
#include "serving/model_source.h"
#include "serving/serving_api.h"
#include "storage/store.h"
#include "tracking/tracking_api.h"

namespace lathe::cli {
namespace {

struct ServerSettings {
  std::string host = "127.0.0.1";
  uint16_t port = 5000;
  std::string data_dir = "./lathe-data";
  std::string durability = "normal";
  int threads = 0;
  std::string log_level = "info";
  uint64_t max_body_bytes = 16 * 1024 * 1024;
  uint64_t max_upload_bytes = 4ull * 1024 * 1024 * 1024;
  double model_memory_mb = 0;
  int alias_poll_ms = 1000;
  MonitoringSettings monitoring;
  std::string config;
};

Status RunServer(CLI::App& command, ServerSettings& settings) {
  LATHE_RETURN_IF_ERROR(ApplyConfigFile(command, settings.config));
  LATHE_RETURN_IF_ERROR(ConfigureLogging(settings.log_level));
  DataDirLayout layout{settings.data_dir};
  auto durability = settings.durability == "full" ? storage::Durability::kFull : storage::Durability::kProcessCrash;
  LATHE_ASSIGN_OR_RETURN(auto store, OpenStore(layout, durability));
  artifacts::LocalArtifactStore artifact_store(layout.artifacts());

  std::vector<Route> routes;
  auto append = [&](std::vector<Route> more) {
    for (auto& route : more) routes.push_back(std::move(route));
  };
  append(tracking::TrackingRoutes(*store, artifact_store));
  append(registry::RegistryRoutes(*store));
  append(artifacts::ArtifactRoutes(artifact_store));
  auto model_source = serving::MakeStoreModelSource(*store, artifact_store);
  serving::MetricsRegistry metrics;
  serving::ManagerOptions manager_options;
  manager_options.memory_budget_bytes = static_cast<uint64_t>(settings.model_memory_mb * 1024 * 1024);
  manager_options.alias_poll_ms = settings.alias_poll_ms;
  manager_options.state_file = layout.deployments();
  manager_options.shadow_log = layout.shadow_log();
  manager_options.http_threads = http::ThreadCount(settings.threads);
  serving::DeploymentManager deployments(*model_source, metrics, manager_options);
  LATHE_RETURN_IF_ERROR(deployments.Start());
  features::FeatureService feature_service(*store, layout.root);
  serving::ServingApiOptions serving_options;
  serving_options.fetch_features = MakeFeatureFetcher(feature_service, metrics);
  LATHE_ASSIGN_OR_RETURN(auto monitoring_runtime,
                         StartMonitoring(settings.monitoring, layout, *store, deployments, metrics, serving_options));
  append(serving::InferenceRoutes(deployments, metrics, serving_options));
  append(monitoring::MonitoringRoutes(*monitoring_runtime.service));
  append(serving::DeploymentRoutes(
      deployments, [&store](const ApiRequest& request, const std::string& action, const std::string& name) {
        return store->RecordAudit({request.actor, request.request_id, action}, "deployment", name);
      }));
  append(features::FeatureRoutes(feature_service));
  routes.push_back({"GET", "/health", [](ApiRequest&) -> Result<ApiResponse> { return ApiResponse::Text("OK"); }});
  routes.push_back({"GET", "/version", [](ApiRequest&) -> Result<ApiResponse> { return ApiResponse::Text(kVersion); }});

  http::ServerOptions options;
  options.host = settings.host;
  options.port = settings.port;
  options.threads = settings.threads;
  options.max_body_bytes = settings.max_body_bytes;
  options.max_upload_bytes = settings.max_upload_bytes;
  options.upload_dir = layout.uploads().string();
  LATHE_ASSIGN_OR_RETURN(auto server, http::HttpServer::Create(options, std::move(routes)));
  server->Run(/*handle_signals=*/true, [&] {
    // Tests and scripts that ask for port 0 read the chosen port from this line.
    std::printf("lathe server listening on http://%s:%u (data in %s)\n", settings.host.c_str(), server->port(),
                settings.data_dir.c_str());
    std::fflush(stdout);
    spdlog::info("listening host={} port={} data_dir={} durability={}", settings.host, server->port(),
                 settings.data_dir, settings.durability);
  });
  monitoring_runtime.service->Stop();
  deployments.Stop();
  return Status::Ok();
}

struct GcSettings {
  std::string data_dir = "./lathe-data";
  std::string older_than = "0s";
  bool dry_run = false;
  bool json = false;
};

Status RunGc(const GcSettings& settings) {
  LATHE_ASSIGN_OR_RETURN(int64_t age, ParseDuration(settings.older_than));
  DataDirLayout layout{settings.data_dir};
  if (!std::filesystem::exists(layout.database())) {
    return Status::InvalidParameter(fmt::format("no Lathe database in {}", settings.data_dir));
  }
  LATHE_ASSIGN_OR_RETURN(auto store, OpenStore(layout, storage::Durability::kFull));
  artifacts::LocalArtifactStore artifact_store(layout.artifacts());
  storage::WriteContext context{"cli", "", "gc"};
  LATHE_ASSIGN_OR_RETURN(auto report, store->PurgeDeleted(context, NowMillis() - age, settings.dry_run));
  uint64_t freed = 0;
  std::vector<std::string> artifact_errors;
  for (const auto& uri : report.artifact_uris_to_delete) {
    auto relative = artifacts::RelativePathForUri(artifact_store, uri);
    if (!relative.ok()) {
      artifact_errors.push_back(fmt::format("{}: {}", uri, relative.status().message()));
      continue;
    }
    if (settings.dry_run) continue;
    auto bytes = artifact_store.DeleteTree(*relative);
    if (bytes.ok()) {
      freed += *bytes;
    } else {
      artifact_errors.push_back(fmt::format("{}: {}", uri, bytes.status().message()));
    }
  }
  if (settings.json) {
    nlohmann::json out = {{"dry_run", settings.dry_run},
                          {"purged_runs", report.purged_run_ids},
                          {"purged_experiments", report.purged_experiment_ids},
                          {"kept_runs", report.kept_run_ids},
                          {"artifact_bytes_freed", freed},
                          {"artifact_errors", artifact_errors}};
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("%s%zu run(s) and %zu experiment(s) purged, %llu artifact byte(s) freed\n",
                settings.dry_run ? "[dry run] " : "", report.purged_run_ids.size(),
                report.purged_experiment_ids.size(), static_cast<unsigned long long>(freed));
    for (const auto& run_id : report.kept_run_ids) {
      std::printf("kept run %s: a registered model version refers to it\n", run_id.c_str());
    }
    for (const auto& error : artifact_errors) std::printf("artifact not removed: %s\n", error.c_str());
  }
  return Status::Ok();
}

}  // namespace

void AddServerCommand(CLI::App& app, Action& action) {
  auto settings = std::make_shared<ServerSettings>();
  auto* command = app.add_subcommand("server", "Run the tracking, registry and artifact server, with model deployments (see `lathe deploy`).");
  command->add_option("--host", settings->host, "Address to listen on")->envname("LATHE_HOST")->capture_default_str();
  command->add_option("--port", settings->port, "Port to listen on (0 picks a free one)")
      ->envname("LATHE_PORT")
      ->capture_default_str();
  command->add_option("--data-dir", settings->data_dir, "Directory for the database and artifacts")
      ->envname("LATHE_DATA_DIR")
      ->capture_default_str();
  command->add_option("--durability", settings->durability,
                      "normal: acknowledged writes survive a process crash; full: also a power loss (fsync per "
                      "group commit)")
      ->envname("LATHE_DURABILITY")
      ->check(CLI::IsMember({"normal", "full"}))
      ->capture_default_str();
  command->add_option("--threads", settings->threads, "HTTP worker threads (0: one per core)")
      ->envname("LATHE_THREADS")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  command->add_option("--log-level", settings->log_level, "trace, debug, info, warn, error or off")
      ->envname("LATHE_LOG_LEVEL")
      ->capture_default_str();
  command->add_option("--max-body-bytes", settings->max_body_bytes, "Largest request body held in memory")
      ->envname("LATHE_MAX_BODY_BYTES")
      ->capture_default_str();
  command->add_option("--max-upload-bytes", settings->max_upload_bytes, "Largest artifact upload")
      ->envname("LATHE_MAX_UPLOAD_BYTES")
      ->capture_default_str();
  command->add_option("--model-memory-mb", settings->model_memory_mb,
                      "Memory budget for loaded models; the least recently used are unloaded beyond it (0: none)")
      ->envname("LATHE_MODEL_MEMORY_MB")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_option("--alias-poll-ms", settings->alias_poll_ms,
                      "How often deployments of models:/name@alias check whether the alias moved")
      ->envname("LATHE_ALIAS_POLL_MS")
      ->check(CLI::Range(50, 3600000))
      ->capture_default_str();
  command->add_option("--monitoring-config", settings->monitoring.config,
                      "YAML file of monitors, alert rules and the webhooks and commands alerts may use (see "
                      "docs/monitoring.md)")
      ->envname("LATHE_MONITORING_CONFIG");
  command->add_option("--prediction-log", settings->monitoring.log_predictions,
                      "Log every prediction for monitoring (true or false)")
      ->envname("LATHE_PREDICTION_LOG")
      ->capture_default_str();
  command->add_option("--prediction-log-flush", settings->monitoring.flush_interval,
                      "How often logged predictions are written and synced; a crash loses at most this much")
      ->envname("LATHE_PREDICTION_LOG_FLUSH")
      ->capture_default_str();
  command->add_option("--prediction-log-queue", settings->monitoring.queue_rows,
                      "Rows the prediction log holds before it drops (and counts) new ones")
      ->envname("LATHE_PREDICTION_LOG_QUEUE")
      ->check(CLI::Range(1000, 100000000))
      ->capture_default_str();
  command->add_option("--config", settings->config, "YAML file of these settings (default ./lathe.yaml if present)");
  command->callback([&action, command, settings] { action = [command, settings] { return RunServer(*command, *settings); }; });
}

void AddGcCommand(CLI::App& app, Action& action) {
  auto settings = std::make_shared<GcSettings>();
  auto* command = app.add_subcommand(
      "gc", "Permanently remove deleted runs and experiments with their metrics, params, tags and artifacts.");
  command->add_option("--data-dir", settings->data_dir, "The server's data directory")
      ->envname("LATHE_DATA_DIR")
      ->capture_default_str();
  command->add_option("--older-than", settings->older_than,
                      "Only what was deleted at least this long ago (e.g. 30d, 12h, 0s)")
      ->capture_default_str();
  command->add_flag("--dry-run", settings->dry_run, "Report what would be removed, remove nothing");
  command->add_flag("--json", settings->json, "Print the report as JSON");
  command->callback([&action, settings] { action = [settings] { return RunGc(*settings); }; });
}

}  // namespace lathe::cli
