// SqliteStore: experiments, runs, metrics, params, tags, dataset inputs and the purge of deleted
// objects. (Registry methods live in sqlite_registry_store.cc.)
#include "core/json_dump.h"
#include "storage/sqlite_store.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/ids.h"
#include "storage/sqlite_search.h"

namespace lathe::storage {
namespace {

constexpr std::string_view kRunNameTag = "mlflow.runName";

Status ExperimentNotFound(int64_t experiment_id) {
  return Status::NotFound(fmt::format("No Experiment with id={} exists", experiment_id));
}
Status RunNotFound(const std::string& run_id) {
  return Status::NotFound(fmt::format("Run with id={} not found", run_id));
}

bool IsUniqueViolation(const Status& status) {
  return status.message().find("UNIQUE constraint failed") != std::string::npos;
}

// Rows that hold lists of ids go to SQLite as a JSON array, read with json_each: one cached
// statement serves any number of ids.
std::string JsonArray(const std::vector<std::string>& values) { return DumpJson(nlohmann::json(values)); }

Result<Experiment> LoadExperiment(SqliteConnection& db, std::string_view where, const SqlValue& key) {
  LATHE_ASSIGN_OR_RETURN(auto* select,
                         db.Prepare(fmt::format("SELECT experiment_id, name, artifact_location, lifecycle_stage, "
                                                "creation_time, last_update_time FROM experiments WHERE {}",
                                                where)));
  select->Bind({key});
  LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
  if (!row) return Status::NotFound("");
  Experiment experiment;
  experiment.experiment_id = select->Int64(0);
  experiment.name = select->Text(1);
  experiment.artifact_location = select->Text(2);
  experiment.lifecycle_stage = select->Text(3);
  experiment.creation_time = select->Int64(4);
  experiment.last_update_time = select->Int64(5);
  LATHE_ASSIGN_OR_RETURN(experiment.tags,
                         LoadTags(db, "SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY key",
                                  {experiment.experiment_id}));
  return experiment;
}

RunInfo ReadRunInfo(SqliteStatement& select) {
  RunInfo info;
  info.run_id = select.Text(0);
  info.run_name = select.Text(1);
  info.experiment_id = select.Int64(2);
  info.user_id = select.Text(3);
  info.status = select.Text(4);
  info.start_time = select.Int64(5);
  info.end_time = select.OptionalInt64(6);
  info.artifact_uri = select.Text(7);
  info.lifecycle_stage = select.Text(8);
  return info;
}

constexpr std::string_view kRunInfoColumns =
    "run_uuid, name, experiment_id, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage";

Result<RunInfo> LoadRunInfo(SqliteConnection& db, const std::string& run_id) {
  LATHE_ASSIGN_OR_RETURN(auto* select,
                         db.Prepare(fmt::format("SELECT {} FROM runs WHERE run_uuid = ?", kRunInfoColumns)));
  select->Bind({run_id});
  LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
  if (!row) return RunNotFound(run_id);
  return ReadRunInfo(*select);
}

Status CheckRunActive(const RunInfo& info) {
  if (info.lifecycle_stage != "active") {
    return Status::InvalidParameter(fmt::format("The run {} must be in the 'active' state. Current state is {}.",
                                                info.run_id, info.lifecycle_stage));
  }
  return Status::Ok();
}

double StoredValue(double value) { return std::isnan(value) ? 0.0 : value; }

Metric ReadMetric(SqliteStatement& select, int first_column) {
  Metric metric;
  metric.key = select.Text(first_column);
  metric.value = select.Int64(first_column + 4) ? std::nan("") : select.Double(first_column + 1);
  metric.timestamp = select.Int64(first_column + 2);
  metric.step = select.Int64(first_column + 3);
  return metric;
}

// Loads params, tags, latest metrics and inputs of many runs at once, keyed by run id.
Status LoadRunData(SqliteConnection& db, std::vector<Run>& runs) {
  if (runs.empty()) return Status::Ok();
  std::unordered_map<std::string, Run*> by_id;
  std::vector<std::string> ids;
  for (auto& run : runs) {
    by_id[run.info.run_id] = &run;
    ids.push_back(run.info.run_id);
  }
  std::string id_list = JsonArray(ids);
  auto for_rows = [&](std::string_view sql, auto&& on_row) -> Status {
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(sql));
    select->Bind({id_list});
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) return Status::Ok();
      auto it = by_id.find(select->Text(0));
      if (it != by_id.end()) on_row(*it->second, *select);
    }
  };
  LATHE_RETURN_IF_ERROR(for_rows(
      "SELECT run_uuid, key, value FROM params WHERE run_uuid IN (SELECT value FROM json_each(?)) ORDER BY key",
      [](Run& run, SqliteStatement& row) { run.params.push_back(Param{row.Text(1), row.Text(2)}); }));
  LATHE_RETURN_IF_ERROR(for_rows(
      "SELECT run_uuid, key, value FROM tags WHERE run_uuid IN (SELECT value FROM json_each(?)) ORDER BY key",
      [](Run& run, SqliteStatement& row) { run.tags.push_back(Tag{row.Text(1), row.Text(2)}); }));
  LATHE_RETURN_IF_ERROR(for_rows(
      "SELECT run_uuid, key, value, timestamp, step, is_nan FROM latest_metrics "
      "WHERE run_uuid IN (SELECT value FROM json_each(?)) ORDER BY key",
      [](Run& run, SqliteStatement& row) { run.metrics.push_back(ReadMetric(row, 1)); }));
  struct InputRow {
    Run* run;
    size_t index;
    std::string dataset_uuid;
  };
  std::vector<InputRow> input_rows;
  LATHE_RETURN_IF_ERROR(for_rows(
      "SELECT i.run_uuid, d.dataset_uuid, d.name, d.digest, d.source_type, d.source, d.schema, d.profile "
      "FROM run_inputs i JOIN datasets d ON d.dataset_uuid = i.dataset_uuid "
      "WHERE i.run_uuid IN (SELECT value FROM json_each(?)) ORDER BY d.name",
      [&](Run& run, SqliteStatement& row) {
        auto optional_text = [&](int column) { return row.IsNull(column) ? std::nullopt : std::optional(row.Text(column)); };
        run.inputs.push_back(DatasetInput{
            Dataset{row.Text(2), row.Text(3), row.Text(4), row.Text(5), optional_text(6), optional_text(7)}, {}});
        input_rows.push_back(InputRow{&run, run.inputs.size() - 1, row.Text(1)});
      }));
  for (const auto& input : input_rows) {
    LATHE_ASSIGN_OR_RETURN(input.run->inputs[input.index].tags,
                           LoadTags(db,
                                    "SELECT key, value FROM run_input_tags WHERE run_uuid = ? AND dataset_uuid = ? "
                                    "ORDER BY key",
                                    {input.run->info.run_id, input.dataset_uuid}));
  }
  return Status::Ok();
}

