// SqliteStore's model registry: registered models, versions, stages, tags, aliases and the
// history of every alias move.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>

#include <fmt/format.h>

#include "core/clock.h"
#include "storage/sqlite_search.h"
#include "storage/sqlite_store.h"

namespace lathe::storage {
namespace {

constexpr std::string_view kStages[] = {"None", "Staging", "Production", "Archived"};

Status ModelNotFound(const std::string& name) {
  return Status::NotFound(fmt::format("Registered Model with name={} not found", name));
}
Status VersionNotFound(const std::string& name, int64_t version) {
  return Status::NotFound(fmt::format("Model Version (name={}, version={}) not found", name, version));
}

constexpr std::string_view kVersionColumns =
    "name, version, creation_time, last_updated_time, description, user_id, current_stage, source, run_id, run_link, "
    "status, status_message, storage_location";

ModelVersion ReadVersion(SqliteStatement& row) {
  ModelVersion version;
  version.name = row.Text(0);
  version.version = row.Int64(1);
  version.creation_time = row.Int64(2);
  version.last_updated_time = row.Int64(3);
  version.description = row.Text(4);
  version.user_id = row.Text(5);
  version.current_stage = row.Text(6);
  version.source = row.Text(7);
  version.run_id = row.Text(8);
  version.run_link = row.Text(9);
  version.status = row.Text(10);
  version.status_message = row.Text(11);
  version.storage_location = row.Text(12);
  return version;
}

Status LoadVersionDetails(SqliteConnection& db, ModelVersion& version) {
  LATHE_ASSIGN_OR_RETURN(version.tags, LoadTags(db,
                                                "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ? "
                                                "ORDER BY key",
                                                {version.name, version.version}));
  LATHE_ASSIGN_OR_RETURN(auto* aliases, db.Prepare(
      "SELECT alias FROM registered_model_aliases WHERE name = ? AND version = ? ORDER BY alias"));
  aliases->Bind({version.name, version.version});
  version.aliases.clear();
  for (;;) {
    LATHE_ASSIGN_OR_RETURN(bool row, aliases->Step());
    if (!row) break;
    version.aliases.push_back(aliases->Text(0));
  }
  return Status::Ok();
}

Result<ModelVersion> LoadVersion(SqliteConnection& db, const std::string& name, int64_t version) {
  LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(fmt::format(
      "SELECT {} FROM model_versions WHERE name = ? AND version = ?", kVersionColumns)));
  select->Bind({name, version});
  LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
  if (!row) return VersionNotFound(name, version);
  ModelVersion loaded = ReadVersion(*select);
  LATHE_RETURN_IF_ERROR(LoadVersionDetails(db, loaded));
  return loaded;
}

// The newest version in each stage. The stages come in the order MLflow's dict of them fills up
// while it walks the versions in ascending order: by the oldest version of each stage.
Result<std::vector<ModelVersion>> LatestVersions(SqliteConnection& db, const std::string& name,
                                                 const std::vector<std::string>& stages) {
  LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(fmt::format(
      "SELECT {} FROM model_versions v WHERE name = ? AND version = (SELECT max(version) FROM model_versions w "
      "WHERE w.name = v.name AND w.current_stage = v.current_stage) "
      "ORDER BY (SELECT min(version) FROM model_versions w "
      "WHERE w.name = v.name AND w.current_stage = v.current_stage)",
      kVersionColumns)));
  select->Bind({name});
  std::vector<ModelVersion> latest;
  for (;;) {
    LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) break;
    ModelVersion version = ReadVersion(*select);
    bool wanted = stages.empty() || std::any_of(stages.begin(), stages.end(), [&](const std::string& stage) {
                    return stage == version.current_stage;
                  });
    if (wanted) latest.push_back(std::move(version));
  }
  for (auto& version : latest) LATHE_RETURN_IF_ERROR(LoadVersionDetails(db, version));
  return latest;
}

