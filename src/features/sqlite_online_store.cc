// The embedded online store: one SQLite file (WAL), a run is one write transaction, so readers see
// the previous run until it commits; reads use a pool of read-only connections.
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "features/online_store.h"
#include "storage/sqlite_db.h"

namespace lathe::features {
namespace {

using storage::SqliteConnection;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS online_values (
  view TEXT NOT NULL,
  entity_key TEXT NOT NULL,
  event_micros INTEGER NOT NULL,
  payload TEXT NOT NULL,
  PRIMARY KEY (view, entity_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS online_views (
  view TEXT PRIMARY KEY,
  state TEXT NOT NULL
) WITHOUT ROWID;
)sql";

std::string StateJson(const ViewState& state) {
  return nlohmann::json{{"repo_hash", state.repo_hash},
                        {"run_id", state.run_id},
                        {"materialized_until_micros", state.materialized_until_micros},
                        {"committed_at_millis", state.committed_at_millis}}
      .dump();
}

class SqliteWriteRun final : public OnlineWriteRun {
 public:
  explicit SqliteWriteRun(std::unique_ptr<SqliteConnection> db) : db_(std::move(db)) {}
  ~SqliteWriteRun() override {
    if (!committed_) {
      db_->ResetStatements();
      (void)db_->Exec("ROLLBACK");
    }
  }

  Status Write(const std::string& view, std::span<const OnlineRow> rows) override {
    LATHE_ASSIGN_OR_RETURN(auto* upsert, db_->Prepare(
        "INSERT INTO online_values(view, entity_key, event_micros, payload) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(view, entity_key) DO UPDATE SET event_micros = excluded.event_micros, payload = excluded.payload "
        "WHERE excluded.event_micros >= online_values.event_micros"));
    for (const auto& row : rows) {
      upsert->Bind({view, row.entity_key, row.event_micros, row.payload});
      LATHE_RETURN_IF_ERROR(upsert->Run());
    }
    return Status::Ok();
  }

  Status SetViewState(const std::string& view, const ViewState& state) override {
    LATHE_ASSIGN_OR_RETURN(auto* statement, db_->Prepare("INSERT OR REPLACE INTO online_views(view, state) VALUES (?, ?)"));
    ViewState stamped = state;
    stamped.committed_at_millis = NowMillis();
    statement->Bind({view, StateJson(stamped)});
    return statement->Run();
  }

  Status Commit() override {
    db_->ResetStatements();
    LATHE_RETURN_IF_ERROR(db_->Exec("COMMIT"));
    committed_ = true;
    return Status::Ok();
  }

 private:
  std::unique_ptr<SqliteConnection> db_;
  bool committed_ = false;
};

class SqliteOnlineStore final : public OnlineStore {
 public:
  explicit SqliteOnlineStore(std::filesystem::path path) : path_(std::move(path)) {}

  Status Init() {
    LATHE_ASSIGN_OR_RETURN(auto db, SqliteConnection::Open(path_.string(), false, false));
    return db->Exec(kSchema);
  }

  Result<std::unique_ptr<OnlineWriteRun>> BeginRun(const std::string&) override {
    LATHE_ASSIGN_OR_RETURN(auto db, SqliteConnection::Open(path_.string(), false, false));
    Status begun = db->Exec("BEGIN IMMEDIATE");
    if (!begun.ok()) return Status::InvalidState(fmt::format("the online store {} is busy: {}", path_.string(), begun.message()));
    return std::unique_ptr<OnlineWriteRun>(new SqliteWriteRun(std::move(db)));
  }

  Status Read(const std::string& view, std::span<const std::string> keys, std::vector<OnlineValue>& out) override {
    LATHE_ASSIGN_OR_RETURN(auto db, TakeReader());
    Status status = ReadWith(*db, view, keys, out);
    db->ResetStatements();
    ReturnReader(std::move(db));
    return status;
  }

  Result<std::optional<ViewState>> GetViewState(const std::string& view) override {
    LATHE_ASSIGN_OR_RETURN(auto db, TakeReader());
    std::optional<ViewState> state;
    Status status = [&]() -> Status {
      LATHE_ASSIGN_OR_RETURN(auto* select, db->Prepare("SELECT state FROM online_views WHERE view = ?"));
      select->Bind({view});
      LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) return Status::Ok();
      auto json = nlohmann::json::parse(select->Text(0), nullptr, false);
      if (json.is_discarded()) return Status::Internal("corrupt view state in the online store");
      state = ViewState{json.value("repo_hash", ""), json.value("run_id", ""), json.value("materialized_until_micros", int64_t{0}),
                        json.value("committed_at_millis", int64_t{0})};
      return Status::Ok();
    }();
    db->ResetStatements();
    ReturnReader(std::move(db));
    if (!status.ok()) return status;
    return state;
  }

  std::string Describe() const override { return "sqlite:" + path_.string(); }

 private:
  static Status ReadWith(SqliteConnection& db, const std::string& view, std::span<const std::string> keys,
                         std::vector<OnlineValue>& out) {
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare("SELECT event_micros, payload FROM online_values WHERE view = ? AND entity_key = ?"));
    // One snapshot for the whole batch: a run committing in between must not split it. (A
    // single SELECT is its own snapshot.)
    const bool batch = keys.size() > 1;
    if (batch) LATHE_RETURN_IF_ERROR(db.Exec("BEGIN"));
    out.assign(keys.size(), OnlineValue{});
    Status status;
    for (size_t i = 0; i < keys.size() && status.ok(); ++i) {
      select->Bind({view, keys[i]});
      auto row = select->Step();
      if (!row.ok()) {
        status = row.status();
      } else if (*row) {
        out[i].found = true;
        out[i].event_micros = select->Int64(0);
        // Room for a JSON parser's padding after the text, so it can parse in place.
        std::string_view text = select->TextView(1);
        out[i].payload.reserve(text.size() + kPayloadPadding);
        out[i].payload.assign(text);
      }
      select->Reset();
    }
    if (batch) (void)db.Exec("COMMIT");
    return status;
  }

