// The metadata store: experiments, runs and their data, the model registry, alias history and the
// audit log. One interface; SQLite today, PostgreSQL later, both held to tests/storage.
//
// Contract for every method: thread-safe; a write returns only once it is committed (durable
// against a process crash, and against power loss under Durability::kFull); failures are Status
// values with MLflow's error codes and messages, never exceptions.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "storage/search.h"

namespace lathe::storage {

struct Tag {
  std::string key;
  std::string value;
};

struct Experiment {
  int64_t experiment_id = 0;
  std::string name;
  std::string artifact_location;
  std::string lifecycle_stage = "active";
  int64_t creation_time = 0;
  int64_t last_update_time = 0;
  std::vector<Tag> tags;
};

struct RunInfo {
  std::string run_id;
  std::string run_name;
  int64_t experiment_id = 0;
  std::string user_id;
  std::string status = "RUNNING";
  int64_t start_time = 0;
  std::optional<int64_t> end_time;
  std::string artifact_uri;
  std::string lifecycle_stage = "active";
};

struct Metric {
  std::string key;
  double value = 0;  // may be NaN or +-infinity
  int64_t timestamp = 0;
  int64_t step = 0;
};

struct Param {
  std::string key;
  std::string value;
};

struct Dataset {
  std::string name;
  std::string digest;
  std::string source_type;
  std::string source;
  std::optional<std::string> schema;
  std::optional<std::string> profile;
};

struct DatasetInput {
  Dataset dataset;
  std::vector<Tag> tags;
};

struct Run {
  RunInfo info;
  std::vector<Metric> metrics;  // the latest point of each key
  std::vector<Param> params;
  std::vector<Tag> tags;
  std::vector<DatasetInput> inputs;
};

struct ModelVersion {
  std::string name;
  int64_t version = 0;
  int64_t creation_time = 0;
  int64_t last_updated_time = 0;
  std::string description;
  std::string user_id;
  std::string current_stage = "None";
  std::string source;
  std::string run_id;
  std::string run_link;
  std::string status = "READY";
  std::string status_message;
  // Where the model's files are: the source itself, or for a copy registered from a
  // `models:/name/version` source, that version's location at the time of the copy.
  std::string storage_location;
  std::vector<Tag> tags;
  std::vector<std::string> aliases;
};

struct RegisteredModel {
  std::string name;
  int64_t creation_time = 0;
  int64_t last_updated_time = 0;
  std::string description;
  std::vector<Tag> tags;
  std::vector<std::pair<std::string, int64_t>> aliases;  // alias -> version
  std::vector<ModelVersion> latest_versions;             // the newest version in each stage
};

struct AliasMove {
  int64_t id = 0;
  std::string name;
  std::string alias;
  std::optional<int64_t> from_version;
  std::optional<int64_t> to_version;
  std::string actor;
  int64_t time = 0;
  std::string request_id;
};

struct AuditEntry {
  int64_t id = 0;
  int64_t time = 0;
  std::string actor;
  std::string action;
  std::string object_type;
  std::string object_id;
  std::string request_id;
};

struct AuditQuery {
  std::optional<std::string> actor;
  std::optional<std::string> action;       // exact, e.g. "runs/delete"
  std::optional<std::string> object_id;
  std::optional<int64_t> since;            // ms since the epoch, inclusive
  int64_t limit = 100;
};

// Who is writing: every write lands in the audit log with these.
struct WriteContext {
  std::string actor = "anonymous";
  std::string request_id;
  std::string action;  // the audit action name, e.g. "experiments/create"
};

template <typename T>
struct Page {
  std::vector<T> items;
  bool has_more = false;  // another page follows at offset + items.size()
};

struct RunUpdate {
  std::optional<std::string> status;
  std::optional<int64_t> end_time;
  std::optional<std::string> run_name;
};

struct LogBatch {
  std::vector<Metric> metrics;
  std::vector<Param> params;
  std::vector<Tag> tags;
};

struct ModelVersionCreate {
  std::string name;
  std::string source;
  std::string run_id;
  std::string run_link;
  std::string description;
  std::string user_id;
  std::vector<Tag> tags;
};

// What a purge of deleted objects removed, and what it kept because a model version refers to it.
struct PurgeReport {
  std::vector<std::string> purged_run_ids;
  std::vector<int64_t> purged_experiment_ids;
  std::vector<std::string> kept_run_ids;  // deleted, but a registered model version references them
  std::vector<std::string> artifact_uris_to_delete;  // of the purged runs; the caller removes them
};

// One applied version of the feature repository (see src/features): its canonical JSON and hash.
struct FeatureRepoVersion {
  int64_t version = 0;
  std::string hash;
  std::string definition;
  int64_t created_at = 0;
  std::string actor;
};

// Monitoring (see src/monitoring): one evaluation of a monitor over a window, as stored.
struct MonitorResult {
  std::string monitor;
  int64_t window_start = 0;  // ms, inclusive
  int64_t window_end = 0;    // ms, exclusive
  int64_t evaluated_at = 0;
  std::string status;        // "ok", "no_data" or "error"
  std::string metrics;       // JSON object of metric name -> number
  std::string result;        // JSON of the whole evaluation
};

struct MonitorAlert {
  std::string id;
  std::string monitor;
  std::string rule;
  int64_t fired_at = 0;
  int64_t window_start = 0;
  int64_t window_end = 0;
  std::string metric;
  double value = 0;
  double threshold = 0;
  std::string actions;     // JSON array of the action names
  std::string deliveries;  // JSON array of delivery records, appended as they finish
};

struct MonitorReference {
  std::string deployment;
  int64_t version = 0;
  std::string path;    // the data, as Parquet, inside the data directory
  std::string source;  // where it came from (a file, or runs:/<id> for a run's training dataset)
  int64_t rows = 0;
  std::string kinds;   // JSON object of column -> "numerical", "categorical", "text" or "datetime"
  int64_t created_at = 0;
  std::string actor;
};

enum class Durability { kProcessCrash, kFull };

class Store {
 public:
  virtual ~Store() = default;