Result<RegisteredModel> LoadModel(SqliteConnection& db, const std::string& name) {
  LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(
      "SELECT name, creation_time, last_updated_time, description FROM registered_models WHERE name = ?"));
  select->Bind({name});
  LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
  if (!row) return ModelNotFound(name);
  RegisteredModel model;
  model.name = select->Text(0);
  model.creation_time = select->Int64(1);
  model.last_updated_time = select->Int64(2);
  model.description = select->Text(3);
  LATHE_ASSIGN_OR_RETURN(model.tags, LoadTags(db, "SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY key",
                                              {name}));
  LATHE_ASSIGN_OR_RETURN(auto* aliases, db.Prepare(
      "SELECT alias, version FROM registered_model_aliases WHERE name = ? ORDER BY alias"));
  aliases->Bind({name});
  for (;;) {
    LATHE_ASSIGN_OR_RETURN(bool alias_row, aliases->Step());
    if (!alias_row) break;
    model.aliases.emplace_back(aliases->Text(0), aliases->Int64(1));
  }
  LATHE_ASSIGN_OR_RETURN(model.latest_versions, LatestVersions(db, name, {}));
  return model;
}

Status RequireModel(SqliteConnection& db, const std::string& name) {
  LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare("SELECT 1 FROM registered_models WHERE name = ?"));
  select->Bind({name});
  LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
  return row ? Status::Ok() : ModelNotFound(name);
}

Status TouchModel(SqliteConnection& db, const std::string& name, int64_t now) {
  LATHE_ASSIGN_OR_RETURN(auto* update, db.Prepare("UPDATE registered_models SET last_updated_time = ? WHERE name = ?"));
  return update->Bind({now, name}).Run();
}

Status RecordAliasMove(WriteTx& tx, const std::string& name, const std::string& alias, std::optional<int64_t> from,
                       std::optional<int64_t> to) {
  LATHE_ASSIGN_OR_RETURN(auto* insert, tx.db().Prepare(
      "INSERT INTO alias_history(name, alias, from_version, to_version, actor, time, request_id) VALUES (?,?,?,?,?,?,?)"));
  auto optional = [](std::optional<int64_t> v) { return v ? SqlValue(*v) : SqlValue(nullptr); };
  return insert
      ->Bind({name, alias, optional(from), optional(to), tx.context().actor, NowMillis(), tx.context().request_id})
      .Run();
}

// Records the removal of every alias that points at `version` (all of the model when nullopt).
Status RecordAliasRemovals(WriteTx& tx, const std::string& name, std::optional<int64_t> version) {
  LATHE_ASSIGN_OR_RETURN(auto* select, tx.db().Prepare(
      "SELECT alias, version FROM registered_model_aliases WHERE name = ? AND (?2 IS NULL OR version = ?2)"));
  select->Bind({name, version ? SqlValue(*version) : SqlValue(nullptr)});
  std::vector<std::pair<std::string, int64_t>> removed;
  for (;;) {
    LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) break;
    removed.emplace_back(select->Text(0), select->Int64(1));
  }
  for (const auto& [alias, from] : removed) LATHE_RETURN_IF_ERROR(RecordAliasMove(tx, name, alias, from, std::nullopt));
  return Status::Ok();
}

// The files of a version registered from `models:/name/version` or `models:/name@alias` are the
// files of that version (MLflow's copy_model_version).
Result<std::string> ResolveStorageLocation(SqliteConnection& db, const std::string& source) {
  constexpr std::string_view kScheme = "models:/";
  if (!source.starts_with(kScheme)) return source;
  std::string_view rest = std::string_view(source).substr(kScheme.size());
  std::string name;
  int64_t version = 0;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    name = std::string(rest.substr(0, at));
    LATHE_ASSIGN_OR_RETURN(auto* alias, db.Prepare(
        "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?"));
    alias->Bind({name, std::string(rest.substr(at + 1))});
    LATHE_ASSIGN_OR_RETURN(bool row, alias->Step());
    if (!row) return Status::NotFound(fmt::format("Model version source '{}': no such alias", source));
    version = alias->Int64(0);
  } else {
    auto slash = rest.rfind('/');
    std::string_view number = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), version);
    if (slash == std::string_view::npos || number.empty() || error != std::errc() ||
        end != number.data() + number.size()) {
      return Status::InvalidParameter(fmt::format(
          "Invalid model version source '{}': expected models:/<name>/<version> or models:/<name>@<alias>", source));
    }
    name = std::string(rest.substr(0, slash));
  }
  LATHE_ASSIGN_OR_RETURN(auto original, LoadVersion(db, name, version));
  return original.storage_location.empty() ? original.source : original.storage_location;
}