Status UpsertTag(SqliteConnection& db, const std::string& run_id, const Tag& tag) {
  LATHE_ASSIGN_OR_RETURN(auto* upsert, db.Prepare("INSERT INTO tags(run_uuid, key, value) VALUES (?,?,?) "
                                                  "ON CONFLICT(run_uuid, key) DO UPDATE SET value = excluded.value"));
  return upsert->Bind({run_id, tag.key, tag.value}).Run();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Experiments

Result<int64_t> SqliteStore::CreateExperiment(const WriteContext& context, const std::string& name,
                                              const std::string& artifact_location,
                                              const std::function<std::string(int64_t)>& artifact_location_for,
                                              const std::vector<Tag>& tags) {
  int64_t experiment_id = -1;
  Status status = Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    int64_t now = NowMillis();
    LATHE_ASSIGN_OR_RETURN(auto* insert, db.Prepare(
        "INSERT INTO experiments(name, artifact_location, lifecycle_stage, creation_time, last_update_time) "
        "VALUES (?, ?, 'active', ?, ?)"));
    Status inserted = insert->Bind({name, artifact_location, now, now}).Run();
    if (!inserted.ok()) {
      if (IsUniqueViolation(inserted)) {
        return Status::AlreadyExists(fmt::format("Experiment(name={}) already exists.", name));
      }
      return inserted;
    }
    experiment_id = db.LastInsertRowId();
    if (artifact_location.empty()) {
      LATHE_ASSIGN_OR_RETURN(auto* update,
                             db.Prepare("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?"));
      LATHE_RETURN_IF_ERROR(update->Bind({artifact_location_for(experiment_id), experiment_id}).Run());
    }
    LATHE_ASSIGN_OR_RETURN(auto* insert_tag,
                           db.Prepare("INSERT OR REPLACE INTO experiment_tags(experiment_id, key, value) VALUES (?,?,?)"));
    for (const auto& tag : tags) {
      LATHE_RETURN_IF_ERROR(insert_tag->Bind({experiment_id, tag.key, tag.value}).Run());
    }
    return tx.Audit("experiment", std::to_string(experiment_id));
  });
  if (!status.ok()) return status;
  return experiment_id;
}

