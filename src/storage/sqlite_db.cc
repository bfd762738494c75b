// SQLite connection and statement wrappers.
#include "storage/sqlite_db.h"

#include <sqlite3.h>

#include <fmt/format.h>

namespace lathe::storage {

Status SqliteError(sqlite3* db, std::string_view what) {
  return Status::Internal(fmt::format("{}: {}", what, db ? sqlite3_errmsg(db) : "out of memory"));
}

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(const std::string& path, bool read_only,
                                                                 bool synchronous_full) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX | (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Status status = SqliteError(db, "cannot open database " + path);
    sqlite3_close(db);
    return status;
  }
  std::unique_ptr<SqliteConnection> connection(new SqliteConnection(db));
  sqlite3_busy_timeout(db, 30000);
  sqlite3_extended_result_codes(db, 1);
  if (!read_only) {
    LATHE_RETURN_IF_ERROR(connection->Exec("PRAGMA journal_mode=WAL"));
  }
  LATHE_RETURN_IF_ERROR(connection->Exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  LATHE_RETURN_IF_ERROR(connection->Exec("PRAGMA foreign_keys=ON"));
  LATHE_RETURN_IF_ERROR(connection->Exec("PRAGMA temp_store=MEMORY"));
  LATHE_RETURN_IF_ERROR(connection->Exec("PRAGMA cache_size=-65536"));
  return connection;
}

SqliteConnection::~SqliteConnection() {
  cache_.clear();  // statements must be finalized before their connection closes
  sqlite3_close_v2(db_);
}

Status SqliteConnection::Exec(std::string_view sql) {
  char* error = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    return Status::Internal(fmt::format("SQL failed ({}): {}", message, text.substr(0, 200)));
  }
  return Status::Ok();
}

Result<SqliteStatement*> SqliteConnection::Prepare(std::string_view sql) {
  for (auto& [text, statement] : cache_) {
    if (text == sql) {
      statement->Reset();
      return statement.get();
    }
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
      SQLITE_OK) {
    return SqliteError(db_, fmt::format("cannot prepare `{}`", sql.substr(0, 200)));
  }
  cache_.emplace_back(std::string(sql), std::make_unique<SqliteStatement>(stmt));
  return cache_.back().second.get();
}

void SqliteConnection::ResetStatements() {
  for (auto& [sql, statement] : cache_) {
    if (statement->Busy()) statement->Reset();
  }
}

int64_t SqliteConnection::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
int SqliteConnection::Changes() const { return sqlite3_changes(db_); }

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

bool SqliteStatement::Busy() const { return sqlite3_stmt_busy(stmt_) != 0; }

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void SqliteStatement::BindOne(int index, const SqlValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          sqlite3_bind_null(stmt_, index);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          sqlite3_bind_int64(stmt_, index, v);
        } else if constexpr (std::is_same_v<T, double>) {
          sqlite3_bind_double(stmt_, index, v);
        } else {
          sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        }
      },
      value);
}

SqliteStatement& SqliteStatement::Bind(std::initializer_list<SqlValue> values) {
  sqlite3_reset(stmt_);  // a statement that ran to completion must be reset before new bindings
  int index = 1;
  for (const auto& value : values) BindOne(index++, value);
  return *this;
}

SqliteStatement& SqliteStatement::BindAll(const std::vector<SqlValue>& values) {
  sqlite3_reset(stmt_);
  int index = 1;
  for (const auto& value : values) BindOne(index++, value);
  return *this;
}

Result<bool> SqliteStatement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(sqlite3_db_handle(stmt_), "query failed");
}

Status SqliteStatement::Run() {
  auto stepped = Step();
  if (!stepped.ok()) return stepped.status();
  return Status::Ok();
}

bool SqliteStatement::IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
int64_t SqliteStatement::Int64(int column) const { return sqlite3_column_int64(stmt_, column); }
double SqliteStatement::Double(int column) const { return sqlite3_column_double(stmt_, column); }
std::string SqliteStatement::Text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return text ? std::string(text, sqlite3_column_bytes(stmt_, column)) : std::string();
}
std::string_view SqliteStatement::TextView(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return text ? std::string_view(text, sqlite3_column_bytes(stmt_, column)) : std::string_view();
}
std::optional<int64_t> SqliteStatement::OptionalInt64(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int64(column);
}

}  // namespace lathe::storage