// Stages are matched case-insensitively and stored in their canonical spelling, as MLflow does.
Result<std::string> CanonicalStage(const std::string& stage) {
  auto same_letters = [](unsigned char a, unsigned char b) { return std::tolower(a) == std::tolower(b); };
  for (std::string_view candidate : kStages) {
    if (std::equal(candidate.begin(), candidate.end(), stage.begin(), stage.end(), same_letters)) {
      return std::string(candidate);
    }
  }
  return Status::InvalidParameter(fmt::format(
      "Invalid Model Version stage: {}. Value must be one of None, Staging, Production, Archived.", stage));
}

}  // namespace

Result<RegisteredModel> SqliteStore::CreateRegisteredModel(const WriteContext& context, const std::string& name,
                                                           const std::string& description,
                                                           const std::vector<Tag>& tags) {
  RegisteredModel created;
  Status status = Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    int64_t now = NowMillis();
    LATHE_ASSIGN_OR_RETURN(auto* insert, db.Prepare(
        "INSERT INTO registered_models(name, creation_time, last_updated_time, description) VALUES (?,?,?,?)"));
    Status inserted = insert->Bind({name, now, now, description}).Run();
    if (!inserted.ok()) {
      if (inserted.message().find("UNIQUE") != std::string::npos) {
        return Status::AlreadyExists(fmt::format("Registered Model (name={}) already exists.", name));
      }
      return inserted;
    }
    LATHE_ASSIGN_OR_RETURN(auto* tag, db.Prepare(
        "INSERT OR REPLACE INTO registered_model_tags(name, key, value) VALUES (?,?,?)"));
    for (const auto& t : tags) LATHE_RETURN_IF_ERROR(tag->Bind({name, t.key, t.value}).Run());
    LATHE_ASSIGN_OR_RETURN(created, LoadModel(db, name));
    return tx.Audit("registered_model", name);
  });
  if (!status.ok()) return status;
  return created;
}

Result<RegisteredModel> SqliteStore::GetRegisteredModel(const std::string& name) {
  return Read<RegisteredModel>([&](SqliteConnection& db) { return LoadModel(db, name); });
}

Result<RegisteredModel> SqliteStore::RenameRegisteredModel(const WriteContext& context, const std::string& name,
                                                           const std::string& new_name) {
  RegisteredModel renamed;
  Status status = Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_RETURN_IF_ERROR(RequireModel(db, name));
    // Child rows follow through ON UPDATE CASCADE; alias history keeps the names it was written with.
    int64_t now = NowMillis();
    LATHE_ASSIGN_OR_RETURN(auto* update, db.Prepare(
        "UPDATE registered_models SET name = ?, last_updated_time = ? WHERE name = ?"));
    Status updated = update->Bind({new_name, now, name}).Run();
    if (!updated.ok() && updated.message().find("UNIQUE") != std::string::npos) {
      return Status::AlreadyExists(fmt::format("Registered Model (name={}) already exists.", new_name));
    }
    LATHE_RETURN_IF_ERROR(updated);
    // MLflow rewrites every version's name on a rename, and so bumps their update times too.
    LATHE_ASSIGN_OR_RETURN(auto* touch_versions, db.Prepare(
        "UPDATE model_versions SET last_updated_time = ? WHERE name = ?"));
    LATHE_RETURN_IF_ERROR(touch_versions->Bind({now, new_name}).Run());
    LATHE_ASSIGN_OR_RETURN(renamed, LoadModel(db, new_name));
    return tx.Audit("registered_model", name + " -> " + new_name);
  });
  if (!status.ok()) return status;
  return renamed;
}