Result<Experiment> SqliteStore::GetExperiment(int64_t experiment_id) {
  auto result = Read<Experiment>(
      [&](SqliteConnection& db) { return LoadExperiment(db, "experiment_id = ?", experiment_id); });
  if (!result.ok() && result.status().code() == ErrorCode::kResourceDoesNotExist) {
    return ExperimentNotFound(experiment_id);
  }
  return result;
}

Result<Experiment> SqliteStore::GetExperimentByName(const std::string& name) {
  auto result = Read<Experiment>([&](SqliteConnection& db) { return LoadExperiment(db, "name = ?", name); });
  if (!result.ok() && result.status().code() == ErrorCode::kResourceDoesNotExist) {
    return Status::NotFound(fmt::format("Could not find experiment with name '{}'", name));
  }
  return result;
}

Result<Page<Experiment>> SqliteStore::SearchExperiments(const ExperimentSearch& search) {
  ExperimentSearch probe = search;
  probe.max_results = search.max_results + 1;  // one more row tells whether another page follows
  LATHE_ASSIGN_OR_RETURN(auto query, BuildExperimentSearchSql(probe));
  return Read<Page<Experiment>>([&](SqliteConnection& db) -> Result<Page<Experiment>> {
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(query.sql));
    select->BindAll(query.bindings);
    std::vector<int64_t> ids;
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      ids.push_back(select->Int64(0));
    }
    Page<Experiment> page;
    page.has_more = static_cast<int64_t>(ids.size()) > search.max_results;
    if (page.has_more) ids.resize(search.max_results);
    for (int64_t id : ids) {
      LATHE_ASSIGN_OR_RETURN(auto experiment, LoadExperiment(db, "experiment_id = ?", id));
      page.items.push_back(std::move(experiment));
    }
    return page;
  });
}

Status SqliteStore::RenameExperiment(const WriteContext& context, int64_t experiment_id, const std::string& new_name) {
  return Write(context, [&](WriteTx& tx) -> Status {
    auto experiment = LoadExperiment(tx.db(), "experiment_id = ?", experiment_id);
    if (!experiment.ok()) return ExperimentNotFound(experiment_id);
    if (experiment->lifecycle_stage != "active") {
      return Status::InvalidState("Cannot rename a non-active experiment.");
    }
    LATHE_ASSIGN_OR_RETURN(auto* update, tx.db().Prepare(
        "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?"));
    Status updated = update->Bind({new_name, NowMillis(), experiment_id}).Run();
    if (!updated.ok() && IsUniqueViolation(updated)) {
      return Status::AlreadyExists(fmt::format("Experiment(name={}) already exists.", new_name));
    }
    LATHE_RETURN_IF_ERROR(updated);
    return tx.Audit("experiment", std::to_string(experiment_id));
  });
}

