// `lathe models serve|predict`, `lathe deploy|undeploy|deployments`: serving models from the CLI.
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/remote_model_source.h"
#include "core/logging.h"
#include "http/server.h"
#include "http/url.h"
#include "http/client.h"
#include "models/mlmodel.h"
#include "models/model.h"
#include "models/package_builder.h"
#include "models/signature.h"
#include "serving/codec.h"
#include "serving/deployment_manager.h"
#include "serving/serving_api.h"

namespace lathe::cli {
namespace {

using nlohmann::json;

std::filesystem::path DefaultCacheDir() {
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache != nullptr && *cache != '\0') {
    return std::filesystem::path(cache) / "lathe" / "models";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / ".cache" / "lathe" / "models";
  }
  return std::filesystem::temp_directory_path() / "lathe-models";
}

// The name a deployment gets when none is given: the registered model's, else the directory's.
std::string DefaultName(const serving::ModelUri& uri) {
  if (!uri.name.empty()) return uri.name;
  std::filesystem::path path(uri.path);
  while (path.has_parent_path() && path.filename().empty()) path = path.parent_path();
  std::string name = path.filename().string();
  return name.empty() || name == "." || name == ".." ? "model" : name;
}

void AddBatchingOptions(CLI::App* command, serving::BatchingOptions& batching) {
  command->add_option("--max-batch-size", batching.max_batch_size, "Rows merged into one predict call")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  command->add_option("--max-batch-delay-us", batching.max_batch_delay_us,
                      "Under load, how long a partial batch may wait for more rows (0: never waits)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  command->add_option("--max-queue-rows", batching.max_queue_rows, "Rows queued beyond this are refused with 503")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  command->add_option("--workers", batching.workers,
                      "Predict calls in flight at once for the model (0: one per HTTP thread, or 1 for the XGBoost "
                      "C API, which merges concurrent requests instead)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
}

struct ServeSettings {
  std::string uri;
  std::string name;
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string tracking_uri = DefaultTrackingUri();
  std::string cache_dir = DefaultCacheDir().string();
  int threads = 0;
  std::string log_level = "info";
  uint64_t max_body_bytes = 16 * 1024 * 1024;
  int alias_poll_ms = 1000;
  serving::BatchingOptions batching;
};

Status RunServe(const ServeSettings& settings) {
  LATHE_RETURN_IF_ERROR(ConfigureLogging(settings.log_level));
  LATHE_ASSIGN_OR_RETURN(auto uri, serving::ParseModelUri(settings.uri));
  auto source = uri.kind == serving::ModelUri::Kind::kPath
                    ? serving::MakePathModelSource()
                    : MakeRemoteModelSource(settings.tracking_uri, settings.cache_dir);
  serving::MetricsRegistry metrics;
  serving::ManagerOptions manager_options;
  manager_options.alias_poll_ms = settings.alias_poll_ms;
  manager_options.http_threads = http::ThreadCount(settings.threads);
  serving::DeploymentManager manager(*source, metrics, manager_options);
  serving::DeploymentSpec spec;
  spec.name = settings.name.empty() ? DefaultName(uri) : settings.name;
  spec.model_uri = settings.uri;
  spec.is_default = true;
  spec.batching = settings.batching;
  LATHE_RETURN_IF_ERROR(manager.Deploy(spec, /*replace=*/false));
  LATHE_RETURN_IF_ERROR(manager.Start());

  serving::ServingApiOptions api_options;
  api_options.serve_health = true;
  http::ServerOptions options;
  options.host = settings.host;
  options.port = settings.port;
  options.threads = settings.threads;
  options.max_body_bytes = settings.max_body_bytes;
  LATHE_ASSIGN_OR_RETURN(auto server, http::HttpServer::Create(options, serving::InferenceRoutes(manager, metrics, api_options)));
  server->Run(/*handle_signals=*/true, [&] {
    // Scripts that ask for port 0 read the chosen port from this line.
    std::printf("lathe serving %s on http://%s:%u\n", spec.name.c_str(), settings.host.c_str(), server->port());
    std::fflush(stdout);
    spdlog::info("serving model={} uri={} host={} port={}", spec.name, settings.uri, settings.host, server->port());
  });
  manager.Stop();
  return Status::Ok();
}

struct PredictSettings {
  std::string uri;
  std::string input;
  std::string output;
  std::string content_type;
};

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Status::InvalidParameter(fmt::format("cannot read {}", path));
  std::ostringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

// Batch scoring of a file through exactly the decode, bind and predict path the server uses.
Status RunPredict(const PredictSettings& settings) {
  LATHE_ASSIGN_OR_RETURN(auto uri, serving::ParseModelUri(settings.uri));
  auto source = uri.kind == serving::ModelUri::Kind::kPath ? serving::MakePathModelSource()
                                                           : MakeRemoteModelSource(DefaultTrackingUri(), DefaultCacheDir());
  LATHE_ASSIGN_OR_RETURN(auto resolved, source->Resolve(uri));
  LATHE_ASSIGN_OR_RETURN(auto model, models::LoadModel(resolved.directory));
  LATHE_ASSIGN_OR_RETURN(auto body, ReadWholeFile(settings.input));
  std::string content_type = settings.content_type;
  if (content_type.empty()) content_type = settings.input.ends_with(".csv") ? "text/csv" : "application/json";
  serving::DecodeLimits limits;
  limits.max_elements = 1ull << 30;
  LATHE_ASSIGN_OR_RETURN(auto request, serving::DecodeMlflowRequest(content_type, body, limits));
  const auto& metadata = model->metadata();
  LATHE_ASSIGN_OR_RETURN(auto inputs, models::BindInputs(metadata.input_mode, metadata.inputs, std::move(request.inputs),
                                                        metadata.packs_numeric_columns));
  serving::InferenceResponse response;
  response.model_name = DefaultName(uri);
  LATHE_RETURN_IF_ERROR(model->Predict(inputs, &response.outputs));
  std::string encoded = serving::EncodeMlflowResponse(response);
  if (settings.output.empty() || settings.output == "-") {
    std::fwrite(encoded.data(), 1, encoded.size(), stdout);
    std::fputc('\n', stdout);
    return Status::Ok();
  }
  std::ofstream out(settings.output, std::ios::binary | std::ios::trunc);
  out << encoded << '\n';
  if (!out) return Status::Internal(fmt::format("cannot write {}", settings.output));
  return Status::Ok();
}

struct DeploySettings {
  std::string uri;
  std::string name;
  std::string tracking_uri = DefaultTrackingUri();
  bool lazy = false;
  bool is_default = false;
  bool replace = false;
  std::string canary_uri;
  uint32_t canary_weight = 10;
  std::string shadow_uri;
  serving::BatchingOptions batching;
  bool json = false;
};

Status RunDeploy(const DeploySettings& settings) {
  LATHE_ASSIGN_OR_RETURN(auto uri, serving::ParseModelUri(settings.uri));
  serving::DeploymentSpec spec;
  spec.name = settings.name.empty() ? DefaultName(uri) : settings.name;
  spec.model_uri = settings.uri;
  spec.lazy = settings.lazy;
  spec.is_default = settings.is_default;
  spec.batching = settings.batching;
  spec.canary_uri = settings.canary_uri;
  spec.canary_weight = settings.canary_uri.empty() ? 0 : settings.canary_weight;
  spec.shadow_uri = settings.shadow_uri;
  const json body = serving::DeploymentSpecToJson(spec);
  LATHE_ASSIGN_OR_RETURN(auto answer,
                         settings.replace
                             ? CallServer(settings.tracking_uri, "PUT",
                                          "/api/lathe/deployments/" + http::EncodePercent(spec.name, false), body)
                             : CallServer(settings.tracking_uri, "POST", "/api/lathe/deployments", body));
  if (settings.json) {
    std::printf("%s\n", answer.dump(2).c_str());
    return Status::Ok();
  }
  const auto& loaded = answer["deployment"].value("loaded", json::object());
  std::string version = loaded.contains("primary") ? loaded["primary"].value("version", "") : "(lazy)";
  std::printf("deployed %s: %s (version %s) at %s/v2/models/%s/infer\n", spec.name.c_str(), spec.model_uri.c_str(),
              version.c_str(), settings.tracking_uri.c_str(), spec.name.c_str());
  return Status::Ok();
}

struct LogSettings {
  std::string directory;
  std::string name;
  std::string experiment = "Default";
  std::string run_id;
  std::string artifact_path = "model";
  std::string alias;
  std::string tracking_uri = DefaultTrackingUri();
};

// Uploads a package as a run's artifacts and registers it: what mlflow.<flavor>.log_model(...,
// registered_model_name=...) does, for packages built outside Python.
Status RunLog(const LogSettings& settings) {
  const std::filesystem::path root(settings.directory);
  LATHE_ASSIGN_OR_RETURN(auto manifest, models::ReadMlModel(root));
  static const std::string kApi = "/api/2.0/mlflow/";
  std::string run_id = settings.run_id;
  if (run_id.empty()) {
    std::string experiment_id;
    auto found = CallServer(settings.tracking_uri, "GET",
                            kApi + "experiments/get-by-name?experiment_name=" +
                                http::EncodePercent(settings.experiment, false));
    if (found.ok()) {
      experiment_id = (*found)["experiment"].value("experiment_id", "");
    } else {
      LATHE_ASSIGN_OR_RETURN(auto created, CallServer(settings.tracking_uri, "POST", kApi + "experiments/create",
                                                      json{{"name", settings.experiment}}));
      experiment_id = created.value("experiment_id", "");
    }
    LATHE_ASSIGN_OR_RETURN(auto run, CallServer(settings.tracking_uri, "POST", kApi + "runs/create",
                                                json{{"experiment_id", experiment_id},
                                                     {"run_name", "log-" + settings.name},
                                                     {"start_time", static_cast<int64_t>(std::time(nullptr)) * 1000}}));
    run_id = run["run"]["info"].value("run_id", "");
  }
  LATHE_ASSIGN_OR_RETURN(auto run, CallServer(settings.tracking_uri, "GET", kApi + "runs/get?run_id=" + run_id));
  std::string artifact_uri = run["run"]["info"].value("artifact_uri", "");
  constexpr std::string_view kScheme = "mlflow-artifacts:";
  if (!artifact_uri.starts_with(kScheme)) {
    return Status::InvalidParameter(fmt::format("run {} stores artifacts at '{}', which the server does not proxy",
                                                run_id, artifact_uri));
  }
  std::string prefix = artifact_uri.substr(kScheme.size());
  while (prefix.starts_with('/')) prefix.erase(0, 1);
  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const std::string relative = std::filesystem::relative(entry.path(), root).generic_string();
    LATHE_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(entry.path().string()));
    const std::string target = "/api/2.0/mlflow-artifacts/artifacts/" +
                               http::EncodePercent(prefix + "/" + settings.artifact_path + "/" + relative, true);
    LATHE_ASSIGN_OR_RETURN(auto response, http::SendRequest(settings.tracking_uri, "PUT", target, bytes,
                                                             "application/octet-stream"));
    if (response.status != 200) {
      return Status::InvalidParameter(fmt::format("uploading {} failed: the server answered {}: {}", relative,
                                                  response.status, response.body.substr(0, 200)));
    }
    ++files;
  }
  json model_json = {{"artifact_path", settings.artifact_path},
                     {"run_id", run_id},
                     {"model_uuid", manifest.model_uuid},
                     {"utc_time_created", manifest.utc_time_created},
                     {"flavors", manifest.flavors}};
  LATHE_RETURN_IF_ERROR(CallServer(settings.tracking_uri, "POST", kApi + "runs/log-model",
                                   json{{"run_id", run_id}, {"model_json", model_json.dump()}})
                            .status());
  auto created = CallServer(settings.tracking_uri, "POST", kApi + "registered-models/create", json{{"name", settings.name}});
  if (!created.ok() && created.status().message().find("already exists") == std::string::npos) return created.status();
  const std::string source = fmt::format("runs:/{}/{}", run_id, settings.artifact_path);
  LATHE_ASSIGN_OR_RETURN(auto version, CallServer(settings.tracking_uri, "POST", kApi + "model-versions/create",
                                                  json{{"name", settings.name}, {"source", source}, {"run_id", run_id}}));
  const std::string number = version["model_version"].value("version", "");
  if (!settings.alias.empty()) {
    LATHE_RETURN_IF_ERROR(CallServer(settings.tracking_uri, "POST", kApi + "registered-models/alias",
                                     json{{"name", settings.name}, {"alias", settings.alias}, {"version", number}})
                              .status());
  }
  std::printf("logged %zu file(s) to %s and registered %s version %s%s\n", files, source.c_str(), settings.name.c_str(),
              number.c_str(), settings.alias.empty() ? "" : fmt::format(" (@{})", settings.alias).c_str());
  return Status::Ok();
}

}  // namespace