Result<RegisteredModel> SqliteStore::UpdateRegisteredModel(const WriteContext& context, const std::string& name,
                                                           const std::string& description) {
  RegisteredModel updated;
  Status status = Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_RETURN_IF_ERROR(RequireModel(db, name));
    LATHE_ASSIGN_OR_RETURN(auto* update, db.Prepare(
        "UPDATE registered_models SET description = ?, last_updated_time = ? WHERE name = ?"));
    LATHE_RETURN_IF_ERROR(update->Bind({description, NowMillis(), name}).Run());
    LATHE_ASSIGN_OR_RETURN(updated, LoadModel(db, name));
    return tx.Audit("registered_model", name);
  });
  if (!status.ok()) return status;
  return updated;
}

Status SqliteStore::DeleteRegisteredModel(const WriteContext& context, const std::string& name) {
  return Write(context, [&](WriteTx& tx) -> Status {
    LATHE_RETURN_IF_ERROR(RequireModel(tx.db(), name));
    LATHE_RETURN_IF_ERROR(RecordAliasRemovals(tx, name, std::nullopt));
    LATHE_ASSIGN_OR_RETURN(auto* remove, tx.db().Prepare("DELETE FROM registered_models WHERE name = ?"));
    LATHE_RETURN_IF_ERROR(remove->Bind({name}).Run());
    return tx.Audit("registered_model", name);
  });
}

Result<Page<RegisteredModel>> SqliteStore::SearchRegisteredModels(const RegisteredModelSearch& search) {
  RegisteredModelSearch probe = search;
  probe.max_results = search.max_results + 1;
  LATHE_ASSIGN_OR_RETURN(auto query, BuildRegisteredModelSearchSql(probe));
  return Read<Page<RegisteredModel>>([&](SqliteConnection& db) -> Result<Page<RegisteredModel>> {
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(query.sql));
    select->BindAll(query.bindings);
    std::vector<std::string> names;
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      names.push_back(select->Text(0));
    }
    Page<RegisteredModel> page;
    page.has_more = static_cast<int64_t>(names.size()) > search.max_results;
    if (page.has_more) names.resize(search.max_results);
    for (const auto& name : names) {
      LATHE_ASSIGN_OR_RETURN(auto model, LoadModel(db, name));
      page.items.push_back(std::move(model));
    }
    return page;
  });
}

Result<std::vector<ModelVersion>> SqliteStore::GetLatestVersions(const std::string& name,
                                                                 const std::vector<std::string>& stages) {
  std::vector<std::string> canonical;
  for (const auto& stage : stages) {
    LATHE_ASSIGN_OR_RETURN(auto parsed, CanonicalStage(stage));
    canonical.push_back(std::move(parsed));
  }
  return Read<std::vector<ModelVersion>>([&](SqliteConnection& db) -> Result<std::vector<ModelVersion>> {
    LATHE_RETURN_IF_ERROR(RequireModel(db, name));
    return LatestVersions(db, name, canonical);
  });
}

Status SqliteStore::SetRegisteredModelTag(const WriteContext& context, const std::string& name, const Tag& tag) {
  return Write(context, [&](WriteTx& tx) -> Status {
    LATHE_RETURN_IF_ERROR(RequireModel(tx.db(), name));
    LATHE_ASSIGN_OR_RETURN(auto* upsert, tx.db().Prepare(
        "INSERT INTO registered_model_tags(name, key, value) VALUES (?,?,?) "
        "ON CONFLICT(name, key) DO UPDATE SET value = excluded.value"));
    LATHE_RETURN_IF_ERROR(upsert->Bind({name, tag.key, tag.value}).Run());
    return tx.Audit("registered_model", name);
  });
}