Status SqliteStore::SetExperimentLifecycle(const WriteContext& context, int64_t experiment_id, bool deleted) {
  return Write(context, [&](WriteTx& tx) -> Status {
    auto experiment = LoadExperiment(tx.db(), "experiment_id = ?", experiment_id);
    if (!experiment.ok()) return ExperimentNotFound(experiment_id);
    const char* wanted = deleted ? "active" : "deleted";
    if (experiment->lifecycle_stage != wanted) {
      return Status::InvalidParameter(
          fmt::format("Cannot {} experiment {}: it is {}.", deleted ? "delete" : "restore", experiment_id,
                      experiment->lifecycle_stage));
    }
    if (deleted && experiment_id == 0) {
      return Status::InvalidParameter("Cannot delete the default experiment '0'. This is an internally reserved experiment.");
    }
    int64_t now = NowMillis();
    std::string stage = deleted ? "deleted" : "active";
    LATHE_ASSIGN_OR_RETURN(auto* update, tx.db().Prepare(
        "UPDATE experiments SET lifecycle_stage = ?1, last_update_time = ?2, "
        "deleted_time = CASE WHEN ?1 = 'deleted' THEN ?2 END WHERE experiment_id = ?3"));
    LATHE_RETURN_IF_ERROR(update->Bind({stage, now, experiment_id}).Run());
    LATHE_ASSIGN_OR_RETURN(auto* update_runs, tx.db().Prepare(
        "UPDATE runs SET lifecycle_stage = ?1, deleted_time = CASE WHEN ?1 = 'deleted' THEN ?2 END "
        "WHERE experiment_id = ?3"));
    LATHE_RETURN_IF_ERROR(update_runs->Bind({stage, now, experiment_id}).Run());
    return tx.Audit("experiment", std::to_string(experiment_id));
  });
}

Status SqliteStore::SetExperimentTag(const WriteContext& context, int64_t experiment_id, const Tag& tag) {
  return Write(context, [&](WriteTx& tx) -> Status {
    auto experiment = LoadExperiment(tx.db(), "experiment_id = ?", experiment_id);
    if (!experiment.ok()) return ExperimentNotFound(experiment_id);
    if (experiment->lifecycle_stage != "active") {
      return Status::InvalidParameter(fmt::format(
          "The experiment {} must be in the 'active' state. Current state is {}.", experiment_id,
          experiment->lifecycle_stage));
    }
    LATHE_ASSIGN_OR_RETURN(auto* upsert, tx.db().Prepare(
        "INSERT INTO experiment_tags(experiment_id, key, value) VALUES (?,?,?) "
        "ON CONFLICT(experiment_id, key) DO UPDATE SET value = excluded.value"));
    LATHE_RETURN_IF_ERROR(upsert->Bind({experiment_id, tag.key, tag.value}).Run());
    return tx.Audit("experiment", std::to_string(experiment_id));
  });
}

// ---------------------------------------------------------------------------------------------
// Runs

Status SqliteStore::CreateRun(const WriteContext& context, const RunInfo& info, const std::vector<Tag>& tags) {
  return Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    auto experiment = LoadExperiment(db, "experiment_id = ?", info.experiment_id);
    if (!experiment.ok()) return ExperimentNotFound(info.experiment_id);
    if (experiment->lifecycle_stage != "active") {
      return Status::InvalidParameter(fmt::format(
          "The experiment {} must be in the 'active' state. Current state is {}.", info.experiment_id,
          experiment->lifecycle_stage));
    }
    LATHE_ASSIGN_OR_RETURN(auto* insert, db.Prepare(
        "INSERT INTO runs(run_uuid, name, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, "
        "artifact_uri) VALUES (?,?,?,?,?,?,?,'active',?)"));
    LATHE_RETURN_IF_ERROR(insert->Bind({info.run_id, info.run_name, info.experiment_id, info.user_id, info.status,
                                        info.start_time,
                                        info.end_time ? SqlValue(*info.end_time) : SqlValue(nullptr),
                                        info.artifact_uri})
                              .Run());
    for (const auto& tag : tags) LATHE_RETURN_IF_ERROR(UpsertTag(db, info.run_id, tag));
    return tx.Audit("run", info.run_id);
  });
}

Result<Run> SqliteStore::GetRun(const std::string& run_id) {
  return Read<Run>([&](SqliteConnection& db) -> Result<Run> {
    std::vector<Run> runs(1);
    LATHE_ASSIGN_OR_RETURN(runs[0].info, LoadRunInfo(db, run_id));
    LATHE_RETURN_IF_ERROR(LoadRunData(db, runs));
    return std::move(runs[0]);
  });
}

