// Schema versions of the SQLite store and the migrations between them.
#pragma once

#include "core/status.h"
#include "storage/sqlite_db.h"

namespace lathe::storage {

// The schema version this build writes.
inline constexpr int kSchemaVersion = 3;

// Brings the database to kSchemaVersion in one transaction; refuses a database from a newer Lathe.
Status ApplyMigrations(SqliteConnection& db);

}  // namespace lathe::storage
