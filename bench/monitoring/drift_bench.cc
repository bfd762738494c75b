// Benchmark (a) of the monitoring issue: the full drift and integrity evaluation of 1,000,000
// reference rows against 1,000,000 current rows (20 numerical, 5 categorical columns), from data
// already in DuckDB, and including reading the same CSV and Parquet files. bench/monitoring/run.sh
// runs it beside the scipy/pandas baseline (bench/baselines/monitoring_drift.py) on the same files
// and compares the numbers.
//
//   drift_bench --data DIR [--rows N] [--repeat N] [--only memory|csv|parquet] [--out FILE]
//
// Generates DIR/{reference,current}.{csv,parquet} with DuckDB SQL when they are missing or of
// another size (deterministic: every value is a function of its row number), then prints one JSON
// object: per column the statistics, the integrity counts, and the timings in seconds of every
// repetition of each of the three measurements.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "monitoring/drift_report.h"
#include "monitoring/integrity.h"
#include "storage/duckdb.h"

namespace {

using lathe::Result;
using lathe::Status;
using lathe::monitoring::CheckIntegrity;
using lathe::monitoring::DriftReport;
using lathe::monitoring::IntegrityOptions;
using lathe::monitoring::IntegrityReport;
using lathe::storage::DuckDb;
using nlohmann::json;

constexpr int kNumerical = 20;
constexpr int kCategorical = 5;
// The cross-field rule of the issue; n0 holds NULLs but no NaN (a NaN compares above 3 in DuckDB
// and below in pandas, which would make the two count different things).
constexpr const char* kRuleName = "c0_a_with_large_n0";
constexpr const char* kRule = "NOT (c0 = 'a' AND n0 > 3)";

// A uniform value in [0, 1) from DuckDB's hash of the row's source number `s` and stream `k`:
// the same for every thread count and every run of the same DuckDB version.
std::string Uniform(int k) { return fmt::format("((hash(s * 128 + {}) >> 11)::DOUBLE / 9007199254740992.0)", k); }
// A standard normal value (Box-Muller over two streams).
std::string Normal(int k) { return fmt::format("(sqrt(-2 * ln(1 - {})) * cos(2 * pi() * {}))", Uniform(k), Uniform(k + 1)); }

// The rows of one side (0 reference, 1 current). Current shifts some columns, holds a few
// categories the reference never has, lacks one, has a few infinities, and repeats about one row
// in 10,000 (its source number is the previous row's).
std::string SideSql(int side, int64_t rows) {
  std::vector<std::string> columns;
  auto add = [&](const std::string& name, const std::string& sql) { columns.push_back(fmt::format("{} AS {}", sql, name)); };
  const std::string x = std::to_string(side);
  add("n0", fmt::format("CASE WHEN {} < 0.01 THEN NULL ELSE 2 * {} END", Uniform(100), Normal(0)));
  add("n1", fmt::format("{} + 0.05 * {}", Normal(2), x));
  add("n2", fmt::format("{} * (1 + 0.2 * {})", Normal(4), x));
  add("n3", fmt::format("CASE WHEN {} < 0.005 THEN 'NaN'::DOUBLE ELSE exp(0.5 * {}) END", Uniform(101), Normal(6)));
  add("n4", fmt::format("CASE WHEN {} < 0.02 THEN NULL ELSE 100 * {} END", Uniform(102), Uniform(8)));
  add("n5", fmt::format("-3 * ln(1 - {}) + 0.3 * {}", Uniform(10), x));
  add("n6", Normal(12));
  add("n7", fmt::format("CASE WHEN {0} < 0.003 THEN 'NaN'::DOUBLE WHEN {0} > 0.99 THEN NULL ELSE 5 * {1} + 50 END",
                        Uniform(103), Normal(14)));
  add("n8", fmt::format("CASE WHEN {} = 1 AND {} < 0.00001 THEN 'Infinity'::DOUBLE ELSE {} END", x, Uniform(104), Normal(16)));
  add("n9", fmt::format("CASE WHEN {} < 0.3 + 0.1 * {} THEN {} - 2 ELSE {} + 2 END", Uniform(18), x, Normal(20), Normal(22)));
  add("n10", fmt::format("round(10 * {}, 2)", Normal(24)));
  add("n11", fmt::format("round(10 * {} + 0.5 * {}, 2)", Normal(26), x));
  add("n12", fmt::format("round(1000 * {})", Uniform(28)));
  add("n13", fmt::format("round(1000 * {} + 20 * {})", Uniform(29), x));
  add("n14", fmt::format("round(exp({}), 3)", Normal(30)));
  add("n15", fmt::format("round({}, 1)", Normal(32)));
  add("n16", fmt::format("round({} * (1 + 0.1 * {}), 3)", Normal(34), x));
  add("n17", fmt::format("floor(-20 * ln(1 - {}))", Uniform(36)));
  add("n18", fmt::format("round(100 * {})", Normal(38)));
  add("n19", fmt::format("CASE WHEN {} < 0.05 THEN NULL ELSE round({} + 0.02 * {}, 4) END", Uniform(105), Normal(40), x));
  add("c0", fmt::format("chr(97 + floor(5 * {})::INTEGER)", Uniform(60)));
  add("c1", fmt::format("'k' || lpad(floor(12 * {})::INTEGER::VARCHAR, 2, '0')", Uniform(61)));
  add("c2", fmt::format("'s' || floor(30 * pow({}, 2 + 0.3 * {}))::INTEGER", Uniform(62), x));
  add("c3", fmt::format("CASE WHEN {} = 1 AND {} < 0.001 THEN 'new' || floor(3 * {})::INTEGER ELSE 'v' || floor(50 * {})::INTEGER END",
                        x, Uniform(63), Uniform(64), Uniform(65)));
  add("c4", fmt::format("CASE WHEN {} < 0.01 THEN NULL ELSE 'w' || floor((8 - {}) * {})::INTEGER END", Uniform(66), x, Uniform(67)));
  std::string select;
  for (const auto& column : columns) select += (select.empty() ? "" : ", ") + column;
  const std::string source = side == 1 ? "CASE WHEN i % 9973 = 5 THEN i - 1 ELSE i END" : "i";
  return fmt::format("SELECT {} FROM (SELECT i, {} + {} * 1000000000 AS s FROM range({}) t(i)) ORDER BY i", select, source, side,
                     rows);
}

Status Generate(const std::filesystem::path& dir, int64_t rows) {
  std::filesystem::create_directories(dir);
  std::filesystem::remove(dir / "COMPLETE");
  LATHE_ASSIGN_OR_RETURN(auto db, DuckDb::Open());
  for (int side = 0; side < 2; ++side) {
    const std::string name = side == 0 ? "reference" : "current";
    LATHE_RETURN_IF_ERROR(db->Exec(fmt::format("CREATE TABLE {} AS {}", name, SideSql(side, rows))));
    LATHE_RETURN_IF_ERROR(db->Exec(fmt::format("COPY {} TO {} (HEADER)", name, lathe::storage::SqlString((dir / (name + ".csv")).string()))));
    LATHE_RETURN_IF_ERROR(
        db->Exec(fmt::format("COPY {} TO {} (FORMAT parquet)", name, lathe::storage::SqlString((dir / (name + ".parquet")).string()))));
  }
  std::ofstream(dir / "COMPLETE") << "rows=" << rows << "\n";
  return Status::Ok();
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// User + system CPU time of the process so far, all threads (DuckDB's included).
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Non-finite numbers as strings, so that both sides' JSON can carry them.
json Number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

struct Evaluation {
  DriftReport drift;
  IntegrityReport integrity;
  double drift_s = 0;
  double integrity_s = 0;
  double drift_cpu_s = 0;
  double integrity_cpu_s = 0;
};

// What is timed: the drift report with every statistic, then the integrity checks, over two
// relations of `db`.
Result<Evaluation> Evaluate(DuckDb& db, const std::string& reference, const std::string& current) {
  Evaluation evaluation;
  auto started = std::chrono::steady_clock::now();
  double cpu = CpuSeconds();
  lathe::monitoring::DriftReportOptions drift_options;
  drift_options.all_statistics = true;
  LATHE_ASSIGN_OR_RETURN(evaluation.drift, lathe::monitoring::DriftReportForTables(db, reference, current, drift_options));
  evaluation.drift_s = Seconds(started);
  evaluation.drift_cpu_s = CpuSeconds() - cpu;
  started = std::chrono::steady_clock::now();
  cpu = CpuSeconds();
  IntegrityOptions integrity_options;
  integrity_options.rules.push_back({kRuleName, kRule});
  LATHE_ASSIGN_OR_RETURN(evaluation.integrity, CheckIntegrity(db, reference, current, integrity_options, &evaluation.drift));
  evaluation.integrity_s = Seconds(started);
  evaluation.integrity_cpu_s = CpuSeconds() - cpu;
  return evaluation;
}

// The statistics in the shape the baseline prints them.
Result<json> Statistics(const Evaluation& evaluation) {
  json columns = json::object();
  for (const auto& column : evaluation.drift.columns) {
    if (!column.error.empty()) return Status::Internal(fmt::format("column {}: {}", column.column, column.error));
    if (const auto& s = column.numerical_statistics) {
      columns[column.column] = {{"ks_statistic", Number(s->ks_statistic)}, {"ks_p_value", Number(s->ks_p_value)},
                                {"wasserstein", Number(s->wasserstein)},   {"psi", Number(s->psi)},
                                {"jensenshannon", Number(s->jensenshannon)}};
    } else if (const auto& s = column.categorical_statistics) {
      columns[column.column] = {{"chisquare_statistic", Number(s->chisquare_statistic)},
                                {"chisquare_p_value", Number(s->chisquare_p_value)},
                                {"jensenshannon", Number(s->jensenshannon)}};
    } else {
      return Status::Internal(fmt::format("column {} has no statistics", column.column));
    }
  }
  json integrity = {{"nulls", json::object()}, {"out_of_range", json::object()}, {"unseen", json::object()}};
  for (const auto& check : evaluation.integrity.checks) {
    if (!check.error.empty()) return Status::Internal(fmt::format("check {} {}: {}", check.check, check.column, check.error));
    if (check.check == "null_share") integrity["nulls"][check.column] = check.violations;
    if (check.check == "range") integrity["out_of_range"][check.column] = check.violations;
    if (check.check == "unseen_category") integrity["unseen"][check.column] = check.violations;
    if (check.check == "duplicates") integrity["duplicates"] = check.violations;
    if (check.check == "rule") integrity["rule_violations"] = check.violations;
  }
  integrity["failed_checks"] = evaluation.integrity.failed;
  integrity["rows_with_violation"] = evaluation.integrity.rows_with_violation;
  return json{{"rows", {evaluation.drift.reference_rows, evaluation.drift.current_rows}},
              {"columns", columns},
              {"integrity", integrity}};
}

struct Measured {
  double seconds = 0;  // the whole measurement
  json phases;         // its parts
  json statistics;
};

// One timed evaluation in a fresh database. With a `format`, the clock starts before Lathe's
// LoadFile reads the files (a CSV file is copied into a table, a Parquet file becomes a view that
// queries read); without one, both sides are copied from Parquet into tables first, untimed.
Result<Measured> Measure(const std::filesystem::path& dir, const std::string& format) {
  LATHE_ASSIGN_OR_RETURN(auto db, DuckDb::Open());
  auto path = [&](const char* side, const std::string& extension) { return (dir / (side + ("." + extension))).string(); };
  auto load = [&]() -> Status {
    LATHE_RETURN_IF_ERROR(lathe::monitoring::LoadFile(*db, "reference", path("reference", format), "reference"));
    return lathe::monitoring::LoadFile(*db, "current", path("current", format), "current");
  };
  if (format.empty()) {
    for (const char* side : {"reference", "current"}) {
      LATHE_RETURN_IF_ERROR(db->Exec(fmt::format("CREATE TEMP TABLE {} AS SELECT * FROM read_parquet({})", side,
                                                 lathe::storage::SqlString(path(side, "parquet")))));
    }
  }
  Measured measured;
  const auto started = std::chrono::steady_clock::now();
  if (!format.empty()) {
    const double cpu = CpuSeconds();
    LATHE_RETURN_IF_ERROR(load());
    measured.phases["load_s"] = Seconds(started);
    measured.phases["load_cpu_s"] = CpuSeconds() - cpu;
  }
  LATHE_ASSIGN_OR_RETURN(auto evaluation, Evaluate(*db, "reference", "current"));
  measured.seconds = Seconds(started);
  measured.phases["drift_s"] = evaluation.drift_s;
  measured.phases["integrity_s"] = evaluation.integrity_s;
  measured.phases["drift_cpu_s"] = evaluation.drift_cpu_s;
  measured.phases["integrity_cpu_s"] = evaluation.integrity_cpu_s;
  LATHE_ASSIGN_OR_RETURN(measured.statistics, Statistics(evaluation));
  return measured;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "drift_bench: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir, out;
  int64_t rows = 1000000;
  int repeat = 3;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return Fail("usage: drift_bench --data DIR [--rows N] [--repeat N] [--only memory|csv|parquet] [--out FILE]");
    const std::string value = argv[++i];
    try {
      if (arg == "--data") {
        dir = value;
      } else if (arg == "--out") {
        out = value;
      } else if (arg == "--rows") {
        rows = std::stoll(value);
      } else if (arg == "--repeat") {
        repeat = std::stoi(value);
      } else if (arg == "--only") {
        only = value;
      } else {
        return Fail("unknown option " + arg);
      }
    } catch (const std::exception&) {
      return Fail(fmt::format("{} needs a number, not '{}'", arg, value));
    }
  }
  if (dir.empty()) return Fail("--data DIR is required");
  if (rows < 1 || repeat < 1) return Fail("--rows and --repeat must be at least 1");
  if (!only.empty() && only != "memory" && only != "csv" && only != "parquet") return Fail("--only takes memory, csv or parquet");

  std::string complete;
  std::getline(std::ifstream(dir / "COMPLETE"), complete);
  if (complete != fmt::format("rows={}", rows)) {
    std::fprintf(stderr, "generating %lld rows per side in %s\n", static_cast<long long>(rows), dir.c_str());
    const auto started = std::chrono::steady_clock::now();
    if (Status generated = Generate(dir, rows); !generated.ok()) return Fail(generated.message());
    std::fprintf(stderr, "generated in %.1f s\n", Seconds(started));
  }

  json result = {{"timings", json::object()}, {"phases", json::object()}};
  for (const std::string format : {"", "csv", "parquet"}) {
    const std::string name = format.empty() ? "memory" : format;
    if (!only.empty() && only != name) continue;
    for (int r = 0; r < repeat; ++r) {
      auto measured = Measure(dir, format);
      if (!measured.ok()) return Fail(measured.status().message());
      result["timings"][name].push_back(measured->seconds);
      result["phases"][name].push_back(measured->phases);
      std::fprintf(stderr, "%s run %d: %.3f s %s\n", name.c_str(), r + 1, measured->seconds, measured->phases.dump().c_str());
      if (!result.contains("columns")) {
        result.update(measured->statistics);
      } else if (measured->statistics != json{{"rows", result["rows"]}, {"columns", result["columns"]}, {"integrity", result["integrity"]}}) {
        return Fail(fmt::format("the {} evaluation gave other numbers than the first", name));
      }
    }
  }
  const std::string text = result.dump(1);
  if (out.empty()) {
    std::printf("%s\n", text.c_str());
  } else {
    std::ofstream(out) << text << "\n";
  }
  return 0;
}