Result<RunInfo> SqliteStore::UpdateRun(const WriteContext& context, const std::string& run_id,
                                       const RunUpdate& update) {
  RunInfo updated;
  Status status = Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_ASSIGN_OR_RETURN(updated, LoadRunInfo(db, run_id));
    LATHE_RETURN_IF_ERROR(CheckRunActive(updated));
    if (update.status) updated.status = *update.status;
    if (update.end_time) updated.end_time = *update.end_time;
    if (update.run_name && !update.run_name->empty()) updated.run_name = *update.run_name;
    LATHE_ASSIGN_OR_RETURN(auto* write, db.Prepare(
        "UPDATE runs SET status = ?, end_time = ?, name = ? WHERE run_uuid = ?"));
    LATHE_RETURN_IF_ERROR(write->Bind({updated.status,
                                       updated.end_time ? SqlValue(*updated.end_time) : SqlValue(nullptr),
                                       updated.run_name, run_id})
                              .Run());
    if (update.run_name && !update.run_name->empty()) {
      LATHE_RETURN_IF_ERROR(UpsertTag(db, run_id, Tag{std::string(kRunNameTag), updated.run_name}));
    }
    return tx.Audit("run", run_id);
  });
  if (!status.ok()) return status;
  return updated;
}

Status SqliteStore::SetRunLifecycle(const WriteContext& context, const std::string& run_id, bool deleted) {
  return Write(context, [&](WriteTx& tx) -> Status {
    LATHE_ASSIGN_OR_RETURN(auto info, LoadRunInfo(tx.db(), run_id));
    LATHE_ASSIGN_OR_RETURN(auto* update, tx.db().Prepare(
        "UPDATE runs SET lifecycle_stage = ?1, deleted_time = CASE WHEN ?1 = 'deleted' THEN ?2 END WHERE run_uuid = ?3"));
    LATHE_RETURN_IF_ERROR(update->Bind({std::string(deleted ? "deleted" : "active"), NowMillis(), run_id}).Run());
    return tx.Audit("run", run_id);
  });
}

