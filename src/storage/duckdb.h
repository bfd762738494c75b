// A thin RAII layer over DuckDB's C API, the analytics engine of the feature store and monitoring:
// one in-memory database and its connection, every session in UTC, results read chunk by chunk.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace lathe::storage {

// A cell as Lathe reads it: integers widen to int64, floats to double. Other DuckDB
// types are cast to VARCHAR by the SQL that selects them.
using Cell = std::variant<std::monostate, bool, int64_t, double, std::string>;

struct Table {
  std::vector<std::string> columns;
  std::vector<std::string> types;  // DuckDB's type names, e.g. "BIGINT"
  std::vector<std::vector<Cell>> rows;
};

struct DuckDbOptions {
  int threads = 0;                // 0: DuckDB's default (one per core)
  std::string memory_limit;       // e.g. "4GB"; empty: DuckDB's default (80% of RAM)
  std::string temp_directory;     // where DuckDB spills; empty: DuckDB's default
};

class DuckDb {
 public:
  static Result<std::unique_ptr<DuckDb>> Open(const DuckDbOptions& options = {});
  ~DuckDb();
  DuckDb(const DuckDb&) = delete;
  DuckDb& operator=(const DuckDb&) = delete;

  // Runs statements whose results are not needed.
  Status Exec(std::string_view sql);
  // Runs a query and holds its whole result: for small results (metadata, checks, samples).
  Result<Table> Query(std::string_view sql);
  // Runs a query and hands its rows to `on_row` one at a time without holding the result; a
  // non-ok Status from `on_row` stops the query and is returned.
  Status ForEachRow(std::string_view sql, const std::vector<std::string>& expected_columns,
                    const std::function<Status(const std::vector<Cell>& row)>& on_row);
  // Runs a query whose columns are all DOUBLE and copies them into `columns`, one vector per
  // result column, straight from DuckDB's chunks (no Cell per value): for millions of values. NULL
  // reads as NaN and, with `nulls`, is counted there per column. `columns` is resized to the
  // result's width and its vectors keep their capacity, so a caller reading column after column can
  // pass the same ones again and skip the allocations (and, for large ones, the page faults of
  // fresh memory). A column of another type is an InvalidParameter error naming it (cast it in
  // the SQL).
  Status QueryDoubles(std::string_view sql, std::vector<std::vector<double>>& columns,
                      std::vector<int64_t>* nulls = nullptr);
  // The same for a query of one UBIGINT column (e.g. hashes) into `values`; a NULL is an error.
  Status QueryUint64s(std::string_view sql, std::vector<uint64_t>& values);

 private:
  struct Handles;
  explicit DuckDb(std::unique_ptr<Handles> handles);
  std::unique_ptr<Handles> handles_;
};

// A file's format from its extension: "csv", "parquet" or "json"; empty when unknown.
std::string FileFormat(const std::string& path);
// The DuckDB table function reading a CSV, Parquet or JSON file.
Result<std::string> ReadFileSql(const std::string& path);

// 'text' as a SQL string literal, quotes doubled.
std::string SqlString(std::string_view text);
// "name" as a SQL identifier, quotes doubled.
std::string SqlIdentifier(std::string_view name);

}  // namespace lathe::storage
