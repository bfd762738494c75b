// `lathe monitor export|labels|reference|evaluate|results|alerts`: the prediction log, late labels and
// reference data of a data directory, and the server's monitors.
#include <cmath>
#include <cstdio>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "core/clock.h"
#include "monitoring/labels.h"
#include "monitoring/monitor_service.h"
#include "serving/model_source.h"
#include "monitoring/prediction_log.h"
#include "storage/duckdb.h"

namespace lathe::cli {
namespace {

using storage::SqlIdentifier;

struct ExportSettings {
  std::string data_dir = "./lathe-data";
  std::string deployment;
  std::string from;
  std::string to;
  std::string out;
};

Status RunExport(const ExportSettings& settings) {
  DataDirLayout layout{settings.data_dir};
  monitoring::MonitoringLayout monitoring_layout{layout.monitoring()};
  int64_t from = 0, to = std::numeric_limits<int64_t>::max();
  if (!settings.from.empty()) {
    LATHE_ASSIGN_OR_RETURN(from, monitoring::ParseTimestamp("--from", settings.from));
  }
  if (!settings.to.empty()) {
    LATHE_ASSIGN_OR_RETURN(to, monitoring::ParseTimestamp("--to", settings.to));
  }
  if (from >= to) return Status::InvalidParameter("--from must be before --to");
  LATHE_ASSIGN_OR_RETURN(auto rows, monitoring::ExportPredictionLog(monitoring_layout.predictions(), settings.deployment, from, to,
                                                                   settings.out));
  std::printf("%lld prediction(s) of %s written to %s\n", static_cast<long long>(rows), settings.deployment.c_str(),
              settings.out.c_str());
  return Status::Ok();
}

struct LabelSettings {
  std::string data_dir = "./lathe-data";
  std::string deployment;
  std::string file;
  std::string id_column = "prediction_id";
  std::string label_column = "label";
};

Status RunLabels(const LabelSettings& settings) {
  LATHE_ASSIGN_OR_RETURN(auto db, storage::DuckDb::Open());
  LATHE_RETURN_IF_ERROR(monitoring::LoadFile(*db, "label_file", settings.file, "labels"));
  DataDirLayout layout{settings.data_dir};
  LATHE_ASSIGN_OR_RETURN(auto store, OpenStore(layout, storage::Durability::kFull));
  monitoring::MonitorService service(*store, nullptr, {}, {monitoring::MonitoringLayout{layout.monitoring()}, "cli"}, nullptr);
  std::vector<monitoring::Label> batch;
  int64_t received = 0, unknown = 0, skipped = 0;
  std::vector<std::string> unknown_examples;
  auto post = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    LATHE_ASSIGN_OR_RETURN(auto answer, service.PostLabels(settings.deployment, batch));
    received += answer["received"].get<int64_t>();
    unknown += answer["unknown"].get<int64_t>();
    for (const auto& id : answer["unknown_ids"]) {
      if (unknown_examples.size() < 10) unknown_examples.push_back(id.get<std::string>());
    }
    batch.clear();
    return Status::Ok();
  };
  Status read = db->ForEachRow(
      fmt::format("SELECT CAST({} AS VARCHAR), {} FROM label_file", SqlIdentifier(settings.id_column), SqlIdentifier(settings.label_column)),
      {"prediction_id", "label"}, [&](const std::vector<storage::Cell>& row) -> Status {
        if (!std::holds_alternative<std::string>(row[0]) || std::holds_alternative<std::monostate>(row[1])) {
          ++skipped;
          return Status::Ok();
        }
        batch.push_back({std::get<std::string>(row[0]), monitoring::LabelText(row[1])});
        if (batch.size() == 100000) return post();
        return Status::Ok();
      });
  if (!read.ok()) {
    return Status::InvalidParameter(fmt::format("cannot read labels from {} (columns {} and {}): {}", settings.file,
                                                settings.id_column, settings.label_column, read.message()));
  }
  LATHE_RETURN_IF_ERROR(post());
  std::printf("%lld label(s) recorded for %s: %lld matched a logged prediction, %lld did not", static_cast<long long>(received),
              settings.deployment.c_str(), static_cast<long long>(received - unknown), static_cast<long long>(unknown));
  if (!unknown_examples.empty()) {
    std::string list;
    for (const auto& id : unknown_examples) list += (list.empty() ? "" : ", ") + id;
    std::printf(" (e.g. %s)", list.c_str());
  }
  std::printf("\n");
  if (skipped > 0) std::printf("%lld row(s) without a prediction id or label skipped\n", static_cast<long long>(skipped));
  return Status::Ok();
}

struct ReferenceSettings {
  std::string data_dir = "./lathe-data";
  std::string deployment;
  std::string file;
  std::string run_id;
  std::string model;
  std::vector<std::string> kinds;
};

// The run that produced a registered model version (models:/name/version or models:/name@alias).
Result<std::string> RunOfModel(storage::Store& store, const std::string& text) {
  LATHE_ASSIGN_OR_RETURN(auto uri, serving::ParseModelUri(text));
  storage::ModelVersion version;
  if (uri.kind == serving::ModelUri::Kind::kRegistryVersion) {
    LATHE_ASSIGN_OR_RETURN(version, store.GetModelVersion(uri.name, uri.version));
  } else if (uri.kind == serving::ModelUri::Kind::kRegistryAlias) {
    LATHE_ASSIGN_OR_RETURN(version, store.GetModelVersionByAlias(uri.name, uri.alias));
  } else {
    return Status::InvalidParameter(fmt::format("--model takes models:/<name>/<version> or models:/<name>@<alias>, not {}", text));
  }
  if (version.run_id.empty()) {
    return Status::InvalidParameter(fmt::format("{} (version {}) was registered without a run; give --file", text, version.version));
  }
  return version.run_id;
}

// The local file of the run's training dataset, as MLflow logs it: a dataset input tagged
// mlflow.data.context=training whose source is {"uri": "<path or file:// URI>"}.
Result<std::string> TrainingDatasetOfRun(storage::Store& store, const std::string& run_id) {
  LATHE_ASSIGN_OR_RETURN(auto run, store.GetRun(run_id));
  std::vector<std::string> seen;
  for (const auto& input : run.inputs) {
    bool training = false;
    for (const auto& tag : input.tags) training |= tag.key == "mlflow.data.context" && tag.value == "training";
    auto source = nlohmann::json::parse(input.dataset.source, nullptr, false);
    std::string uri = source.is_object() ? source.value("uri", "") : "";
    if (uri.rfind("file://", 0) == 0) uri = uri.substr(7);
    seen.push_back(fmt::format("{} ({}{})", input.dataset.name, input.dataset.source_type, training ? ", training" : ""));
    if (training && !uri.empty() && uri.front() == '/' && !storage::FileFormat(uri).empty()) return uri;
  }
  return Status::InvalidParameter(fmt::format(
      "run {} has no training dataset logged with a local CSV, Parquet or JSON file as its source (its inputs: {}); give --file",
      run_id, seen.empty() ? "none" : fmt::format("{}", fmt::join(seen, ", "))));
}

Status RunReference(const ReferenceSettings& settings) {
  if (settings.file.empty() && settings.run_id.empty() && settings.model.empty()) {
    return Status::InvalidParameter("give --file, --run-id or --model");
  }
  LATHE_ASSIGN_OR_RETURN(auto kinds, monitoring::ParseColumnKindList(settings.kinds));
  DataDirLayout layout{settings.data_dir};
  LATHE_ASSIGN_OR_RETURN(auto store, OpenStore(layout, storage::Durability::kFull));
  std::string file = settings.file, source = settings.file, run_id = settings.run_id;
  if (!settings.model.empty()) {
    LATHE_ASSIGN_OR_RETURN(run_id, RunOfModel(*store, settings.model));
  }
  if (!run_id.empty()) {
    LATHE_ASSIGN_OR_RETURN(file, TrainingDatasetOfRun(*store, run_id));
    source = settings.model.empty() ? fmt::format("runs:/{} ({})", run_id, file)
                                    : fmt::format("{} (runs:/{}, {})", settings.model, run_id, file);
  }
  monitoring::MonitorService service(*store, nullptr, {}, {monitoring::MonitoringLayout{layout.monitoring()}, "cli"}, nullptr);
  LATHE_ASSIGN_OR_RETURN(auto saved,
                         service.RegisterReference({"cli", "", "monitor/reference"}, settings.deployment, file, source, kinds));
  std::printf("reference version %lld of %s: %lld row(s) from %s\n", static_cast<long long>(saved.version),
              settings.deployment.c_str(), static_cast<long long>(saved.rows), source.c_str());
  std::vector<std::vector<std::string>> rows;
  const auto kinds_of_columns = nlohmann::ordered_json::parse(saved.kinds);
  for (const auto& [column, kind] : kinds_of_columns.items()) rows.push_back({column, kind.get<std::string>()});
  PrintTable({"COLUMN", "KIND"}, rows);
  return Status::Ok();
}

struct RemoteSettings {
  std::string url;
  std::string monitor;
  std::string window_end;
  int64_t limit = 100;
};

void PrintMetrics(const nlohmann::json& metrics) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, value] : metrics.items()) {
    rows.push_back({name, value.is_number() ? fmt::format("{:.6g}", value.get<double>()) : value.dump()});
  }
  PrintTable({"METRIC", "VALUE"}, rows);
}