Status SqliteStore::LogBatch(const WriteContext& context, const std::string& run_id, const storage::LogBatch& batch) {
  return Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_ASSIGN_OR_RETURN(auto info, LoadRunInfo(db, run_id));
    LATHE_RETURN_IF_ERROR(CheckRunActive(info));
    if (!batch.params.empty()) {
      LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare("SELECT value FROM params WHERE run_uuid = ? AND key = ?"));
      LATHE_ASSIGN_OR_RETURN(auto* insert, db.Prepare("INSERT INTO params(run_uuid, key, value) VALUES (?,?,?)"));
      nlohmann::json conflicts = nlohmann::json::array();
      for (const auto& param : batch.params) {
        select->Bind({run_id, param.key});
        LATHE_ASSIGN_OR_RETURN(bool exists, select->Step());
        if (exists) {
          std::string old_value = select->Text(0);
          if (old_value != param.value) {
            conflicts.push_back({{"key", param.key}, {"old_value", old_value}, {"new_value", param.value}});
          }
          continue;
        }
        LATHE_RETURN_IF_ERROR(insert->Bind({run_id, param.key, param.value}).Run());
      }
      if (!conflicts.empty()) {
        return Status::InvalidParameter(fmt::format(
            "Changing param values is not allowed. Params were already logged='{}' for run ID='{}'.",
            DumpJson(conflicts), run_id));
      }
    }
    if (!batch.metrics.empty()) {
      LATHE_ASSIGN_OR_RETURN(auto* insert, db.Prepare(
          "INSERT OR IGNORE INTO metrics(run_uuid, key, value, timestamp, step, is_nan) VALUES (?,?,?,?,?,?)"));
      // MLflow's "latest" point is the greatest (step, timestamp, value).
      LATHE_ASSIGN_OR_RETURN(auto* latest, db.Prepare(
          "INSERT INTO latest_metrics(run_uuid, key, value, timestamp, step, is_nan) VALUES (?,?,?,?,?,?) "
          "ON CONFLICT(run_uuid, key) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp, "
          "step = excluded.step, is_nan = excluded.is_nan "
          "WHERE (excluded.step, excluded.timestamp, excluded.value) >= "
          "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"));
      // Only the greatest point of each key in the batch can become the latest: one upsert per key.
      std::unordered_map<std::string_view, const Metric*> newest;
      auto order = [](const Metric& m) { return std::make_tuple(m.step, m.timestamp, StoredValue(m.value)); };
      for (const auto& metric : batch.metrics) {
        int64_t is_nan = std::isnan(metric.value) ? 1 : 0;
        LATHE_RETURN_IF_ERROR(
            insert->Bind({run_id, metric.key, StoredValue(metric.value), metric.timestamp, metric.step, is_nan}).Run());
        auto [it, inserted] = newest.try_emplace(metric.key, &metric);
        if (!inserted && order(metric) >= order(*it->second)) it->second = &metric;
      }
      for (const auto& [key, metric] : newest) {
        int64_t is_nan = std::isnan(metric->value) ? 1 : 0;
        LATHE_RETURN_IF_ERROR(latest
                                  ->Bind({run_id, metric->key, StoredValue(metric->value), metric->timestamp,
                                          metric->step, is_nan})
                                  .Run());
      }
    }
    for (const auto& tag : batch.tags) {
      LATHE_RETURN_IF_ERROR(UpsertTag(db, run_id, tag));
      if (tag.key == kRunNameTag) {
        LATHE_ASSIGN_OR_RETURN(auto* rename, db.Prepare("UPDATE runs SET name = ? WHERE run_uuid = ?"));
        LATHE_RETURN_IF_ERROR(rename->Bind({tag.value, run_id}).Run());
      }
    }
    return tx.Audit("run", run_id);
  });
}

Status SqliteStore::DeleteTag(const WriteContext& context, const std::string& run_id, const std::string& key) {
  return Write(context, [&](WriteTx& tx) -> Status {
    LATHE_ASSIGN_OR_RETURN(auto info, LoadRunInfo(tx.db(), run_id));
    LATHE_RETURN_IF_ERROR(CheckRunActive(info));
    LATHE_ASSIGN_OR_RETURN(auto* remove, tx.db().Prepare("DELETE FROM tags WHERE run_uuid = ? AND key = ?"));
    LATHE_RETURN_IF_ERROR(remove->Bind({run_id, key}).Run());
    if (tx.db().Changes() == 0) {
      return Status::NotFound(fmt::format("No tag with name: {} in run with id {}", key, run_id));
    }
    return tx.Audit("run", run_id);
  });
}

Status SqliteStore::LogInputs(const WriteContext& context, const std::string& run_id,
                              const std::vector<DatasetInput>& inputs) {
  return Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_ASSIGN_OR_RETURN(auto info, LoadRunInfo(db, run_id));
    LATHE_RETURN_IF_ERROR(CheckRunActive(info));
    LATHE_ASSIGN_OR_RETURN(auto* find, db.Prepare(
        "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?"));
    LATHE_ASSIGN_OR_RETURN(auto* insert_dataset, db.Prepare(
        "INSERT INTO datasets(dataset_uuid, experiment_id, name, digest, source_type, source, schema, profile) "
        "VALUES (?,?,?,?,?,?,?,?)"));
    LATHE_ASSIGN_OR_RETURN(auto* link, db.Prepare(
        "INSERT OR IGNORE INTO run_inputs(run_uuid, dataset_uuid) VALUES (?,?)"));
    LATHE_ASSIGN_OR_RETURN(auto* tag, db.Prepare(
        "INSERT OR REPLACE INTO run_input_tags(run_uuid, dataset_uuid, key, value) VALUES (?,?,?,?)"));
    for (const auto& input : inputs) {
      const auto& dataset = input.dataset;
      find->Bind({info.experiment_id, dataset.name, dataset.digest});
      LATHE_ASSIGN_OR_RETURN(bool exists, find->Step());
      std::string dataset_uuid;
      if (exists) {
        dataset_uuid = find->Text(0);
      } else {
        dataset_uuid = NewUuidHex();
        auto optional_text = [](const std::optional<std::string>& v) { return v ? SqlValue(*v) : SqlValue(nullptr); };
        LATHE_RETURN_IF_ERROR(insert_dataset
                                  ->Bind({dataset_uuid, info.experiment_id, dataset.name, dataset.digest,
                                          dataset.source_type, dataset.source, optional_text(dataset.schema),
                                          optional_text(dataset.profile)})
                                  .Run());
      }
      LATHE_RETURN_IF_ERROR(link->Bind({run_id, dataset_uuid}).Run());
      for (const auto& input_tag : input.tags) {
        LATHE_RETURN_IF_ERROR(tag->Bind({run_id, dataset_uuid, input_tag.key, input_tag.value}).Run());
      }
    }
    return tx.Audit("run", run_id);
  });
}