  Result<std::unique_ptr<SqliteConnection>> TakeReader() {
    {
      std::lock_guard lock(mutex_);
      if (!readers_.empty()) {
        auto db = std::move(readers_.back());
        readers_.pop_back();
        return db;
      }
    }
    return SqliteConnection::Open(path_.string(), true, false);
  }
  void ReturnReader(std::unique_ptr<SqliteConnection> db) {
    std::lock_guard lock(mutex_);
    if (readers_.size() < 64) readers_.push_back(std::move(db));
  }

  std::filesystem::path path_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<SqliteConnection>> readers_;
};

}  // namespace

Result<std::unique_ptr<OnlineStore>> OpenSqliteOnlineStore(const std::filesystem::path& path) {
  std::error_code error;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), error);
  if (error) return Status::InvalidParameter(fmt::format("cannot create {}: {}", path.parent_path().string(), error.message()));
  auto store = std::make_unique<SqliteOnlineStore>(path);
  LATHE_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<OnlineStore>(std::move(store));
}

Result<std::unique_ptr<OnlineStore>> OpenOnlineStore(const std::string& uri, const std::filesystem::path& data_dir,
                                                     const std::string& project) {
  if (uri.empty() || uri == "sqlite") return OpenSqliteOnlineStore(data_dir / "features" / "online.db");
  if (uri.rfind("sqlite:///", 0) == 0) return OpenSqliteOnlineStore(uri.substr(9));
  if (uri.rfind("redis://", 0) == 0) {
    std::string rest = uri.substr(8);
    int database = 0;
    if (auto slash = rest.find('/'); slash != std::string::npos) {
      std::string db_text = rest.substr(slash + 1);
      rest = rest.substr(0, slash);
      if (!db_text.empty()) {
        try {
          database = std::stoi(db_text);
        } catch (...) {
          return Status::InvalidParameter(fmt::format("invalid Redis database number in '{}'", uri));
        }
      }
    }
    int port = 6379;
    if (auto colon = rest.rfind(':'); colon != std::string::npos) {
      try {
        port = std::stoi(rest.substr(colon + 1));
      } catch (...) {
        return Status::InvalidParameter(fmt::format("invalid Redis port in '{}'", uri));
      }
      rest = rest.substr(0, colon);
    }
    if (rest.empty()) return Status::InvalidParameter(fmt::format("no host in '{}'", uri));
    return OpenRedisOnlineStore(rest, port, database, project);
  }
  return Status::InvalidParameter(
      fmt::format("unknown online store '{}': expected sqlite, sqlite:///path.db or redis://host:port/db", uri));
}

}  // namespace lathe::features