  // Experiments. `artifact_location_for(id)` gives the location when the caller supplied none.
  virtual Result<int64_t> CreateExperiment(const WriteContext& context, const std::string& name,
                                           const std::string& artifact_location,
                                           const std::function<std::string(int64_t)>& artifact_location_for,
                                           const std::vector<Tag>& tags) = 0;
  virtual Result<Experiment> GetExperiment(int64_t experiment_id) = 0;
  virtual Result<Experiment> GetExperimentByName(const std::string& name) = 0;
  virtual Result<Page<Experiment>> SearchExperiments(const ExperimentSearch& search) = 0;
  virtual Status RenameExperiment(const WriteContext& context, int64_t experiment_id, const std::string& new_name) = 0;
  // Moves the experiment and its runs between 'active' and 'deleted'.
  virtual Status SetExperimentLifecycle(const WriteContext& context, int64_t experiment_id, bool deleted) = 0;
  virtual Status SetExperimentTag(const WriteContext& context, int64_t experiment_id, const Tag& tag) = 0;

  // Runs.
  virtual Status CreateRun(const WriteContext& context, const RunInfo& info, const std::vector<Tag>& tags) = 0;
  virtual Result<Run> GetRun(const std::string& run_id) = 0;
  virtual Result<RunInfo> UpdateRun(const WriteContext& context, const std::string& run_id, const RunUpdate& update) = 0;
  virtual Status SetRunLifecycle(const WriteContext& context, const std::string& run_id, bool deleted) = 0;
  // All or nothing. Params are immutable: re-logging a param with another value is
  // INVALID_PARAMETER_VALUE and nothing of the batch is written. The run must be active.
  virtual Status LogBatch(const WriteContext& context, const std::string& run_id, const LogBatch& batch) = 0;
  virtual Status DeleteTag(const WriteContext& context, const std::string& run_id, const std::string& key) = 0;
  virtual Status LogInputs(const WriteContext& context, const std::string& run_id,
                           const std::vector<DatasetInput>& inputs) = 0;
  virtual Result<Page<Run>> SearchRuns(const RunSearch& search) = 0;
  virtual Result<std::vector<Metric>> GetMetricHistory(const std::string& run_id, const std::string& key) = 0;
  // Up to `max_results` points per run with steps in [start_step, end_step], sampled evenly over
  // the steps present, always keeping the first and last (MLflow's bulk-interval semantics).
  virtual Result<std::vector<std::pair<std::string, Metric>>> GetMetricHistoryBulkInterval(
      const std::vector<std::string>& run_ids, const std::string& key, std::optional<int64_t> start_step,
      std::optional<int64_t> end_step, int64_t max_results) = 0;

  // Registry.
  virtual Result<RegisteredModel> CreateRegisteredModel(const WriteContext& context, const std::string& name,
                                                        const std::string& description,
                                                        const std::vector<Tag>& tags) = 0;
  virtual Result<RegisteredModel> GetRegisteredModel(const std::string& name) = 0;
  virtual Result<RegisteredModel> RenameRegisteredModel(const WriteContext& context, const std::string& name,
                                                        const std::string& new_name) = 0;
  virtual Result<RegisteredModel> UpdateRegisteredModel(const WriteContext& context, const std::string& name,
                                                        const std::string& description) = 0;
  virtual Status DeleteRegisteredModel(const WriteContext& context, const std::string& name) = 0;
  virtual Result<Page<RegisteredModel>> SearchRegisteredModels(const RegisteredModelSearch& search) = 0;
  // The newest version in each of `stages` (every stage when empty).
  virtual Result<std::vector<ModelVersion>> GetLatestVersions(const std::string& name,
                                                              const std::vector<std::string>& stages) = 0;
  virtual Status SetRegisteredModelTag(const WriteContext& context, const std::string& name, const Tag& tag) = 0;
  virtual Status DeleteRegisteredModelTag(const WriteContext& context, const std::string& name,
                                          const std::string& key) = 0;
  // Records the move in the alias history with the context's actor and request id.
  virtual Status SetAlias(const WriteContext& context, const std::string& name, const std::string& alias,
                          int64_t version) = 0;
  virtual Status DeleteAlias(const WriteContext& context, const std::string& name, const std::string& alias) = 0;
  virtual Result<ModelVersion> GetModelVersionByAlias(const std::string& name, const std::string& alias) = 0;
  // Alias moves with id > after_id, oldest first; `name` empty means every model.
  virtual Result<std::vector<AliasMove>> GetAliasHistory(const std::string& name, int64_t after_id,
                                                         int64_t limit) = 0;