Result<Page<Run>> SqliteStore::SearchRuns(const RunSearch& search) {
  RunSearch probe = search;
  probe.max_results = search.max_results + 1;
  LATHE_ASSIGN_OR_RETURN(auto query, BuildRunSearchSql(probe));
  return Read<Page<Run>>([&](SqliteConnection& db) -> Result<Page<Run>> {
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(query.sql));
    select->BindAll(query.bindings);
    std::vector<std::string> ids;
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      ids.push_back(select->Text(0));
    }
    Page<Run> page;
    page.has_more = static_cast<int64_t>(ids.size()) > search.max_results;
    if (page.has_more) ids.resize(search.max_results);
    page.items.resize(ids.size());
    // One query for the infos keeps the search's order by re-placing rows by their position.
    std::unordered_map<std::string, size_t> position;
    for (size_t i = 0; i < ids.size(); ++i) position[ids[i]] = i;
    LATHE_ASSIGN_OR_RETURN(auto* infos, db.Prepare(fmt::format(
        "SELECT {} FROM runs WHERE run_uuid IN (SELECT value FROM json_each(?))", kRunInfoColumns)));
    infos->Bind({JsonArray(ids)});
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, infos->Step());
      if (!row) break;
      RunInfo info = ReadRunInfo(*infos);
      page.items[position[info.run_id]].info = std::move(info);
    }
    LATHE_RETURN_IF_ERROR(LoadRunData(db, page.items));
    return page;
  });
}

Result<std::vector<Metric>> SqliteStore::GetMetricHistory(const std::string& run_id, const std::string& key) {
  return Read<std::vector<Metric>>([&](SqliteConnection& db) -> Result<std::vector<Metric>> {
    LATHE_RETURN_IF_ERROR(LoadRunInfo(db, run_id).status());
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(
        "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? AND key = ? "
        "ORDER BY step, timestamp, value"));
    select->Bind({run_id, key});
    std::vector<Metric> metrics;
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      metrics.push_back(ReadMetric(*select, 0));
    }
    return metrics;
  });
}

