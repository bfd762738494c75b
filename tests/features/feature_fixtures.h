// Shared helpers for the feature store tests: a temporary directory, files written into it, a
// DuckDB session, and query results as strings that hand-computed expectations can be compared to.
#pragma once

#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "features/definitions.h"
#include "storage/duckdb.h"

namespace lathe::features::testing {

inline const Status& StatusOf(const Status& status) { return status; }
template <typename T>
const Status& StatusOf(const Result<T>& result) { return result.status(); }

#define FS_ASSERT_OK(expr)                                                                        \
  do {                                                                                            \
    const auto& fs_result_ = (expr);                                                              \
    ASSERT_TRUE(fs_result_.ok()) << #expr << ": " << ::lathe::features::testing::StatusOf(fs_result_).message(); \
  } while (0)

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/lathe-fs-test-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    char* made = mkdtemp(buffer.data());
    path_ = made ? std::filesystem::path(made) : std::filesystem::temp_directory_path();
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void WriteFile(const std::filesystem::path& path, const std::string& content) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << content;
}

inline std::string ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

// A small DuckDB session: two threads keep the tests light on the shared machine.
inline std::unique_ptr<DuckDb> OpenTestDb() {
  DuckDbOptions options;
  options.threads = 2;
  auto db = DuckDb::Open(options);
  if (!db.ok()) {
    ADD_FAILURE() << "cannot open DuckDB: " << db.status().message();
    return nullptr;
  }
  return std::move(db).value();
}

// A cell as text: NULL, integers as digits, doubles with 15 significant digits (20.0 -> "20").
inline std::string CellText(const Cell& cell) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return "NULL";
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<T, double>) {
          std::ostringstream out;
          out.precision(15);
          out << v;
          return out.str();
        } else {
          return v;
        }
      },
      cell);
}

using Rows = std::vector<std::vector<std::string>>;

// Runs `sql` and returns its rows as text; a failed query fails the test and returns no rows.
inline Rows QueryRows(DuckDb& db, const std::string& sql, std::vector<std::string>* columns = nullptr) {
  auto table = db.Query(sql);
  if (!table.ok()) {
    ADD_FAILURE() << "query failed: " << table.status().message() << "\n" << sql;
    return {};
  }
  if (columns) *columns = table->columns;
  Rows rows;
  for (const auto& row : table->rows) {
    std::vector<std::string> text;
    for (const auto& cell : row) text.push_back(CellText(cell));
    rows.push_back(std::move(text));
  }
  return rows;
}

// Writes `yaml` as <dir>/features.yaml and loads it.
inline Result<FeatureRepo> LoadYaml(const TempDir& dir, const std::string& yaml, const std::string& name = "features.yaml") {
  WriteFile(dir.path() / name, yaml);
  return LoadFeatureRepo(dir.path() / name);
}

// Writes a Parquet file from a SQL query (DuckDB's COPY), for inputs that must be Parquet.
inline void WriteParquet(DuckDb& db, const std::string& path, const std::string& select) {
  Status status = db.Exec("COPY (" + select + ") TO " + SqlString(path) + " (FORMAT PARQUET)");
  ASSERT_TRUE(status.ok()) << status.message();
}

inline bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The shop data of the offline and materialisation tests. Customer 1: Mon Jan 1 (10), Sun Jan 21
// (30), Tue Feb 20 (50: its 30-day window starts exactly at Jan 21, so it averages 30 and 50).
// Customer 2: Wed Jan 3 (60), two rows at Jan 10 created at 01:00 (100) and 02:00 (200; written
// first so file order cannot pick it). A row without a key.
inline constexpr const char* kOrdersCsv =
    "customer_id,order_ts,created_ts,amount\n"
    "1,2024-01-01 00:00:00,2024-01-01 00:00:00,10.0\n"
    "2,2024-01-10 00:00:00,2024-01-10 02:00:00,200.0\n"
    "1,2024-02-20 00:00:00,2024-02-20 00:00:00,50.0\n"
    "2,2024-01-03 00:00:00,2024-01-03 00:00:00,60.0\n"
    ",2024-01-15 00:00:00,2024-01-15 00:00:00,999.0\n"
    "2,2024-01-10 00:00:00,2024-01-10 01:00:00,100.0\n"
    "1,2024-01-21 00:00:00,2024-01-21 00:00:00,30.0\n";

// Pieces of the shop repository's YAML, as list entries under their section.
inline constexpr const char* kOrdersSourceYaml =
    "  - name: orders\n"
    "    path: data/orders.csv\n"
    "    timestamp_field: order_ts\n"
    "    created_timestamp_field: created_ts\n";
inline constexpr const char* kCustomerStatsViewYaml =
    "  - name: customer_stats\n"
    "    entities: [customer]\n"
    "    source: orders\n"
    "    features:\n"
    "      - name: last_amount\n"
    "        expression: amount\n"
    "      - name: avg_amount_30d\n"
    "        expression: >-\n"
    "          avg(amount) OVER (PARTITION BY customer_id ORDER BY order_ts\n"
    "                            RANGE BETWEEN INTERVAL 30 DAYS PRECEDING AND CURRENT ROW)\n"
    "      - name: order_weekday\n"
    "        expression: isodow(order_ts)\n";
inline constexpr const char* kCustomerRecentViewYaml =
    "  - name: customer_recent\n"
    "    entities: [customer]\n"
    "    source: orders\n"
    "    ttl: 10d\n"
    "    features:\n"
    "      - name: last_amount\n"
    "        expression: amount\n";
inline constexpr const char* kOrderRequestYaml =
    "on_demand_feature_views:\n"
    "  - name: order_request\n"
    "    request_fields: [{name: request_amount, type: double}]\n"
    "    inputs: [customer_stats:avg_amount_30d]\n"
    "    features:\n"
    "      - name: amount_over_avg\n"
    "        expression: request_amount / avg_amount_30d\n";

}  // namespace lathe::features::testing