Status RunEvaluate(const RemoteSettings& settings) {
  nlohmann::json body = nlohmann::json::object();
  if (!settings.window_end.empty()) {
    LATHE_ASSIGN_OR_RETURN(auto end, monitoring::ParseTimestamp("--window-end", settings.window_end));
    body["window_end"] = end;
  }
  LATHE_ASSIGN_OR_RETURN(auto result, CallServer(settings.url, "POST", fmt::format("/api/lathe/monitor/{}/evaluate", settings.monitor), body));
  std::printf("%s [%s, %s): %s, %lld row(s), %lld labeled\n", settings.monitor.c_str(),
              result.value("window_start", "").c_str(), result.value("window_end", "").c_str(),
              result.value("status", "").c_str(), static_cast<long long>(result.value("rows", 0)),
              static_cast<long long>(result.value("labeled_rows", 0)));
  if (result.contains("message")) std::printf("%s\n", result["message"].get<std::string>().c_str());
  for (const char* error : {"drift_error", "integrity_error", "performance_error"}) {
    if (result.contains(error)) std::printf("%s: %s\n", error, result[error].get<std::string>().c_str());
  }
  PrintMetrics(result.value("metrics", nlohmann::json::object()));
  for (const auto& alert : result.value("alerts_fired", nlohmann::json::array())) {
    std::printf("alert fired: %s\n", alert.get<std::string>().c_str());
  }
  return Status::Ok();
}