Result<std::vector<std::pair<std::string, Metric>>> SqliteStore::GetMetricHistoryBulkInterval(
    const std::vector<std::string>& run_ids, const std::string& key, std::optional<int64_t> start_step,
    std::optional<int64_t> end_step, int64_t max_results) {
  using Points = std::vector<std::pair<std::string, Metric>>;
  return Read<Points>([&](SqliteConnection& db) -> Result<Points> {
    Points out;
    LATHE_ASSIGN_OR_RETURN(auto* steps_query, db.Prepare(
        "SELECT DISTINCT step FROM metrics WHERE run_uuid = ? AND key = ? AND step BETWEEN ? AND ? ORDER BY step"));
    LATHE_ASSIGN_OR_RETURN(auto* points_query, db.Prepare(
        "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? AND key = ? "
        "AND step IN (SELECT value FROM json_each(?)) ORDER BY step, timestamp, value"));
    for (const auto& run_id : run_ids) {
      LATHE_RETURN_IF_ERROR(LoadRunInfo(db, run_id).status());
      steps_query->Bind({run_id, key, start_step.value_or(INT64_MIN), end_step.value_or(INT64_MAX)});
      std::vector<int64_t> steps;
      for (;;) {
        LATHE_ASSIGN_OR_RETURN(bool row, steps_query->Step());
        if (!row) break;
        steps.push_back(steps_query->Int64(0));
      }
      // Evenly spaced steps, always including the first and the last (MLflow's sampling).
      std::vector<int64_t> chosen;
      if (static_cast<int64_t>(steps.size()) <= max_results) {
        chosen = steps;
      } else if (max_results > 0) {
        std::set<int64_t> picked{steps.front(), steps.back()};
        double stride = static_cast<double>(steps.size() - 1) / static_cast<double>(std::max<int64_t>(1, max_results - 1));
        for (int64_t i = 0; i < max_results; ++i) {
          picked.insert(steps[std::min(steps.size() - 1, static_cast<size_t>(std::llround(i * stride)))]);
        }
        chosen.assign(picked.begin(), picked.end());
      }
      points_query->Bind({run_id, key, DumpJson(nlohmann::json(chosen))});
      for (;;) {
        LATHE_ASSIGN_OR_RETURN(bool row, points_query->Step());
        if (!row) break;
        out.emplace_back(run_id, ReadMetric(*points_query, 0));
      }
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Purge

Result<PurgeReport> SqliteStore::PurgeDeleted(const WriteContext& context, int64_t deleted_before, bool dry_run) {
  PurgeReport report;
  Status status = Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    report = PurgeReport{};
    LATHE_ASSIGN_OR_RETURN(auto* runs, db.Prepare(
        "SELECT r.run_uuid, r.artifact_uri, EXISTS (SELECT 1 FROM model_versions v WHERE v.run_id = r.run_uuid) "
        "FROM runs r WHERE r.lifecycle_stage = 'deleted' AND coalesce(r.deleted_time, 0) <= ? ORDER BY r.run_uuid"));
    runs->Bind({deleted_before});
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, runs->Step());
      if (!row) break;
      if (runs->Int64(2)) {
        report.kept_run_ids.push_back(runs->Text(0));
      } else {
        report.purged_run_ids.push_back(runs->Text(0));
        report.artifact_uris_to_delete.push_back(runs->Text(1));
      }
    }
    // An experiment goes once it has no run left: every one of its runs is purged now.
    LATHE_ASSIGN_OR_RETURN(auto* experiments, db.Prepare(
        "SELECT e.experiment_id FROM experiments e WHERE e.lifecycle_stage = 'deleted' "
        "AND coalesce(e.deleted_time, 0) <= ? AND e.experiment_id != 0 AND NOT EXISTS (SELECT 1 FROM runs r "
        "WHERE r.experiment_id = e.experiment_id AND r.run_uuid NOT IN (SELECT value FROM json_each(?))) "
        "ORDER BY e.experiment_id"));
    experiments->Bind({deleted_before, JsonArray(report.purged_run_ids)});
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, experiments->Step());
      if (!row) break;
      report.purged_experiment_ids.push_back(experiments->Int64(0));
    }
    if (dry_run) return Status::Ok();
    std::string run_list = JsonArray(report.purged_run_ids);
    // Child rows go by ON DELETE CASCADE.
    LATHE_ASSIGN_OR_RETURN(auto* delete_runs, db.Prepare(
        "DELETE FROM runs WHERE run_uuid IN (SELECT value FROM json_each(?))"));
    LATHE_RETURN_IF_ERROR(delete_runs->Bind({run_list}).Run());
    LATHE_ASSIGN_OR_RETURN(auto* delete_experiment, db.Prepare("DELETE FROM experiments WHERE experiment_id = ?"));
    for (int64_t id : report.purged_experiment_ids) {
      LATHE_RETURN_IF_ERROR(delete_experiment->Bind({id}).Run());
      LATHE_RETURN_IF_ERROR(tx.Audit("experiment", std::to_string(id)));
    }
    for (const auto& run_id : report.purged_run_ids) LATHE_RETURN_IF_ERROR(tx.Audit("run", run_id));
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return report;
}

}  // namespace lathe::storage
