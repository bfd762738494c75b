// The SQLite implementation of Store (internal to the storage module: other modules use store.h).
//
// Writes queue up for the only read-write connection. The writer at the front of the queue
// leads: it takes every write queued behind it, commits them together (group commit), each in
// its own savepoint so that one failing write does not undo the others, and wakes their
// threads (LevelDB's write path). A lone writer thus commits on its own thread with no hand-off,
// and concurrent writers share one commit and its fsync (Durability::kFull). Reads use a small
// pool of connections, which WAL lets run beside the writer. Clients never see "database is
// locked".
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "storage/sqlite_db.h"
#include "storage/store.h"

namespace lathe::storage {

// A write in progress: the writer's connection plus the audit record of the write.
class WriteTx {
 public:
  WriteTx(SqliteConnection& db, const WriteContext& context) : db_(db), context_(context) {}
  SqliteConnection& db() { return db_; }
  const WriteContext& context() const { return context_; }
  // Adds the audit-log row for this write (actor, action, object, time, request id).
  Status Audit(const std::string& object_type, const std::string& object_id);

 private:
  SqliteConnection& db_;
  const WriteContext& context_;
};

class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> Open(const SqliteStoreOptions& options);
  ~SqliteStore() override;

  // --- experiments and runs (sqlite_store.cc)
  Result<int64_t> CreateExperiment(const WriteContext& context, const std::string& name,
                                   const std::string& artifact_location,
                                   const std::function<std::string(int64_t)>& artifact_location_for,
                                   const std::vector<Tag>& tags) override;
  Result<Experiment> GetExperiment(int64_t experiment_id) override;
  Result<Experiment> GetExperimentByName(const std::string& name) override;
  Result<Page<Experiment>> SearchExperiments(const ExperimentSearch& search) override;
  Status RenameExperiment(const WriteContext& context, int64_t experiment_id, const std::string& new_name) override;
  Status SetExperimentLifecycle(const WriteContext& context, int64_t experiment_id, bool deleted) override;
  Status SetExperimentTag(const WriteContext& context, int64_t experiment_id, const Tag& tag) override;
  Status CreateRun(const WriteContext& context, const RunInfo& info, const std::vector<Tag>& tags) override;
  Result<Run> GetRun(const std::string& run_id) override;
  Result<RunInfo> UpdateRun(const WriteContext& context, const std::string& run_id, const RunUpdate& update) override;
  Status SetRunLifecycle(const WriteContext& context, const std::string& run_id, bool deleted) override;
  Status LogBatch(const WriteContext& context, const std::string& run_id, const storage::LogBatch& batch) override;
  Status DeleteTag(const WriteContext& context, const std::string& run_id, const std::string& key) override;
  Status LogInputs(const WriteContext& context, const std::string& run_id,
                   const std::vector<DatasetInput>& inputs) override;
  Result<Page<Run>> SearchRuns(const RunSearch& search) override;
  Result<std::vector<Metric>> GetMetricHistory(const std::string& run_id, const std::string& key) override;
  Result<std::vector<std::pair<std::string, Metric>>> GetMetricHistoryBulkInterval(
      const std::vector<std::string>& run_ids, const std::string& key, std::optional<int64_t> start_step,
      std::optional<int64_t> end_step, int64_t max_results) override;

  // --- registry (sqlite_registry_store.cc)
  Result<RegisteredModel> CreateRegisteredModel(const WriteContext& context, const std::string& name,
                                                const std::string& description, const std::vector<Tag>& tags) override;
  Result<RegisteredModel> GetRegisteredModel(const std::string& name) override;
  Result<RegisteredModel> RenameRegisteredModel(const WriteContext& context, const std::string& name,
                                                const std::string& new_name) override;
  Result<RegisteredModel> UpdateRegisteredModel(const WriteContext& context, const std::string& name,
                                                const std::string& description) override;
  Status DeleteRegisteredModel(const WriteContext& context, const std::string& name) override;
  Result<Page<RegisteredModel>> SearchRegisteredModels(const RegisteredModelSearch& search) override;
  Result<std::vector<ModelVersion>> GetLatestVersions(const std::string& name,
                                                      const std::vector<std::string>& stages) override;
  Status SetRegisteredModelTag(const WriteContext& context, const std::string& name, const Tag& tag) override;
  Status DeleteRegisteredModelTag(const WriteContext& context, const std::string& name, const std::string& key) override;
  Status SetAlias(const WriteContext& context, const std::string& name, const std::string& alias,
                  int64_t version) override;
  Status DeleteAlias(const WriteContext& context, const std::string& name, const std::string& alias) override;
  Result<ModelVersion> GetModelVersionByAlias(const std::string& name, const std::string& alias) override;
  Result<std::vector<AliasMove>> GetAliasHistory(const std::string& name, int64_t after_id, int64_t limit) override;
  Result<ModelVersion> CreateModelVersion(const WriteContext& context, const ModelVersionCreate& create) override;
  Result<ModelVersion> GetModelVersion(const std::string& name, int64_t version) override;
  Result<ModelVersion> UpdateModelVersion(const WriteContext& context, const std::string& name, int64_t version,
                                          const std::string& description) override;
  Status DeleteModelVersion(const WriteContext& context, const std::string& name, int64_t version) override;
  Result<Page<ModelVersion>> SearchModelVersions(const ModelVersionSearch& search) override;
  Result<ModelVersion> TransitionModelVersionStage(const WriteContext& context, const std::string& name,
                                                   int64_t version, const std::string& stage,
                                                   bool archive_existing_versions) override;
  Status SetModelVersionTag(const WriteContext& context, const std::string& name, int64_t version,
                            const Tag& tag) override;
  Status DeleteModelVersionTag(const WriteContext& context, const std::string& name, int64_t version,
                               const std::string& key) override;

