-- Lathe metadata schema, version 1. Applied by storage/migrations.cc; never edited once released:
-- later versions add migrations instead.
CREATE TABLE experiments (
  experiment_id     INTEGER PRIMARY KEY,
  name              TEXT NOT NULL UNIQUE,
  artifact_location TEXT NOT NULL,
  lifecycle_stage   TEXT NOT NULL DEFAULT 'active',   -- 'active' | 'deleted'
  creation_time     INTEGER NOT NULL,
  last_update_time  INTEGER NOT NULL,
  deleted_time      INTEGER                          -- set while lifecycle_stage = 'deleted'
);
CREATE TABLE experiment_tags (
  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
  key           TEXT NOT NULL,
  value         TEXT NOT NULL,
  PRIMARY KEY (experiment_id, key)
);
CREATE TABLE runs (
  run_uuid        TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  experiment_id   INTEGER NOT NULL REFERENCES experiments(experiment_id),
  user_id         TEXT NOT NULL DEFAULT '',
  status          TEXT NOT NULL,                     -- RUNNING | SCHEDULED | FINISHED | FAILED | KILLED
  start_time      INTEGER NOT NULL,
  end_time        INTEGER,
  lifecycle_stage TEXT NOT NULL DEFAULT 'active',
  artifact_uri    TEXT NOT NULL,
  deleted_time    INTEGER
);
CREATE INDEX runs_by_experiment ON runs(experiment_id, start_time DESC);
CREATE TABLE params (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,
  key      TEXT NOT NULL,
  value    TEXT NOT NULL,
  PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX params_by_key ON params(key, value);
CREATE TABLE tags (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,
  key      TEXT NOT NULL,
  value    TEXT NOT NULL,
  PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
-- Full metric history; NaN is stored as value 0 with is_nan = 1 because SQLite turns NaN into NULL.
-- As in MLflow, a point logged twice is stored once; the key doubles as the history's order, so
-- each point costs one b-tree insert.
CREATE TABLE metrics (
  run_uuid  TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,
  key       TEXT NOT NULL,
  step      INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  value     REAL NOT NULL,
  is_nan    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan)
) WITHOUT ROWID;
-- The latest point of each (run, key) by (step, timestamp, value), as MLflow defines "latest":
-- what run search filters and sorts on.
CREATE TABLE latest_metrics (
  run_uuid  TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,
  key       TEXT NOT NULL,
  value     REAL NOT NULL,
  timestamp INTEGER NOT NULL,
  step      INTEGER NOT NULL,
  is_nan    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX latest_metrics_by_key ON latest_metrics(key, value);
CREATE TABLE datasets (
  dataset_uuid  TEXT PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  digest        TEXT NOT NULL,
  source_type   TEXT NOT NULL,
  source        TEXT NOT NULL,
  schema        TEXT,
  profile       TEXT,
  UNIQUE (experiment_id, name, digest)
);
CREATE TABLE run_inputs (
  run_uuid     TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,
  dataset_uuid TEXT NOT NULL REFERENCES datasets(dataset_uuid) ON DELETE CASCADE,
  PRIMARY KEY (run_uuid, dataset_uuid)
) WITHOUT ROWID;
CREATE TABLE run_input_tags (
  run_uuid     TEXT NOT NULL,
  dataset_uuid TEXT NOT NULL,
  key          TEXT NOT NULL,
  value        TEXT NOT NULL,
  PRIMARY KEY (run_uuid, dataset_uuid, key),
  FOREIGN KEY (run_uuid, dataset_uuid) REFERENCES run_inputs(run_uuid, dataset_uuid) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE registered_models (
  name              TEXT PRIMARY KEY,
  creation_time     INTEGER NOT NULL,
  last_updated_time INTEGER NOT NULL,
  description       TEXT NOT NULL DEFAULT '',
  last_version      INTEGER NOT NULL DEFAULT 0         -- versions are never renumbered or reused
);
CREATE TABLE registered_model_tags (
  name  TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE ON UPDATE CASCADE,
  key   TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (name, key)
) WITHOUT ROWID;
CREATE TABLE model_versions (
  name              TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE ON UPDATE CASCADE,
  version           INTEGER NOT NULL,
  creation_time     INTEGER NOT NULL,
  last_updated_time INTEGER NOT NULL,
  description       TEXT NOT NULL DEFAULT '',
  user_id           TEXT NOT NULL DEFAULT '',
  current_stage     TEXT NOT NULL DEFAULT 'None',
  source            TEXT NOT NULL,
  run_id            TEXT NOT NULL DEFAULT '',
  run_link          TEXT NOT NULL DEFAULT '',
  status            TEXT NOT NULL DEFAULT 'READY',
  status_message    TEXT NOT NULL DEFAULT '',
  storage_location  TEXT NOT NULL DEFAULT '',       -- where the files are: the source, or what a models:/ source resolved to
  PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_by_run ON model_versions(run_id);
CREATE TABLE model_version_tags (
  name    TEXT NOT NULL,
  version INTEGER NOT NULL,
  key     TEXT NOT NULL,
  value   TEXT NOT NULL,
  PRIMARY KEY (name, version, key),
  FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON DELETE CASCADE ON UPDATE CASCADE
) WITHOUT ROWID;
CREATE TABLE registered_model_aliases (
  name    TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE ON UPDATE CASCADE,
  alias   TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (name, alias)
) WITHOUT ROWID;
-- Every alias move, kept after the model is renamed or deleted, so that a rollback (and serving in
-- any replica) can find what an alias pointed to before.
CREATE TABLE alias_history (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  name         TEXT NOT NULL,
  alias        TEXT NOT NULL,
  from_version INTEGER,                              -- NULL when the alias is new
  to_version   INTEGER,                              -- NULL when the alias was deleted
  actor        TEXT NOT NULL,
  time         INTEGER NOT NULL,
  request_id   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alias_history_by_model ON alias_history(name, alias, id);
CREATE TABLE audit_log (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  time        INTEGER NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,                         -- e.g. runs/create, registered-models/alias
  object_type TEXT NOT NULL,
  object_id   TEXT NOT NULL,
  request_id  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_time ON audit_log(time);