Status SqliteStore::DeleteRegisteredModelTag(const WriteContext& context, const std::string& name,
                                             const std::string& key) {
  return Write(context, [&](WriteTx& tx) -> Status {
    LATHE_RETURN_IF_ERROR(RequireModel(tx.db(), name));
    LATHE_ASSIGN_OR_RETURN(auto* remove, tx.db().Prepare("DELETE FROM registered_model_tags WHERE name = ? AND key = ?"));
    // Deleting a tag that is not there succeeds, as in MLflow.
    LATHE_RETURN_IF_ERROR(remove->Bind({name, key}).Run());
    return tx.Audit("registered_model", name);
  });
}

Status SqliteStore::SetAlias(const WriteContext& context, const std::string& name, const std::string& alias,
                             int64_t version) {
  return Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_RETURN_IF_ERROR(RequireModel(db, name));
    LATHE_RETURN_IF_ERROR(LoadVersion(db, name, version).status());
    LATHE_ASSIGN_OR_RETURN(auto* current, db.Prepare(
        "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?"));
    current->Bind({name, alias});
    LATHE_ASSIGN_OR_RETURN(bool exists, current->Step());
    std::optional<int64_t> from = exists ? std::optional(current->Int64(0)) : std::nullopt;
    LATHE_ASSIGN_OR_RETURN(auto* upsert, db.Prepare(
        "INSERT INTO registered_model_aliases(name, alias, version) VALUES (?,?,?) "
        "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version"));
    LATHE_RETURN_IF_ERROR(upsert->Bind({name, alias, version}).Run());
    if (from != version) LATHE_RETURN_IF_ERROR(RecordAliasMove(tx, name, alias, from, version));
    // Like MLflow, an alias move leaves the model's last_updated_time alone.
    return tx.Audit("registered_model", fmt::format("{}@{}", name, alias));
  });
}

Status SqliteStore::DeleteAlias(const WriteContext& context, const std::string& name, const std::string& alias) {
  return Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_RETURN_IF_ERROR(RequireModel(db, name));
    LATHE_ASSIGN_OR_RETURN(auto* current, db.Prepare(
        "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?"));
    current->Bind({name, alias});
    LATHE_ASSIGN_OR_RETURN(bool exists, current->Step());
    // Deleting an alias that is not there succeeds, as in MLflow; there is no move to record.
    if (exists) {
      int64_t from = current->Int64(0);
      LATHE_ASSIGN_OR_RETURN(auto* remove, db.Prepare(
          "DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?"));
      LATHE_RETURN_IF_ERROR(remove->Bind({name, alias}).Run());
      LATHE_RETURN_IF_ERROR(RecordAliasMove(tx, name, alias, from, std::nullopt));
    }
    return tx.Audit("registered_model", fmt::format("{}@{}", name, alias));
  });
}

Result<ModelVersion> SqliteStore::GetModelVersionByAlias(const std::string& name, const std::string& alias) {
  return Read<ModelVersion>([&](SqliteConnection& db) -> Result<ModelVersion> {
    LATHE_RETURN_IF_ERROR(RequireModel(db, name));
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(
        "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?"));
    select->Bind({name, alias});
    LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) return Status::NotFound(fmt::format("Registered model alias {} not found.", alias));
    return LoadVersion(db, name, select->Int64(0));
  });
}

Result<std::vector<AliasMove>> SqliteStore::GetAliasHistory(const std::string& name, int64_t after_id, int64_t limit) {
  return Read<std::vector<AliasMove>>([&](SqliteConnection& db) -> Result<std::vector<AliasMove>> {
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(
        "SELECT id, name, alias, from_version, to_version, actor, time, request_id FROM alias_history "
        "WHERE id > ? AND (? = '' OR name = ?) ORDER BY id LIMIT ?"));
    select->Bind({after_id, name, name, limit});
    std::vector<AliasMove> moves;
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      moves.push_back(AliasMove{select->Int64(0), select->Text(1), select->Text(2), select->OptionalInt64(3),
                                select->OptionalInt64(4), select->Text(5), select->Int64(6), select->Text(7)});
    }
    return moves;
  });
}