  // --- feature repository versions (sqlite_store_base.cc)
  Result<FeatureRepoVersion> SaveFeatureRepoVersion(const WriteContext& context, const std::string& hash,
                                                    const std::string& definition) override;
  Result<std::optional<FeatureRepoVersion>> GetLatestFeatureRepoVersion() override;
  Result<std::vector<FeatureRepoVersion>> ListFeatureRepoVersions(int64_t limit) override;

  // --- monitoring (sqlite_monitor_store.cc)
  Status SaveMonitorResult(const MonitorResult& result) override;
  Result<std::vector<MonitorResult>> ListMonitorResults(const std::string& monitor, int64_t from, int64_t to,
                                                        int64_t limit) override;
  Result<bool> AcquireMonitorLease(const std::string& monitor, const std::string& holder, int64_t now,
                                   int64_t ttl) override;
  Status ReleaseMonitorLease(const std::string& monitor, const std::string& holder) override;
  Status RecordMonitorAlert(const WriteContext& context, const MonitorAlert& alert) override;
  Status AddMonitorAlertDelivery(const std::string& alert_id, const std::string& delivery) override;
  Result<std::vector<MonitorAlert>> ListMonitorAlerts(const std::string& monitor, int64_t limit) override;
  Result<MonitorReference> SaveMonitorReference(const WriteContext& context, const MonitorReference& reference) override;
  Result<std::optional<MonitorReference>> GetMonitorReference(const std::string& deployment) override;

  // --- governance and housekeeping (sqlite_store.cc)
  Result<std::vector<AuditEntry>> QueryAudit(const AuditQuery& query) override;
  Status RecordAudit(const WriteContext& context, const std::string& object_type,
                     const std::string& object_id) override;
  Result<PurgeReport> PurgeDeleted(const WriteContext& context, int64_t deleted_before, bool dry_run) override;

 private:
  explicit SqliteStore(SqliteStoreOptions options) : options_(std::move(options)) {}
  Status Start();

  // Runs `work` inside a group commit and returns once that commit is durable.
  Status Write(const WriteContext& context, std::function<Status(WriteTx&)> work);

  // Runs `work` on a pooled read connection.
  template <typename T>
  Result<T> Read(const std::function<Result<T>(SqliteConnection&)>& work) {
    auto lease = AcquireReader();
    auto result = work(*lease.connection);
    lease.connection->ResetStatements();
    ReleaseReader(std::move(lease.connection));
    return result;
  }
  struct ReaderLease {
    std::unique_ptr<SqliteConnection> connection;
  };
  ReaderLease AcquireReader();
  void ReleaseReader(std::unique_ptr<SqliteConnection> connection);
  struct WriteJob {
    const WriteContext* context;
    std::function<Status(WriteTx&)>* work;
    Status status;
    bool done = false;
    std::condition_variable wake;
  };
  // Commits `jobs` in one transaction on the writer connection; called by the leader only.
  void CommitGroup(const std::vector<WriteJob*>& jobs);

  SqliteStoreOptions options_;
  std::unique_ptr<SqliteConnection> writer_;
  std::mutex write_mutex_;
  std::deque<WriteJob*> write_queue_;  // the front job's thread is the leader

  std::mutex reader_mutex_;
  std::condition_variable reader_available_;
  std::vector<std::unique_ptr<SqliteConnection>> readers_;
};

// Row loaders shared by the experiment, run and registry parts of the store.
Result<std::vector<Tag>> LoadTags(SqliteConnection& db, std::string_view sql, const std::vector<SqlValue>& key);

}  // namespace lathe::storage
