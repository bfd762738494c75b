// A thin RAII layer over the SQLite C API: connections, prepared statements, bound values.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace lathe::storage {

using SqlValue = std::variant<std::nullptr_t, int64_t, double, std::string>;

class SqliteStatement;

class SqliteConnection {
 public:
  // Opens (creating if needed) the database file with WAL, foreign keys and a busy timeout.
  // `synchronous_full` makes every commit fsync (power-loss durable); otherwise commits survive a
  // process crash but not a power cut.
  static Result<std::unique_ptr<SqliteConnection>> Open(const std::string& path, bool read_only,
                                                        bool synchronous_full);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  Status Exec(std::string_view sql);
  // Prepared statements are cached per connection by SQL text, so hot queries are compiled once.
  Result<SqliteStatement*> Prepare(std::string_view sql);
  // Resets every statement left mid-result. A statement that is not reset keeps its read
  // transaction open, and the connection would go on seeing that old snapshot.
  void ResetStatements();
  int64_t LastInsertRowId() const;
  int Changes() const;
  sqlite3* raw() { return db_; }

 private:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::vector<std::pair<std::string, std::unique_ptr<SqliteStatement>>> cache_;
};

// A prepared statement owned by its connection's cache; Prepare() hands it out reset and unbound.
class SqliteStatement {
 public:
  explicit SqliteStatement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~SqliteStatement();
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  void Reset();
  bool Busy() const;

  // Binds values to the positional parameters 1..n.
  SqliteStatement& Bind(std::initializer_list<SqlValue> values);
  SqliteStatement& BindAll(const std::vector<SqlValue>& values);
  // Advances: true when a row is available, false when done, error Status on failure.
  Result<bool> Step();
  // Runs a statement that returns no rows.
  Status Run();

  bool IsNull(int column) const;
  int64_t Int64(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;
  // The text without a copy; valid until the statement steps or resets.
  std::string_view TextView(int column) const;
  std::optional<int64_t> OptionalInt64(int column) const;

 private:
  void BindOne(int index, const SqlValue& value);
  sqlite3_stmt* stmt_;
};

// "database is locked" and friends, as a Status carrying the SQLite message.
Status SqliteError(sqlite3* db, std::string_view what);

}  // namespace lathe::storage