  virtual Result<ModelVersion> CreateModelVersion(const WriteContext& context, const ModelVersionCreate& create) = 0;
  virtual Result<ModelVersion> GetModelVersion(const std::string& name, int64_t version) = 0;
  virtual Result<ModelVersion> UpdateModelVersion(const WriteContext& context, const std::string& name,
                                                  int64_t version, const std::string& description) = 0;
  virtual Status DeleteModelVersion(const WriteContext& context, const std::string& name, int64_t version) = 0;
  virtual Result<Page<ModelVersion>> SearchModelVersions(const ModelVersionSearch& search) = 0;
  virtual Result<ModelVersion> TransitionModelVersionStage(const WriteContext& context, const std::string& name,
                                                           int64_t version, const std::string& stage,
                                                           bool archive_existing_versions) = 0;
  virtual Status SetModelVersionTag(const WriteContext& context, const std::string& name, int64_t version,
                                    const Tag& tag) = 0;
  virtual Status DeleteModelVersionTag(const WriteContext& context, const std::string& name, int64_t version,
                                       const std::string& key) = 0;

  // Feature repository versions. Saving the hash of the latest version again returns it unchanged;
  // any other hash becomes the next version.
  virtual Result<FeatureRepoVersion> SaveFeatureRepoVersion(const WriteContext& context, const std::string& hash,
                                                            const std::string& definition) = 0;
  virtual Result<std::optional<FeatureRepoVersion>> GetLatestFeatureRepoVersion() = 0;
  // Newest first.
  virtual Result<std::vector<FeatureRepoVersion>> ListFeatureRepoVersions(int64_t limit) = 0;

  // Monitoring. Saving a result for the same monitor and window replaces it.
  virtual Status SaveMonitorResult(const MonitorResult& result) = 0;
  // Results whose window starts in [from, to), oldest first, at most `limit` (the newest ones).
  virtual Result<std::vector<MonitorResult>> ListMonitorResults(const std::string& monitor, int64_t from, int64_t to,
                                                                int64_t limit) = 0;
  // Takes (or renews) the monitor's lease for `holder` until now + ttl when it is free, expired or
  // already the holder's; false when another holder has it.
  virtual Result<bool> AcquireMonitorLease(const std::string& monitor, const std::string& holder, int64_t now,
                                           int64_t ttl) = 0;
  virtual Status ReleaseMonitorLease(const std::string& monitor, const std::string& holder) = 0;
  virtual Status RecordMonitorAlert(const WriteContext& context, const MonitorAlert& alert) = 0;
  // Appends one delivery record (a JSON object) to the alert's deliveries.
  virtual Status AddMonitorAlertDelivery(const std::string& alert_id, const std::string& delivery) = 0;
  // Newest first; `monitor` empty means every monitor.
  virtual Result<std::vector<MonitorAlert>> ListMonitorAlerts(const std::string& monitor, int64_t limit) = 0;
  // Registers new reference data for a deployment: the next version.
  virtual Result<MonitorReference> SaveMonitorReference(const WriteContext& context, const MonitorReference& reference) = 0;
  virtual Result<std::optional<MonitorReference>> GetMonitorReference(const std::string& deployment) = 0;

  // Governance and housekeeping.
  virtual Result<std::vector<AuditEntry>> QueryAudit(const AuditQuery& query) = 0;
  // Records a write that lives outside the store (a deployment, say) in the audit log.
  virtual Status RecordAudit(const WriteContext& context, const std::string& object_type,
                             const std::string& object_id) = 0;
  // Purges runs and experiments deleted at or before `deleted_before` (ms). Runs that a model
  // version references (by run_id) are kept and reported. `dry_run` reports without deleting.
  virtual Result<PurgeReport> PurgeDeleted(const WriteContext& context, int64_t deleted_before, bool dry_run) = 0;
};

struct SqliteStoreOptions {
  std::string path;  // the database file
  Durability durability = Durability::kProcessCrash;
  int reader_connections = 4;
  std::string default_artifact_root;  // artifact location of the Default experiment (id 0)
};

// Opens the SQLite store, creating or migrating the schema, and ensuring the Default experiment.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options);

}  // namespace lathe::storage
