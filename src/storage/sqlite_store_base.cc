// SqliteStore's machinery: opening and migrating the database, group commit, the reader pool and
// the audit log.
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "storage/migrations.h"
#include "storage/sqlite_store.h"

namespace lathe::storage {
namespace {
constexpr size_t kMaxJobsPerCommit = 512;
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options) {
  LATHE_ASSIGN_OR_RETURN(auto store, SqliteStore::Open(options));
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteStoreOptions& options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(options));
  LATHE_RETURN_IF_ERROR(store->Start());
  return store;
}

Status SqliteStore::Start() {
  bool full = options_.durability == Durability::kFull;
  LATHE_ASSIGN_OR_RETURN(writer_, SqliteConnection::Open(options_.path, false, full));
  LATHE_RETURN_IF_ERROR(ApplyMigrations(*writer_));
  // The Default experiment (id 0) exists from the start, as in MLflow.
  LATHE_ASSIGN_OR_RETURN(auto* insert, writer_->Prepare(
      "INSERT OR IGNORE INTO experiments(experiment_id, name, artifact_location, lifecycle_stage, "
      "creation_time, last_update_time) VALUES (0, 'Default', ?, 'active', ?, ?)"));
  int64_t now = NowMillis();
  LATHE_RETURN_IF_ERROR(insert->Bind({options_.default_artifact_root + "/0", now, now}).Run());
  for (int i = 0; i < std::max(1, options_.reader_connections); ++i) {
    LATHE_ASSIGN_OR_RETURN(auto reader, SqliteConnection::Open(options_.path, false, full));
    LATHE_RETURN_IF_ERROR(reader->Exec("PRAGMA query_only=1"));
    readers_.push_back(std::move(reader));
  }
  return Status::Ok();
}

SqliteStore::~SqliteStore() = default;

Status SqliteStore::Write(const WriteContext& context, std::function<Status(WriteTx&)> work) {
  WriteJob job{&context, &work, {}, false, {}};
  std::unique_lock lock(write_mutex_);
  write_queue_.push_back(&job);
  job.wake.wait(lock, [&] { return job.done || write_queue_.front() == &job; });
  if (job.done) return job.status;  // a leader committed it

  // This thread leads: it commits every write queued so far, its own first.
  std::vector<WriteJob*> group(write_queue_.begin(),
                               write_queue_.begin() + std::min(write_queue_.size(), kMaxJobsPerCommit));
  lock.unlock();
  CommitGroup(group);
  lock.lock();
  for (size_t i = 0; i < group.size(); ++i) {
    write_queue_.pop_front();
    group[i]->done = true;
    if (group[i] != &job) group[i]->wake.notify_one();
  }
  if (!write_queue_.empty()) write_queue_.front()->wake.notify_one();  // the next leader
  return job.status;
}

void SqliteStore::CommitGroup(const std::vector<WriteJob*>& jobs) {
  Status begin = writer_->Exec("BEGIN IMMEDIATE");
  if (!begin.ok()) {
    spdlog::error("cannot begin a write transaction: {}", begin.message());
    for (auto* job : jobs) job->status = begin;
    return;
  }
  for (auto* job : jobs) {
    Status savepoint = writer_->Exec("SAVEPOINT job");
    if (!savepoint.ok()) {
      job->status = savepoint;
      continue;
    }
    WriteTx tx(*writer_, *job->context);
    job->status = (*job->work)(tx);
    writer_->ResetStatements();
    if (!job->status.ok()) (void)writer_->Exec("ROLLBACK TO job");
    (void)writer_->Exec("RELEASE job");
  }
  Status commit = writer_->Exec("COMMIT");
  if (!commit.ok()) {
    spdlog::error("commit of {} writes failed: {}", jobs.size(), commit.message());
    (void)writer_->Exec("ROLLBACK");
    for (auto* job : jobs) {
      if (job->status.ok()) job->status = commit;
    }
  }
}

SqliteStore::ReaderLease SqliteStore::AcquireReader() {
  std::unique_lock lock(reader_mutex_);
  reader_available_.wait(lock, [&] { return !readers_.empty(); });
  ReaderLease lease{std::move(readers_.back())};
  readers_.pop_back();
  return lease;
}

void SqliteStore::ReleaseReader(std::unique_ptr<SqliteConnection> connection) {
  {
    std::lock_guard lock(reader_mutex_);
    readers_.push_back(std::move(connection));
  }
  reader_available_.notify_one();
}