Result<ModelVersion> SqliteStore::CreateModelVersion(const WriteContext& context, const ModelVersionCreate& create) {
  ModelVersion created;
  Status status = Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_RETURN_IF_ERROR(RequireModel(db, create.name));
    LATHE_ASSIGN_OR_RETURN(auto storage_location, ResolveStorageLocation(db, create.source));
    int64_t now = NowMillis();
    LATHE_ASSIGN_OR_RETURN(auto* bump, db.Prepare(
        "UPDATE registered_models SET last_version = last_version + 1, last_updated_time = ? WHERE name = ? "
        "RETURNING last_version"));
    bump->Bind({now, create.name});
    LATHE_ASSIGN_OR_RETURN(bool row, bump->Step());
    if (!row) return ModelNotFound(create.name);
    int64_t version = bump->Int64(0);
    LATHE_RETURN_IF_ERROR(bump->Step().status());  // finish the statement before the next write
    LATHE_ASSIGN_OR_RETURN(auto* insert, db.Prepare(
        "INSERT INTO model_versions(name, version, creation_time, last_updated_time, description, user_id, "
        "current_stage, source, run_id, run_link, status, status_message, storage_location) "
        "VALUES (?,?,?,?,?,?,'None',?,?,?,'READY','',?)"));
    LATHE_RETURN_IF_ERROR(insert
                              ->Bind({create.name, version, now, now, create.description, create.user_id,
                                      create.source, create.run_id, create.run_link, storage_location})
                              .Run());
    LATHE_ASSIGN_OR_RETURN(auto* tag, db.Prepare(
        "INSERT OR REPLACE INTO model_version_tags(name, version, key, value) VALUES (?,?,?,?)"));
    for (const auto& t : create.tags) LATHE_RETURN_IF_ERROR(tag->Bind({create.name, version, t.key, t.value}).Run());
    LATHE_ASSIGN_OR_RETURN(created, LoadVersion(db, create.name, version));
    return tx.Audit("model_version", fmt::format("{}/{}", create.name, version));
  });
  if (!status.ok()) return status;
  return created;
}

Result<ModelVersion> SqliteStore::GetModelVersion(const std::string& name, int64_t version) {
  return Read<ModelVersion>([&](SqliteConnection& db) { return LoadVersion(db, name, version); });
}

Result<ModelVersion> SqliteStore::UpdateModelVersion(const WriteContext& context, const std::string& name,
                                                     int64_t version, const std::string& description) {
  ModelVersion updated;
  Status status = Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_RETURN_IF_ERROR(LoadVersion(db, name, version).status());
    LATHE_ASSIGN_OR_RETURN(auto* update, db.Prepare(
        "UPDATE model_versions SET description = ?, last_updated_time = ? WHERE name = ? AND version = ?"));
    LATHE_RETURN_IF_ERROR(update->Bind({description, NowMillis(), name, version}).Run());
    LATHE_ASSIGN_OR_RETURN(updated, LoadVersion(db, name, version));
    return tx.Audit("model_version", fmt::format("{}/{}", name, version));
  });
  if (!status.ok()) return status;
  return updated;
}

Status SqliteStore::DeleteModelVersion(const WriteContext& context, const std::string& name, int64_t version) {
  return Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_RETURN_IF_ERROR(LoadVersion(db, name, version).status());
    LATHE_RETURN_IF_ERROR(RecordAliasRemovals(tx, name, version));
    LATHE_ASSIGN_OR_RETURN(auto* aliases, db.Prepare(
        "DELETE FROM registered_model_aliases WHERE name = ? AND version = ?"));
    LATHE_RETURN_IF_ERROR(aliases->Bind({name, version}).Run());
    LATHE_ASSIGN_OR_RETURN(auto* remove, db.Prepare("DELETE FROM model_versions WHERE name = ? AND version = ?"));
    LATHE_RETURN_IF_ERROR(remove->Bind({name, version}).Run());
    LATHE_RETURN_IF_ERROR(TouchModel(db, name, NowMillis()));
    return tx.Audit("model_version", fmt::format("{}/{}", name, version));
  });
}