void AddServingCommands(CLI::App& app, Action& action) {
  CLI::App* models = app.get_subcommand("models");
  {
    auto settings = std::make_shared<ServeSettings>();
    auto* serve = models->add_subcommand(
        "serve", "Serve one model over HTTP: Open Inference Protocol v2 and MLflow's /invocations.");
    serve->add_option("uri", settings->uri,
                      "A package directory, runs:/<run id>/<path>, models:/<name>/<version> or models:/<name>@<alias>")
        ->required();
    serve->add_option("--name", settings->name, "Name in URLs (default: the registered model's or the directory's)");
    serve->add_option("--host", settings->host, "Address to listen on")->envname("LATHE_SERVE_HOST")->capture_default_str();
    serve->add_option("--port", settings->port, "Port to listen on (0 picks a free one)")
        ->envname("LATHE_SERVE_PORT")
        ->capture_default_str();
    serve->add_option("--tracking-uri", settings->tracking_uri,
                      "Server that resolves runs:/ and models:/ URIs (env LATHE_TRACKING_URI)")
        ->capture_default_str();
    serve->add_option("--cache-dir", settings->cache_dir, "Where downloaded models are kept")
        ->envname("LATHE_MODEL_CACHE_DIR")
        ->capture_default_str();
    serve->add_option("--threads", settings->threads, "HTTP worker threads (0: one per core)")
        ->envname("LATHE_THREADS")
        ->check(CLI::Range(0, 1024))
        ->capture_default_str();
    serve->add_option("--max-body-bytes", settings->max_body_bytes, "Largest request body")
        ->envname("LATHE_MAX_BODY_BYTES")
        ->capture_default_str();
    serve->add_option("--alias-poll-ms", settings->alias_poll_ms, "How often a models:/name@alias URI is re-checked")
        ->envname("LATHE_ALIAS_POLL_MS")
        ->check(CLI::Range(50, 3600000))
        ->capture_default_str();
    serve->add_option("--log-level", settings->log_level, "trace, debug, info, warn, error or off")
        ->envname("LATHE_LOG_LEVEL")
        ->capture_default_str();
    AddBatchingOptions(serve, settings->batching);
    serve->callback([&action, settings] { action = [settings] { return RunServe(*settings); }; });
  }
  {
    auto settings = std::make_shared<PredictSettings>();
    auto* predict = models->add_subcommand("predict", "Score a CSV or JSON file (MLflow's scoring formats) offline.");
    predict->add_option("uri", settings->uri, "A package directory, runs:/... or models:/...")->required();
    predict->add_option("--input,-i", settings->input, "CSV with a header row, or a JSON body as /invocations takes")
        ->required();
    predict->add_option("--output,-o", settings->output, "Where to write {\"predictions\": [...]} (default stdout)");
    predict->add_option("--content-type", settings->content_type, "text/csv or application/json (default: by extension)");
    predict->callback([&action, settings] { action = [settings] { return RunPredict(*settings); }; });
  }
  {
    auto spec = std::make_shared<models::PackageSpec>();
    auto output = std::make_shared<std::string>();
    auto* package = models->add_subcommand(
        "package", "Build a `lathe` model package from a pipeline spec (see docs/models.md) and an optional booster.");
    package->add_option("spec", spec->pipeline, "Pipeline spec, JSON or YAML")->required();
    package->add_option("--booster", spec->booster, "XGBoost model file of an xgboost estimator (copied in)");
    package->add_option("--output,-o", *output, "Package directory to create (missing or empty)")->required();
    package->add_option("--run-id", spec->run_id, "Run id recorded in MLmodel");
    package->add_option("--artifact-path", spec->artifact_path, "Artifact path recorded in MLmodel");
    package->callback([&action, spec, output] {
      action = [spec, output]() -> Status {
        LATHE_RETURN_IF_ERROR(models::BuildLathePackage(*spec, *output));
        std::printf("built %s (serve it with: lathe models serve %s)\n", output->c_str(), output->c_str());
        return Status::Ok();
      };
    });
  }
  {
    auto settings = std::make_shared<LogSettings>();
    auto* log = models->add_subcommand(
        "log", "Upload a model package as a run's artifacts and register it as a new version.");
    log->add_option("directory", settings->directory, "The package directory (with its MLmodel file)")->required();
    log->add_option("--name", settings->name, "Registered model name")->required();
    log->add_option("--run-id", settings->run_id, "Log into this run (default: a new run)");
    log->add_option("--experiment", settings->experiment, "Experiment of the new run (created when missing)")
        ->capture_default_str();
    log->add_option("--artifact-path", settings->artifact_path, "Path of the package in the run's artifacts")
        ->capture_default_str();
    log->add_option("--alias", settings->alias, "Point this alias at the new version (e.g. champion)");
    log->add_option("--tracking-uri", settings->tracking_uri, "The Lathe server (env LATHE_TRACKING_URI)")
        ->capture_default_str();
    log->callback([&action, settings] { action = [settings] { return RunLog(*settings); }; });
  }
  {
    auto settings = std::make_shared<DeploySettings>();
    auto* deploy = app.add_subcommand("deploy", "Deploy a model on a running `lathe server` (or replace a deployment).");
    deploy->add_option("uri", settings->uri, "models:/<name>@<alias> (follows the alias), models:/<name>/<version> "
                                             "or runs:/<run id>/<path>")
        ->required();
    deploy->add_option("--name", settings->name, "Deployment name (default: the registered model's)");
    deploy->add_option("--tracking-uri", settings->tracking_uri, "The Lathe server (env LATHE_TRACKING_URI)")
        ->capture_default_str();
    deploy->add_flag("--lazy", settings->lazy, "Load on the first request instead of now");
    deploy->add_flag("--default", settings->is_default, "Answer POST /invocations with this deployment");
    deploy->add_flag("--replace", settings->replace, "Replace an existing deployment of this name");
    deploy->add_option("--canary", settings->canary_uri, "A second model URI that gets --canary-weight % of requests");
    deploy->add_option("--canary-weight", settings->canary_weight, "Percent of requests for the canary")
        ->check(CLI::Range(0, 100))
        ->capture_default_str();
    deploy->add_option("--shadow", settings->shadow_uri, "A model URI that sees every request; outputs only recorded");
    deploy->add_flag("--json", settings->json, "Print the deployment as JSON");
    AddBatchingOptions(deploy, settings->batching);
    deploy->callback([&action, settings] { action = [settings] { return RunDeploy(*settings); }; });
  }
  {
    auto tracking_uri = std::make_shared<std::string>(DefaultTrackingUri());
    auto name = std::make_shared<std::string>();
    auto* undeploy = app.add_subcommand("undeploy", "Remove a deployment from a running `lathe server`.");
    undeploy->add_option("name", *name, "Deployment name")->required();
    undeploy->add_option("--tracking-uri", *tracking_uri, "The Lathe server (env LATHE_TRACKING_URI)")
        ->capture_default_str();
    undeploy->callback([&action, tracking_uri, name] {
      action = [tracking_uri, name]() -> Status {
        LATHE_RETURN_IF_ERROR(
            CallServer(*tracking_uri, "DELETE", "/api/lathe/deployments/" + http::EncodePercent(*name, false)).status());
        std::printf("undeployed %s\n", name->c_str());
        return Status::Ok();
      };
    });
  }
  {
    auto tracking_uri = std::make_shared<std::string>(DefaultTrackingUri());
    auto as_json = std::make_shared<bool>(false);
    auto* list = app.add_subcommand("deployments", "List the deployments of a running `lathe server`.");
    list->add_option("--tracking-uri", *tracking_uri, "The Lathe server (env LATHE_TRACKING_URI)")->capture_default_str();
    list->add_flag("--json", *as_json, "Print JSON instead of a table");
    list->callback([&action, tracking_uri, as_json] {
      action = [tracking_uri, as_json]() -> Status {
        LATHE_ASSIGN_OR_RETURN(auto answer, CallServer(*tracking_uri, "GET", "/api/lathe/deployments"));
        const auto& deployments = answer.value("deployments", json::array());
        if (*as_json) {
          std::printf("%s\n", deployments.dump(2).c_str());
          return Status::Ok();
        }
        std::vector<std::vector<std::string>> rows;
        for (const auto& deployment : deployments) {
          const auto& loaded = deployment.value("loaded", json::object());
          const auto primary = loaded.value("primary", json::object());
          rows.push_back({deployment.value("name", ""), deployment.value("model_uri", ""),
                          primary.value("version", "-"), primary.value("evaluator", "-"),
                          deployment.value("default", false) ? "yes" : "",
                          deployment.contains("canary") ? deployment["canary"].value("model_uri", "") : ""});
        }
        PrintTable({"NAME", "MODEL_URI", "VERSION", "EVALUATOR", "DEFAULT", "CANARY"}, rows);
        return Status::Ok();
      };
    });
  }
}

}  // namespace lathe::cli