Status WriteTx::Audit(const std::string& object_type, const std::string& object_id) {
  LATHE_ASSIGN_OR_RETURN(auto* insert, db_.Prepare(
      "INSERT INTO audit_log(time, actor, action, object_type, object_id, request_id) VALUES (?,?,?,?,?,?)"));
  return insert->Bind({NowMillis(), context_.actor, context_.action, object_type, object_id, context_.request_id})
      .Run();
}

Result<std::vector<Tag>> LoadTags(SqliteConnection& db, std::string_view sql, const std::vector<SqlValue>& key) {
  LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(sql));
  select->BindAll(key);
  std::vector<Tag> tags;
  for (;;) {
    LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) break;
    tags.push_back(Tag{select->Text(0), select->Text(1)});
  }
  return tags;
}

Status SqliteStore::RecordAudit(const WriteContext& context, const std::string& object_type,
                                const std::string& object_id) {
  return Write(context, [&](WriteTx& tx) { return tx.Audit(object_type, object_id); });
}

namespace {

Result<std::vector<FeatureRepoVersion>> LoadFeatureRepoVersions(SqliteConnection& db, int64_t limit) {
  LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(
      "SELECT version, hash, definition, created_at, actor FROM feature_repo_versions ORDER BY version DESC LIMIT ?"));
  select->Bind({limit});
  std::vector<FeatureRepoVersion> versions;
  for (;;) {
    LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) break;
    versions.push_back({select->Int64(0), select->Text(1), select->Text(2), select->Int64(3), select->Text(4)});
  }
  return versions;
}

}  // namespace

Result<FeatureRepoVersion> SqliteStore::SaveFeatureRepoVersion(const WriteContext& context, const std::string& hash,
                                                               const std::string& definition) {
  FeatureRepoVersion saved;
  LATHE_RETURN_IF_ERROR(Write(context, [&](WriteTx& tx) -> Status {
    LATHE_ASSIGN_OR_RETURN(auto latest, LoadFeatureRepoVersions(tx.db(), 1));
    if (!latest.empty() && latest[0].hash == hash) {
      saved = latest[0];
      return Status::Ok();
    }
    saved = {latest.empty() ? 1 : latest[0].version + 1, hash, definition, NowMillis(), tx.context().actor};
    LATHE_ASSIGN_OR_RETURN(auto* insert, tx.db().Prepare(
        "INSERT INTO feature_repo_versions(version, hash, definition, created_at, actor) VALUES (?, ?, ?, ?, ?)"));
    insert->Bind({saved.version, saved.hash, saved.definition, saved.created_at, saved.actor});
    LATHE_RETURN_IF_ERROR(insert->Run());
    return tx.Audit("feature_repo", std::to_string(saved.version));
  }));
  return saved;
}

Result<std::optional<FeatureRepoVersion>> SqliteStore::GetLatestFeatureRepoVersion() {
  return Read<std::optional<FeatureRepoVersion>>([](SqliteConnection& db) -> Result<std::optional<FeatureRepoVersion>> {
    LATHE_ASSIGN_OR_RETURN(auto latest, LoadFeatureRepoVersions(db, 1));
    if (latest.empty()) return std::optional<FeatureRepoVersion>();
    return std::optional<FeatureRepoVersion>(std::move(latest[0]));
  });
}

Result<std::vector<FeatureRepoVersion>> SqliteStore::ListFeatureRepoVersions(int64_t limit) {
  return Read<std::vector<FeatureRepoVersion>>([&](SqliteConnection& db) { return LoadFeatureRepoVersions(db, limit); });
}

Result<std::vector<AuditEntry>> SqliteStore::QueryAudit(const AuditQuery& query) {
  return Read<std::vector<AuditEntry>>([&](SqliteConnection& db) -> Result<std::vector<AuditEntry>> {
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(
        "SELECT id, time, actor, action, object_type, object_id, request_id FROM audit_log "
        "WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR object_id = ?3) "
        "AND (?4 IS NULL OR time >= ?4) ORDER BY id DESC LIMIT ?5"));
    auto optional_text = [](const std::optional<std::string>& v) -> SqlValue {
      return v ? SqlValue(*v) : SqlValue(nullptr);
    };
    select->Bind({optional_text(query.actor), optional_text(query.action), optional_text(query.object_id),
                  query.since ? SqlValue(*query.since) : SqlValue(nullptr), query.limit});
    std::vector<AuditEntry> entries;
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      entries.push_back(AuditEntry{select->Int64(0), select->Int64(1), select->Text(2), select->Text(3),
                                   select->Text(4), select->Text(5), select->Text(6)});
    }
    return entries;
  });
}

}  // namespace lathe::storage