Status RunAlerts(const RemoteSettings& settings) {
  const std::string target = settings.monitor.empty()
                                 ? fmt::format("/api/lathe/monitor/alerts?limit={}", settings.limit)
                                 : fmt::format("/api/lathe/monitor/{}/alerts?limit={}", settings.monitor, settings.limit);
  LATHE_ASSIGN_OR_RETURN(auto result, CallServer(settings.url, "GET", target));
  std::vector<std::vector<std::string>> rows;
  for (const auto& alert : result["alerts"]) {
    std::string deliveries;
    for (const auto& delivery : alert["deliveries"]) {
      deliveries += fmt::format("{}{}={}", deliveries.empty() ? "" : " ", delivery.value("action", ""),
                                delivery.value("ok", false) ? "ok" : "failed");
    }
    rows.push_back({alert["fired_at"].get<std::string>(), alert["monitor"].get<std::string>(), alert["rule"].get<std::string>(),
                    fmt::format("{} = {:.6g}", alert["metric"].get<std::string>(), alert["value"].get<double>()), deliveries});
  }
  PrintTable({"FIRED", "MONITOR", "RULE", "VALUE", "ACTIONS"}, rows);
  return Status::Ok();
}

}  // namespace

void AddMonitorDataCommands(CLI::App& monitor, Action& action) {
  auto data_dir_option = [](CLI::App* command, std::string& target) {
    command->add_option("--data-dir", target, "The server's data directory")->envname("LATHE_DATA_DIR")->capture_default_str();
  };

  auto export_settings = std::make_shared<ExportSettings>();
  auto* export_command = monitor.add_subcommand("export", "Write a deployment's logged predictions to Parquet or CSV.");
  data_dir_option(export_command, export_settings->data_dir);
  export_command->add_option("--deployment", export_settings->deployment, "The deployment")->required();
  export_command->add_option("--from", export_settings->from, "Start of the range, inclusive (ISO-8601 or Unix ms; default: all)");
  export_command->add_option("--to", export_settings->to, "End of the range, exclusive (ISO-8601 or Unix ms; default: all)");
  export_command->add_option("--out", export_settings->out, "Output file: .parquet or .csv")->required();
  export_command->callback([&action, export_settings] { action = [export_settings] { return RunExport(*export_settings); }; });

  auto label_settings = std::make_shared<LabelSettings>();
  auto* labels = monitor.add_subcommand("labels", "Import late ground-truth labels (CSV/Parquet/JSON) for logged predictions.");
  data_dir_option(labels, label_settings->data_dir);
  labels->add_option("--deployment", label_settings->deployment, "The deployment the predictions came from")->required();
  labels->add_option("--file", label_settings->file, "File with a prediction id and a label per row")->required();
  labels->add_option("--id-column", label_settings->id_column, "Column of prediction ids")->capture_default_str();
  labels->add_option("--label-column", label_settings->label_column, "Column of labels")->capture_default_str();
  labels->callback([&action, label_settings] { action = [label_settings] { return RunLabels(*label_settings); }; });

  auto reference_settings = std::make_shared<ReferenceSettings>();
  auto* reference = monitor.add_subcommand(
      "reference", "Register a CSV/Parquet/JSON file (e.g. the training set) as a deployment's reference data.");
  data_dir_option(reference, reference_settings->data_dir);
  reference->add_option("--deployment", reference_settings->deployment, "The deployment")->required();
  auto* file_option = reference->add_option("--file", reference_settings->file, "The reference data");
  auto* run_option = reference->add_option("--run-id", reference_settings->run_id,
                                           "Use the training dataset logged with this run (a local file source)");
  auto* model_option = reference->add_option(
      "--model", reference_settings->model,
      "Use the training dataset of the run that produced this model version (models:/<name>/<version> or models:/<name>@<alias>)");
  file_option->excludes(run_option);
  model_option->excludes(file_option);
  model_option->excludes(run_option);
  reference->add_option("--kind", reference_settings->kinds,
                        "column:kind (numerical, categorical, text or datetime) instead of the inferred kind; repeatable");
  reference->callback([&action, reference_settings] { action = [reference_settings] { return RunReference(*reference_settings); }; });

  auto remote = std::make_shared<RemoteSettings>();
  remote->url = DefaultTrackingUri();
  auto* evaluate = monitor.add_subcommand("evaluate", "Evaluate a monitor of a running server now and print its metrics.");
  evaluate->add_option("monitor", remote->monitor, "The monitor's name")->required();
  evaluate->add_option("--url", remote->url, "The server ($LATHE_TRACKING_URI)")->capture_default_str();
  evaluate->add_option("--window-end", remote->window_end, "End of the window (ISO-8601 or Unix ms; default: the last complete one)");
  evaluate->callback([&action, remote] { action = [remote] { return RunEvaluate(*remote); }; });

  auto* alerts = monitor.add_subcommand("alerts", "List the alerts a server fired, with their action deliveries.");
  alerts->add_option("monitor", remote->monitor, "Only this monitor's alerts");
  alerts->add_option("--url", remote->url, "The server ($LATHE_TRACKING_URI)")->capture_default_str();
  alerts->add_option("--limit", remote->limit, "At most this many, newest first")->check(CLI::Range(1, 100000))->capture_default_str();
  alerts->callback([&action, remote] { action = [remote] { return RunAlerts(*remote); }; });
}

}  // namespace lathe::cli
