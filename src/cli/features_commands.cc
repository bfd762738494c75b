// `lathe features ...`: the feature store from the command line. These commands work on the data
// directory directly (metadata store, online store) and run DuckDB in-process.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "core/clock.h"
#include "core/ids.h"
#include "features/definitions.h"
#include "storage/duckdb.h"
#include "features/materialize.h"
#include "features/offline.h"
#include "features/online.h"
#include "features/online_store.h"
#include "features/repo_registry.h"

namespace lathe::cli {
namespace {

using nlohmann::json;
namespace fs = lathe::features;

struct FeatureSettings {
  std::string repo = ".";
  bool repo_given = false;
  std::string data_dir = "./lathe-data";
  std::string memory_limit;
  int threads = 0;
  // apply / plan
  bool allow_breaking = false;
  // historical
  std::string entities;
  std::vector<std::string> features;
  std::string out;
  std::string timestamp_column = "event_timestamp";
  bool full_feature_names = false;
  std::string start;
  std::string end;
  std::string run_id;
  // materialize
  std::vector<std::string> views;
  // online
  std::string entity_json;
  std::string request_json;
  // verify
  int sample = 100;
  std::string at;
};

std::vector<std::string> SplitList(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    size_t start = 0;
    while (start <= item.size()) {
      size_t comma = item.find(',', start);
      std::string part = item.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!part.empty()) out.push_back(part);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

Result<std::unique_ptr<fs::DuckDb>> OpenDuckDb(const FeatureSettings& settings) {
  fs::DuckDbOptions options;
  options.threads = settings.threads;
  options.memory_limit = settings.memory_limit;
  options.temp_directory = (std::filesystem::path(settings.data_dir) / "features" / "duckdb-tmp").string();
  return fs::DuckDb::Open(options);
}

// The applied repository, its sources registered in DuckDB. When --repo was given it must match
// the applied version, so nobody builds a training set from definitions that were never applied.
struct Workspace {
  std::unique_ptr<storage::Store> store;
  fs::AppliedRepo applied;
  std::unique_ptr<fs::DuckDb> db;
};

Result<Workspace> OpenWorkspace(const FeatureSettings& settings) {
  Workspace workspace;
  DataDirLayout layout{settings.data_dir};
  if (!std::filesystem::exists(layout.database())) {
    return Status::InvalidParameter(fmt::format("no Lathe data in {}: run `lathe features apply` first", settings.data_dir));
  }
  LATHE_ASSIGN_OR_RETURN(workspace.store, OpenStore(layout, storage::Durability::kProcessCrash));
  LATHE_ASSIGN_OR_RETURN(auto applied, fs::LoadAppliedRepo(*workspace.store));
  if (!applied) return Status::InvalidParameter(fmt::format("no feature repository applied in {}: run `lathe features apply`", settings.data_dir));
  workspace.applied = std::move(*applied);
  if (settings.repo_given) {
    LATHE_ASSIGN_OR_RETURN(auto local, fs::LoadFeatureRepo(settings.repo));
    if (!fs::SameDefinitions(local, workspace.applied.repo)) {
      return Status::InvalidState(fmt::format("the repository at {} differs from the applied version {}: run `lathe features apply`",
                                              settings.repo, workspace.applied.version));
    }
  }
  LATHE_ASSIGN_OR_RETURN(workspace.db, OpenDuckDb(settings));
  LATHE_RETURN_IF_ERROR(fs::RegisterSources(workspace.applied.repo, *workspace.db));
  return workspace;
}

Status RunApply(const FeatureSettings& settings, bool dry_run) {
  LATHE_ASSIGN_OR_RETURN(auto repo, fs::LoadFeatureRepo(settings.repo));
  LATHE_ASSIGN_OR_RETURN(auto db, OpenDuckDb(settings));
  LATHE_RETURN_IF_ERROR(fs::ValidateAgainstData(repo, *db));
  LATHE_ASSIGN_OR_RETURN(auto hash, fs::HashRepo(repo, *db));
  LATHE_ASSIGN_OR_RETURN(auto store, OpenStore(DataDirLayout{settings.data_dir}, storage::Durability::kFull));
  storage::WriteContext context{"cli", "", "features/apply"};
  LATHE_ASSIGN_OR_RETURN(auto outcome, fs::ApplyRepo(*store, context, repo, hash, dry_run, settings.allow_breaking));
  if (!outcome.changed) {
    std::printf("no changes: the repository is version %lld (%s)\n", static_cast<long long>(outcome.version), hash.substr(0, 12).c_str());
    return Status::Ok();
  }
  for (const auto& change : outcome.changes) std::printf("%s\n", change.c_str());
  if (dry_run) {
    std::printf("%zu change(s); `lathe features apply` would make version %lld (%s)\n", outcome.changes.size(),
                static_cast<long long>(outcome.version), hash.substr(0, 12).c_str());
  } else {
    std::printf("applied version %lld (%s)\n", static_cast<long long>(outcome.version), hash.substr(0, 12).c_str());
  }
  return Status::Ok();
}

Status RunHistorical(const FeatureSettings& settings) {
  if (settings.out.empty()) return Status::InvalidParameter("--out is required");
  if (settings.entities.empty() && (settings.start.empty() || settings.end.empty())) {
    return Status::InvalidParameter("give --entities, or --start and --end");
  }
  LATHE_ASSIGN_OR_RETURN(auto workspace, OpenWorkspace(settings));
  fs::HistoricalRequest request;
  LATHE_ASSIGN_OR_RETURN(request.features, fs::ParseFeatureRefs(workspace.applied.repo, SplitList(settings.features)));
  request.entities_path = settings.entities;
  request.timestamp_column = settings.timestamp_column;
  request.full_feature_names = settings.full_feature_names;
  if (settings.entities.empty()) {
    LATHE_ASSIGN_OR_RETURN(int64_t start, fs::ParseTimestamp(*workspace.db, settings.start));
    LATHE_ASSIGN_OR_RETURN(int64_t end, fs::ParseTimestamp(*workspace.db, settings.end));
    request.start_micros = start;
    request.end_micros = end;
  }
  LATHE_ASSIGN_OR_RETURN(auto rows, fs::WriteHistorical(workspace.applied.repo, *workspace.db, request, settings.out,
                                                        workspace.applied.hash));
  if (!settings.run_id.empty()) {
    storage::WriteContext context{"cli", "", "runs/log-inputs"};
    auto input = fs::TrainingSetInput(std::filesystem::path(settings.out).filename().string(), workspace.applied.hash, request.features);
    LATHE_RETURN_IF_ERROR(workspace.store->LogInputs(context, settings.run_id, {input}));
  }
  std::printf("wrote %lld row(s) to %s (feature repository version %lld, %s)\n", static_cast<long long>(rows),
              settings.out.c_str(), static_cast<long long>(workspace.applied.version), workspace.applied.hash.substr(0, 12).c_str());
  return Status::Ok();
}

// Draws "[#####     ] 2/3 views, 12345 rows" on stderr when it is a terminal.
fs::MaterializeProgress ProgressBar() {
  if (::isatty(STDERR_FILENO) != 1) return {};
  return [](size_t done, size_t total, int64_t rows) {
    constexpr int kWidth = 30;
    int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
    std::fprintf(stderr, "\r[%s%s] %zu/%zu views, %lld rows   ", std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), done, total, static_cast<long long>(rows));
    if (done == total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

Status RunMaterialize(const FeatureSettings& settings, bool incremental) {
  LATHE_ASSIGN_OR_RETURN(auto workspace, OpenWorkspace(settings));
  fs::MaterializeRequest request;
  request.views = SplitList(settings.views);
  request.incremental = incremental;
  if (!incremental) {
    LATHE_ASSIGN_OR_RETURN(request.start_micros, fs::ParseTimestamp(*workspace.db, settings.start));
  }
  request.end_micros = NowMillis() * 1000;
  if (!settings.end.empty()) {
    LATHE_ASSIGN_OR_RETURN(request.end_micros, fs::ParseTimestamp(*workspace.db, settings.end));
  }
  const auto& repo = workspace.applied.repo;
  LATHE_ASSIGN_OR_RETURN(auto store, fs::OpenOnlineStore(repo.online_store, settings.data_dir, repo.project));
  LATHE_ASSIGN_OR_RETURN(auto report, fs::Materialize(repo, workspace.applied.hash, *workspace.db, *store, request, ProgressBar()));
  for (const auto& view : report) {
    std::printf("%s: %lld entit%s from %s to %s\n", view.view.c_str(), static_cast<long long>(view.rows), view.rows == 1 ? "y" : "ies",
                fs::FormatTimestamp(view.start_micros).c_str(), fs::FormatTimestamp(view.end_micros).c_str());
  }
  std::printf("materialised %zu view(s) into %s\n", report.size(), store->Describe().c_str());
  return Status::Ok();
}

Result<json> ParseJsonOption(const std::string& text, const char* option) {
  auto parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Status::InvalidParameter(fmt::format("{} must be a JSON object, e.g. '{{\"customer_id\": [1, 2]}}'", option));
  }
  return parsed;
}

Status RunOnline(const FeatureSettings& settings) {
  LATHE_ASSIGN_OR_RETURN(auto store, OpenStore(DataDirLayout{settings.data_dir}, storage::Durability::kProcessCrash));
  LATHE_ASSIGN_OR_RETURN(auto applied, fs::LoadAppliedRepo(*store));
  if (!applied) return Status::InvalidParameter(fmt::format("no feature repository applied in {}", settings.data_dir));
  LATHE_ASSIGN_OR_RETURN(auto online_store, fs::OpenOnlineStore(applied->repo.online_store, settings.data_dir, applied->repo.project));
  fs::OnlineFeatures online(applied->repo, applied->hash, std::move(online_store));
  json request = {{"features", SplitList(settings.features)}};
  LATHE_ASSIGN_OR_RETURN(request["entities"], ParseJsonOption(settings.entity_json, "--entities"));
  if (!settings.request_json.empty()) {
    LATHE_ASSIGN_OR_RETURN(request["request_data"], ParseJsonOption(settings.request_json, "--request-data"));
  }
  LATHE_ASSIGN_OR_RETURN(auto response, online.Get(request));
  std::printf("%s\n", response.dump(2).c_str());
  return Status::Ok();
}

// A JSON-encoded feature value as both paths write it, for comparison.
std::string Canonical(const json& value) { return value.is_null() ? "null" : value.dump(); }

Status RunVerify(const FeatureSettings& settings) {
  LATHE_ASSIGN_OR_RETURN(auto workspace, OpenWorkspace(settings));
  const auto& repo = workspace.applied.repo;
  auto& db = *workspace.db;
  int64_t at = NowMillis() * 1000;
  if (!settings.at.empty()) {
    LATHE_ASSIGN_OR_RETURN(at, fs::ParseTimestamp(db, settings.at));
  }
  std::vector<std::string> view_names = SplitList(settings.views);
  if (view_names.empty()) {
    for (const auto& view : repo.views) view_names.push_back(view.name);
  }
  // The online path: materialise everything up to `at` into a scratch SQLite store.
  auto scratch = std::filesystem::temp_directory_path() / fmt::format("lathe-verify-{}", NewUuidHex());
  struct Cleanup {
    std::filesystem::path path;
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } cleanup{scratch};
  LATHE_ASSIGN_OR_RETURN(auto scratch_store, fs::OpenSqliteOnlineStore(scratch / "online.db"));
  std::shared_ptr<fs::OnlineStore> online_store(std::move(scratch_store));
  fs::MaterializeRequest materialize;
  materialize.views = view_names;
  materialize.start_micros = fs::kBeginningOfTime;
  materialize.end_micros = at;
  LATHE_RETURN_IF_ERROR(fs::Materialize(repo, workspace.applied.hash, db, *online_store, materialize).status());
  fs::OnlineFeatures online(repo, workspace.applied.hash, online_store);

  int64_t checked = 0;
  std::vector<std::string> mismatches;
  for (const auto& name : view_names) {
    const fs::FeatureView& view = *repo.FindView(name);
    auto keys = repo.JoinKeys(view);
    std::string key_list;
    for (const auto& key : keys) key_list += (key_list.empty() ? "" : ", ") + fs::SqlIdentifier(key.name);
    // A deterministic sample of the entities that have source rows.
    LATHE_RETURN_IF_ERROR(db.Exec(fmt::format(
        "CREATE OR REPLACE TEMP TABLE __verify_entities AS SELECT {0}, make_timestamp(CAST({1} AS BIGINT)) AS event_timestamp "
        "FROM (SELECT DISTINCT {0} FROM ({2}) WHERE __event_ts <= make_timestamp(CAST({1} AS BIGINT))) ORDER BY hash({0}), {0} LIMIT {3}",
        key_list, at, fs::ViewRowsSql(repo, view, {view.features.front().name}), settings.sample)));
    fs::HistoricalRequest offline_request;
    for (const auto& feature : view.features) offline_request.features.push_back({view.name, feature.name});
    offline_request.entity_table = "__verify_entities";
    offline_request.full_feature_names = true;
    LATHE_ASSIGN_OR_RETURN(auto query, fs::PrepareHistorical(repo, db, offline_request));
    std::string payload;
    for (const auto& feature : view.features) {
      payload += fmt::format("{}{} := {}", payload.empty() ? "" : ", ", fs::SqlIdentifier(feature.name),
                             fs::SqlIdentifier(view.name + "__" + feature.name));
    }
    LATHE_ASSIGN_OR_RETURN(auto offline_rows, db.Query(fmt::format(
        "SELECT {}, CAST(to_json(struct_pack({})) AS VARCHAR) FROM ({})", key_list, payload, query)));
    if (offline_rows.rows.empty()) continue;
    json request = {{"features", json::array()}, {"entities", json::object()}};
    for (const auto& feature : view.features) request["features"].push_back(view.name + ":" + feature.name);
    for (size_t k = 0; k < keys.size(); ++k) {
      json values = json::array();
      for (const auto& row : offline_rows.rows) {
        if (std::holds_alternative<int64_t>(row[k])) values.push_back(std::get<int64_t>(row[k]));
        else values.push_back(std::get<std::string>(row[k]));
      }
      request["entities"][keys[k].name] = values;
    }
    LATHE_ASSIGN_OR_RETURN(auto response, online.Get(request));
    for (size_t r = 0; r < offline_rows.rows.size(); ++r) {
      auto offline = json::parse(std::get<std::string>(offline_rows.rows[r][keys.size()]));
      for (size_t f = 0; f < view.features.size(); ++f) {
        const auto& result = response["results"][keys.size() + f];
        json online_value = result["values"][r];
        // Offline nulls a value older than the TTL at `at`; online keeps it for its own clock.
        if (view.ttl_seconds > 0 && result["event_timestamps"][r].is_string()) {
          LATHE_ASSIGN_OR_RETURN(int64_t event, fs::ParseTimestamp(db, result["event_timestamps"][r].get<std::string>()));
          if (event < at - view.ttl_seconds * 1000000) online_value = nullptr;
        }
        json offline_value = offline.value(view.features[f].name, json());
        ++checked;
        if (Canonical(offline_value) != Canonical(online_value)) {
          mismatches.push_back(fmt::format("{}:{} for {}: offline {} online {}", view.name, view.features[f].name,
                                           request["entities"].dump(), Canonical(offline_value), Canonical(online_value)));
        }
      }
    }
  }
  for (size_t i = 0; i < mismatches.size() && i < 50; ++i) std::printf("mismatch: %s\n", mismatches[i].c_str());
  std::printf("verified %lld value(s) of %zu view(s) at %s: %zu mismatch(es)\n", static_cast<long long>(checked), view_names.size(),
              fs::FormatTimestamp(at).c_str(), mismatches.size());
  if (!mismatches.empty()) return Status::InvalidState(fmt::format("{} value(s) differ between the offline and online paths", mismatches.size()));
  return Status::Ok();
}

Status RunVersions(const FeatureSettings& settings) {
  LATHE_ASSIGN_OR_RETURN(auto store, OpenStore(DataDirLayout{settings.data_dir}, storage::Durability::kProcessCrash));
  LATHE_ASSIGN_OR_RETURN(auto versions, store->ListFeatureRepoVersions(100));
  std::vector<std::vector<std::string>> rows;
  for (const auto& version : versions) {
    rows.push_back({std::to_string(version.version), version.hash.substr(0, 12), fs::FormatTimestamp(version.created_at * 1000),
                    version.actor});
  }
  PrintTable({"VERSION", "HASH", "APPLIED", "BY"}, rows);
  return Status::Ok();
}

}  // namespace

void AddFeatureCommands(CLI::App& app, Action& action) {
  auto settings = std::make_shared<FeatureSettings>();
  auto* features = app.add_subcommand("features", "Feature store: definitions, training sets, online store.");
  features->require_subcommand(1);
  auto common = [&](CLI::App* command, bool repo) {
    if (repo) {
      command->add_option("--repo", settings->repo, "features.yaml, or a folder of YAML files")->capture_default_str();
    } else {
      command->add_option("--repo", settings->repo, "Check that this repository is the applied version");
    }
    command->add_option("--data-dir", settings->data_dir, "The server's data directory")
        ->envname("LATHE_DATA_DIR")
        ->capture_default_str();
    command->add_option("--threads", settings->threads, "DuckDB threads (0: one per core)")->check(CLI::Range(0, 1024));
    command->add_option("--memory-limit", settings->memory_limit, "DuckDB memory limit, e.g. 4GB (default: 80% of RAM)");
  };
  auto* apply = features->add_subcommand("apply", "Validate the repository and store it as a new version.");
  common(apply, true);
  apply->add_flag("--allow-breaking", settings->allow_breaking,
                  "Apply even if features that registered models were trained on are removed or change type");
  apply->callback([&action, settings] { action = [settings] { return RunApply(*settings, false); }; });

  auto* plan = features->add_subcommand("plan", "Validate the repository and show what `apply` would change.");
  common(plan, true);
  plan->add_flag("--allow-breaking", settings->allow_breaking, "Do not check features that registered models use");
  plan->callback([&action, settings] { action = [settings] { return RunApply(*settings, true); }; });

  auto* historical = features->add_subcommand("historical", "Build a point-in-time correct training set.");
  common(historical, false);
  historical->add_option("--entities", settings->entities, "Entity rows: CSV, Parquet or JSON with join keys and a timestamp");
  historical->add_option("--features", settings->features, "view:feature references, comma-separated")->required();
  historical->add_option("--out", settings->out, "Output file: .parquet, .csv or .json")->required();
  historical->add_option("--timestamp-column", settings->timestamp_column, "The entity rows' timestamp column")->capture_default_str();
  historical->add_flag("--full-feature-names", settings->full_feature_names, "Name output columns view__feature");
  historical->add_option("--start", settings->start, "Without --entities: every entity's values at its events from here");
  historical->add_option("--end", settings->end, "Without --entities: ... to here");
  historical->add_option("--run-id", settings->run_id, "Log the training set as an input of this run");
  historical->callback([&action, settings, historical] {
    settings->repo_given = historical->count("--repo") > 0;
    action = [settings] { return RunHistorical(*settings); };
  });

  auto* materialize = features->add_subcommand("materialize", "Write the latest values in [start, end] to the online store.");
  common(materialize, false);
  materialize->add_option("--start", settings->start, "Start of the event time range (e.g. 2024-01-01)")->required();
  materialize->add_option("--end", settings->end, "End of the event time range (default: now)");
  materialize->add_option("--views", settings->views, "Feature views, comma-separated (default: all)");
  materialize->callback([&action, settings, materialize] {
    settings->repo_given = materialize->count("--repo") > 0;
    action = [settings] { return RunMaterialize(*settings, false); };
  });

  auto* incremental = features->add_subcommand("materialize-incremental", "Materialise each view from where its last run ended.");
  common(incremental, false);
  incremental->add_option("--end", settings->end, "End of the event time range (default: now)");
  incremental->add_option("--views", settings->views, "Feature views, comma-separated (default: all)");
  incremental->callback([&action, settings, incremental] {
    settings->repo_given = incremental->count("--repo") > 0;
    action = [settings] { return RunMaterialize(*settings, true); };
  });

  auto* online = features->add_subcommand("online", "Read feature values from the online store.");
  online->add_option("--data-dir", settings->data_dir, "The server's data directory")->envname("LATHE_DATA_DIR")->capture_default_str();
  online->add_option("--features", settings->features, "view:feature references, comma-separated")->required();
  online->add_option("--entities", settings->entity_json, "Join key values as JSON, e.g. '{\"customer_id\": [1, 2]}'")->required();
  online->add_option("--request-data", settings->request_json, "Request fields of on-demand views as JSON");
  online->callback([&action, settings] { action = [settings] { return RunOnline(*settings); }; });

  auto* verify = features->add_subcommand("verify", "Check that offline retrieval and materialise + online read agree.");
  common(verify, false);
  verify->add_option("--sample", settings->sample, "Entities sampled per view")->check(CLI::Range(1, 1000000))->capture_default_str();
  verify->add_option("--at", settings->at, "The time to compare at (default: now)");
  verify->add_option("--views", settings->views, "Feature views, comma-separated (default: all)");
  verify->callback([&action, settings, verify] {
    settings->repo_given = verify->count("--repo") > 0;
    action = [settings] { return RunVerify(*settings); };
  });

  auto* versions = features->add_subcommand("versions", "List the applied versions of the feature repository.");
  versions->add_option("--data-dir", settings->data_dir, "The server's data directory")->envname("LATHE_DATA_DIR")->capture_default_str();
  versions->callback([&action, settings] { action = [settings] { return RunVersions(*settings); }; });
}

}  // namespace lathe::cli