Result<Page<ModelVersion>> SqliteStore::SearchModelVersions(const ModelVersionSearch& search) {
  ModelVersionSearch probe = search;
  probe.max_results = search.max_results + 1;
  LATHE_ASSIGN_OR_RETURN(auto query, BuildModelVersionSearchSql(probe));
  return Read<Page<ModelVersion>>([&](SqliteConnection& db) -> Result<Page<ModelVersion>> {
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(query.sql));
    select->BindAll(query.bindings);
    std::vector<std::pair<std::string, int64_t>> keys;
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      keys.emplace_back(select->Text(0), select->Int64(1));
    }
    Page<ModelVersion> page;
    page.has_more = static_cast<int64_t>(keys.size()) > search.max_results;
    if (page.has_more) keys.resize(search.max_results);
    for (const auto& [name, version] : keys) {
      LATHE_ASSIGN_OR_RETURN(auto loaded, LoadVersion(db, name, version));
      page.items.push_back(std::move(loaded));
    }
    return page;
  });
}

Result<ModelVersion> SqliteStore::TransitionModelVersionStage(const WriteContext& context, const std::string& name,
                                                              int64_t version, const std::string& stage,
                                                              bool archive_existing_versions) {
  LATHE_ASSIGN_OR_RETURN(auto canonical, CanonicalStage(stage));
  if (archive_existing_versions && canonical != "Staging" && canonical != "Production") {
    return Status::InvalidParameter(fmt::format(
        "Model version transition cannot archive existing model versions because '{}' is not an Active stage. "
        "Valid stages are ['Staging', 'Production']",
        stage));
  }
  ModelVersion updated;
  Status status = Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_RETURN_IF_ERROR(LoadVersion(db, name, version).status());
    int64_t now = NowMillis();
    if (archive_existing_versions) {
      LATHE_ASSIGN_OR_RETURN(auto* archive, db.Prepare(
          "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = ? "
          "WHERE name = ? AND current_stage = ? AND version != ?"));
      LATHE_RETURN_IF_ERROR(archive->Bind({now, name, canonical, version}).Run());
    }
    LATHE_ASSIGN_OR_RETURN(auto* update, db.Prepare(
        "UPDATE model_versions SET current_stage = ?, last_updated_time = ? WHERE name = ? AND version = ?"));
    LATHE_RETURN_IF_ERROR(update->Bind({canonical, now, name, version}).Run());
    LATHE_RETURN_IF_ERROR(TouchModel(db, name, now));
    LATHE_ASSIGN_OR_RETURN(updated, LoadVersion(db, name, version));
    return tx.Audit("model_version", fmt::format("{}/{}", name, version));
  });
  if (!status.ok()) return status;
  return updated;
}

Status SqliteStore::SetModelVersionTag(const WriteContext& context, const std::string& name, int64_t version,
                                       const Tag& tag) {
  return Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_RETURN_IF_ERROR(LoadVersion(db, name, version).status());
    LATHE_ASSIGN_OR_RETURN(auto* upsert, db.Prepare(
        "INSERT INTO model_version_tags(name, version, key, value) VALUES (?,?,?,?) "
        "ON CONFLICT(name, version, key) DO UPDATE SET value = excluded.value"));
    LATHE_RETURN_IF_ERROR(upsert->Bind({name, version, tag.key, tag.value}).Run());
    return tx.Audit("model_version", fmt::format("{}/{}", name, version));
  });
}

Status SqliteStore::DeleteModelVersionTag(const WriteContext& context, const std::string& name, int64_t version,
                                          const std::string& key) {
  return Write(context, [&](WriteTx& tx) -> Status {
    auto& db = tx.db();
    LATHE_RETURN_IF_ERROR(LoadVersion(db, name, version).status());
    LATHE_ASSIGN_OR_RETURN(auto* remove, db.Prepare(
        "DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?"));
    // Deleting a tag that is not there succeeds, as in MLflow.
    LATHE_RETURN_IF_ERROR(remove->Bind({name, version, key}).Run());
    return tx.Audit("model_version", fmt::format("{}/{}", name, version));
  });
}

}  // namespace lathe::storage
