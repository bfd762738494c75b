// Applies the numbered schema migrations; version 1 is src/storage/schema.sql, embedded at build time.
#include "storage/migrations.h"

#include <fmt/format.h>

#include "storage/schema_sql.h"

namespace lathe::storage {
namespace {

// Version 2: the feature store's applied repository versions.
constexpr const char* kFeatureRepoVersionsSql = R"sql(
CREATE TABLE feature_repo_versions (
  version INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  definition TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  actor TEXT NOT NULL
);
)sql";

// Version 3: monitoring. Evaluation results as time series, the lease that lets one replica evaluate
// a monitor at a time, fired alerts with their action deliveries, and reference data per deployment.
constexpr const char* kMonitoringSql = R"sql(
CREATE TABLE monitor_results (
  monitor TEXT NOT NULL,
  window_start INTEGER NOT NULL,
  window_end INTEGER NOT NULL,
  evaluated_at INTEGER NOT NULL,
  status TEXT NOT NULL,
  metrics TEXT NOT NULL,
  result TEXT NOT NULL,
  PRIMARY KEY (monitor, window_start, window_end)
);
CREATE TABLE monitor_leases (
  monitor TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE monitor_alerts (
  id TEXT PRIMARY KEY,
  monitor TEXT NOT NULL,
  rule TEXT NOT NULL,
  fired_at INTEGER NOT NULL,
  window_start INTEGER NOT NULL,
  window_end INTEGER NOT NULL,
  metric TEXT NOT NULL,
  value REAL,
  threshold REAL,
  actions TEXT NOT NULL,
  deliveries TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX monitor_alerts_by_rule ON monitor_alerts(monitor, rule, fired_at);
CREATE TABLE monitor_references (
  deployment TEXT NOT NULL,
  version INTEGER NOT NULL,
  path TEXT NOT NULL,
  source TEXT NOT NULL,
  rows INTEGER NOT NULL,
  kinds TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  PRIMARY KEY (deployment, version)
);
)sql";

}  // namespace

Status ApplyMigrations(SqliteConnection& db) {
  LATHE_RETURN_IF_ERROR(db.Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
  LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare("SELECT max(version) FROM schema_version"));
  LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
  int current = row && !select->IsNull(0) ? static_cast<int>(select->Int64(0)) : 0;
  // A statement left mid-result keeps its read snapshot, and a write transaction begun on a stale
  // snapshot fails at once with SQLITE_BUSY once another connection (another process) has written.
  select->Reset();
  if (current > kSchemaVersion) {
    return Status::InvalidState(fmt::format(
        "the database has schema version {}, newer than this lathe's {}: upgrade lathe", current, kSchemaVersion));
  }
  if (current == kSchemaVersion) return Status::Ok();
  // Later versions append their migration here, each moving the schema one version forward.
  static const char* const kMigrations[] = {kSchemaV1Sql, kFeatureRepoVersionsSql, kMonitoringSql};
  LATHE_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  for (int version = current + 1; version <= kSchemaVersion; ++version) {
    Status applied = db.Exec(kMigrations[version - 1]);
    if (applied.ok()) applied = db.Exec(fmt::format("INSERT INTO schema_version(version) VALUES ({})", version));
    if (!applied.ok()) {
      (void)db.Exec("ROLLBACK");
      return applied;
    }
  }
  return db.Exec("COMMIT");
}

}  // namespace lathe::storage
