// The prediction log against real files and a real DuckDB: exact round trips, concurrent writers on
// one root, torn lines, overflow, sampling and hashing (checked against Python), retention, exports
// and time ranges.
#include "monitoring/prediction_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "monitoring/python_reference.h"
#include "storage/duckdb.h"

namespace lathe::monitoring {
namespace {

namespace fs = std::filesystem;
using models::DataType;
using models::Tensor;
using storage::Cell;
using storage::DuckDb;
using storage::SqlString;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ScratchDir;

constexpr int64_t kHour = 3600 * 1000;
constexpr int64_t kMarch1 = 1709251200000;  // 2024-03-01T00:00:00Z
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

int64_t At(int hour, int minute) {
  return kMarch1 + hour * kHour + minute * 60 * 1000;
}

Tensor Numbers(std::string name, DataType type, std::vector<int64_t> shape, std::vector<double> values) {
  Tensor tensor;
  tensor.name = std::move(name);
  tensor.datatype = type;
  tensor.shape = std::move(shape);
  tensor.numbers = std::move(values);
  return tensor;
}

Tensor Strings(std::string name, std::vector<int64_t> shape, std::vector<std::string> values,
               std::vector<uint8_t> nulls = {}) {
  Tensor tensor;
  tensor.name = std::move(name);
  tensor.datatype = DataType::kBytes;
  tensor.shape = std::move(shape);
  tensor.strings = std::move(values);
  tensor.nulls = std::move(nulls);
  return tensor;
}

PredictionEvent Event(std::string deployment, int64_t timestamp_ms, std::vector<std::string> ids,
                      std::vector<Tensor> inputs, std::vector<Tensor> outputs) {
  PredictionEvent event;
  event.deployment = std::move(deployment);
  // Assigned as strings: GCC 12 warns falsely (-Wrestrict) on assigning these literals here.
  event.model = std::string("churn");
  event.model_version = std::string("3");
  event.request_id = std::string("req-1");
  event.timestamp_ms = timestamp_ms;
  event.latency_ms = 1.25;
  event.prediction_ids = std::move(ids);
  event.AddInputs(inputs);
  event.AddOutputs(outputs);
  return event;
}

// One row: input x, output predictions = 2x.
PredictionEvent Row(const std::string& deployment, int64_t timestamp_ms, const std::string& id, double x) {
  return Event(deployment, timestamp_ms, {id}, {Numbers("x", DataType::kFp64, {1}, {x})},
               {Numbers("predictions", DataType::kFp64, {1}, {2 * x})});
}

// Rows kept far longer than the fixed 2024 timestamps are old, so that the writer's own retention
// leaves them alone.
PredictionLogOptions Options(const fs::path& root) {
  PredictionLogOptions options;
  options.root = root;
  options.flush_interval_ms = 50;
  options.default_policy.retention_ms = 100LL * 365 * 24 * kHour;
  return options;
}

std::unique_ptr<PredictionLog> OpenLog(PredictionLogOptions options) {
  auto log = PredictionLog::Open(std::move(options));
  EXPECT_TRUE(log.ok()) << log.status().message();
  return log.ok() ? std::move(log).value() : nullptr;
}

storage::Table Query(const std::string& sql) {
  auto db = DuckDb::Open();
  EXPECT_TRUE(db.ok());
  auto table = (*db)->Query(sql);
  EXPECT_TRUE(table.ok()) << table.status().message() << "\n" << sql;
  return table.ok() ? std::move(table).value() : storage::Table{};
}

std::string LogSql(const fs::path& root, const std::string& deployment, int64_t from = 0,
                   int64_t to = std::numeric_limits<int64_t>::max()) {
  auto sql = PredictionLogSql(root, deployment, from, to);
  EXPECT_TRUE(sql.ok()) << sql.status().message();
  return sql.ok() ? *sql : "";
}

int64_t CountRows(const fs::path& root, const std::string& deployment, int64_t from = 0,
                  int64_t to = std::numeric_limits<int64_t>::max()) {
  auto table = Query("SELECT count(*) FROM " + LogSql(root, deployment, from, to));
  return table.rows.size() == 1 ? std::get<int64_t>(table.rows[0][0]) : -1;
}

std::multiset<std::string> PredictionIds(const fs::path& root, const std::string& deployment) {
  std::multiset<std::string> ids;
  for (const auto& row : Query("SELECT prediction_id FROM " + LogSql(root, deployment)).rows) {
    ids.insert(std::get<std::string>(row[0]));
  }
  return ids;
}

std::vector<fs::path> Segments(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(dir, ignored)) {
    if (entry.path().extension() == ".jsonl") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void AppendToFile(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
}

template <typename T>
T As(const Cell& cell) {
  EXPECT_TRUE(std::holds_alternative<T>(cell));
  return std::holds_alternative<T>(cell) ? std::get<T>(cell) : T{};
}

bool IsNull(const Cell& cell) {
  return std::holds_alternative<std::monostate>(cell);
}

TEST(PredictionLogTest, RowsRoundTripExactly) {
  ScratchDir dir;
  auto log = OpenLog(Options(dir.path()));
  ASSERT_TRUE(log);
  const int64_t when = At(10, 15);
  EXPECT_TRUE(log->Append(
      Event("churn-prod", when, {"a-1", "a-2", "a-3"},
            {Numbers("age", DataType::kInt64, {3}, {42, -7, 0}),
             Numbers("income", DataType::kFp64, {3}, {50000.5, kNaN, 1e20}),
             Numbers("ratio", DataType::kFp32, {3}, {static_cast<float>(0.1), 2, -kInf}),
             Strings("name", {3}, {"Zo\xC3\xAB \"q\"\n\\\t\x01", "", "bad\xFF"}, {0, 1, 0}),
             Strings("uid", {3},
                     {"0d4f8e2a-1c4b-4d6e-9f0a-123456789abc", "0d4f8e2a-1c4b-4d6e-9f0a-123456789abd",
                      "0d4f8e2a-1c4b-4d6e-9f0a-123456789abe"}),
             Strings("day", {3}, {"2024-01-01", "2024-01-02", "2024-01-03"}),
             Numbers("vec", DataType::kFp64, {3, 2}, {1.5, -2, kNaN, 4, 5, 6}),
             Numbers("flag", DataType::kBool, {3}, {1, 0, 1}), Numbers("model", DataType::kFp64, {3}, {7, 8, 9})},
            {Numbers("predictions", DataType::kFp64, {3}, {0.25, 0.5, 0.75}),
             Numbers("probabilities", DataType::kFp64, {3, 2}, {0.9, 0.1, 0.5, 0.5, 0, 1})})));
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(log->stats().logged_rows, 3u);
  EXPECT_EQ(log->stats().queued_rows, 0u);

  // One file, named for the rows' UTC hour, this host and this process.
  auto files = Segments(dir.path() / "churn-prod");
  ASSERT_EQ(files.size(), 1u);
  const std::string name = files[0].filename().string();
  const std::string pid = "-" + std::to_string(getpid()) + "-";
  EXPECT_EQ(name.substr(0, 12), "20240301T10-") << name;
  EXPECT_NE(name.find(pid, 12), std::string::npos) << name;
  EXPECT_EQ(name.substr(name.size() - 6), ".jsonl") << name;
  // Flat objects, meta keys first; floats keep a '.', NaN and inf are null, "model" is renamed.
  const std::string text = ReadFile(files[0]);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            R"({"prediction_id":"a-1","request_id":"req-1","deployment":"churn-prod","model":"churn",)"
            R"("model_version":"3","timestamp_ms":1709288100000,"latency_ms":1.25,"age":42,"income":50000.5,)"
            R"("ratio":0.1,"name":"Zoë \"q\"\n\\\t\u0001","uid":"0d4f8e2a-1c4b-4d6e-9f0a-123456789abc",)"
            R"("day":"2024-01-01","vec":[1.5,-2.0],"flag":true,"input_model":7.0,"output_predictions":0.25,)"
            R"("output_probabilities":[0.9,0.1]})");

  const std::string sql = LogSql(dir.path(), "churn-prod");
  std::map<std::string, std::string> types;
  for (const auto& row : Query("DESCRIBE SELECT * FROM " + sql).rows) {
    types[std::get<std::string>(row[0])] = std::get<std::string>(row[1]);
  }
  EXPECT_EQ(types, (std::map<std::string, std::string>{{"prediction_id", "VARCHAR"},
                                                       {"request_id", "VARCHAR"},
                                                       {"deployment", "VARCHAR"},
                                                       {"model", "VARCHAR"},
                                                       {"model_version", "VARCHAR"},
                                                       {"timestamp_ms", "BIGINT"},
                                                       {"latency_ms", "DOUBLE"},
                                                       {"age", "BIGINT"},
                                                       {"income", "DOUBLE"},
                                                       {"ratio", "DOUBLE"},
                                                       {"name", "VARCHAR"},
                                                       {"uid", "VARCHAR"},
                                                       {"day", "VARCHAR"},
                                                       {"vec", "DOUBLE[]"},
                                                       {"flag", "BOOLEAN"},
                                                       {"input_model", "DOUBLE"},
                                                       {"output_predictions", "DOUBLE"},
                                                       {"output_probabilities", "DOUBLE[]"}}));

  auto table = Query(
      "SELECT prediction_id, request_id, deployment, model, model_version, timestamp_ms, latency_ms, age, income, "
      "ratio, name, uid, day, vec[1], vec[2], len(vec), flag, input_model, output_predictions, "
      "output_probabilities[1], output_probabilities[2] FROM " +
      sql + " ORDER BY prediction_id");
  ASSERT_EQ(table.rows.size(), 3u);
  const auto& a = table.rows[0];
  EXPECT_EQ(As<std::string>(a[0]), "a-1");
  EXPECT_EQ(As<std::string>(a[1]), "req-1");
  EXPECT_EQ(As<std::string>(a[2]), "churn-prod");
  EXPECT_EQ(As<std::string>(a[3]), "churn");
  EXPECT_EQ(As<std::string>(a[4]), "3");
  EXPECT_EQ(As<int64_t>(a[5]), when);
  EXPECT_EQ(As<double>(a[6]), 1.25);
  EXPECT_EQ(As<int64_t>(a[7]), 42);
  EXPECT_EQ(As<double>(a[8]), 50000.5);
  EXPECT_EQ(As<double>(a[9]), 0.1);  // FP32 written as its shortest text, so it reads back as typed
  EXPECT_EQ(As<std::string>(a[10]), "Zo\xC3\xAB \"q\"\n\\\t\x01");
  EXPECT_EQ(As<std::string>(a[11]), "0d4f8e2a-1c4b-4d6e-9f0a-123456789abc");
  EXPECT_EQ(As<std::string>(a[12]), "2024-01-01");
  EXPECT_EQ(As<double>(a[13]), 1.5);
  EXPECT_EQ(As<double>(a[14]), -2.0);
  EXPECT_EQ(As<int64_t>(a[15]), 2);
  EXPECT_EQ(As<bool>(a[16]), true);
  EXPECT_EQ(As<double>(a[17]), 7.0);
  EXPECT_EQ(As<double>(a[18]), 0.25);
  EXPECT_EQ(As<double>(a[19]), 0.9);
  EXPECT_EQ(As<double>(a[20]), 0.1);

  const auto& b = table.rows[1];
  EXPECT_EQ(As<int64_t>(b[7]), -7);
  EXPECT_TRUE(IsNull(b[8]));  // NaN
  EXPECT_EQ(As<double>(b[9]), 2.0);
  EXPECT_TRUE(IsNull(b[10]));  // a null string
  EXPECT_TRUE(IsNull(b[13]));  // NaN inside an array
  EXPECT_EQ(As<double>(b[14]), 4.0);
  EXPECT_EQ(As<bool>(b[16]), false);
  EXPECT_EQ(As<double>(b[19]), 0.5);

  const auto& c = table.rows[2];
  EXPECT_EQ(As<int64_t>(c[7]), 0);
  EXPECT_EQ(As<double>(c[8]), 1e20);
  EXPECT_TRUE(IsNull(c[9]));                             // -inf
  EXPECT_EQ(As<std::string>(c[10]), "bad\xEF\xBF\xBD");  // invalid UTF-8 replaced, the row kept
  EXPECT_EQ(As<double>(c[18]), 0.75);
  EXPECT_EQ(As<double>(c[20]), 1.0);
}

// Events hold their values flat under a layout shared while the columns stay the same: rows whose
// columns change from event to event, and back, in one batch, keep their own values and nulls.
TEST(PredictionLogTest, ColumnsMayChangeFromEventToEvent) {
  ScratchDir dir;
  auto log = OpenLog(Options(dir.path() / "log"));
  ASSERT_TRUE(log);
  auto a = [&](const std::string& id, double x, const std::string& s1, const std::string& s2, uint8_t s2_null) {
    return Event("d", At(10, 0), {id},
                 {Numbers("x", DataType::kFp64, {1}, {x}), Strings("s1", {1}, {s1}),
                  Strings("s2", {1}, {s2}, {s2_null})},
                 {Numbers("predictions", DataType::kFp64, {1}, {2 * x})});
  };
  ASSERT_TRUE(log->Append(a("a1", 1, "p", "", 1)));
  ASSERT_TRUE(log->Append(Event("d", At(10, 0), {"b1"},
                                {Numbers("x", DataType::kFp64, {1}, {2}), Numbers("z", DataType::kFp32, {1, 2}, {1, 2.5})},
                                {Numbers("predictions", DataType::kFp64, {1}, {4})})));
  ASSERT_TRUE(log->Append(a("a2", 3, "q", "r", 0)));
  // Same names, another type: not the layout of b1.
  ASSERT_TRUE(log->Append(Event("d", At(10, 0), {"c1"}, {Numbers("x", DataType::kInt64, {1}, {5})},
                                {Numbers("predictions", DataType::kFp64, {1}, {10})})));
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(log->stats().logged_rows, 4u);
  auto table = Query("SELECT prediction_id, x, s1, s2, z[2], output_predictions FROM " + LogSql(dir.path() / "log", "d") +
                     " ORDER BY prediction_id");
  ASSERT_EQ(table.rows.size(), 4u);
  EXPECT_EQ(As<std::string>(table.rows[0][0]), "a1");
  EXPECT_EQ(As<double>(table.rows[0][1]), 1.0);
  EXPECT_EQ(As<std::string>(table.rows[0][2]), "p");
  EXPECT_TRUE(IsNull(table.rows[0][3]));
  EXPECT_TRUE(IsNull(table.rows[0][4]));
  EXPECT_EQ(As<double>(table.rows[0][5]), 2.0);
  EXPECT_EQ(As<std::string>(table.rows[1][0]), "a2");
  EXPECT_EQ(As<double>(table.rows[1][1]), 3.0);
  EXPECT_EQ(As<std::string>(table.rows[1][2]), "q");
  EXPECT_EQ(As<std::string>(table.rows[1][3]), "r");
  EXPECT_EQ(As<double>(table.rows[1][5]), 6.0);
  EXPECT_EQ(As<std::string>(table.rows[2][0]), "b1");
  EXPECT_EQ(As<double>(table.rows[2][1]), 2.0);
  EXPECT_TRUE(IsNull(table.rows[2][2]));
  EXPECT_EQ(As<double>(table.rows[2][4]), 2.5);
  EXPECT_EQ(As<double>(table.rows[2][5]), 4.0);
  EXPECT_EQ(As<std::string>(table.rows[3][0]), "c1");
  EXPECT_EQ(As<double>(table.rows[3][1]), 5.0);
  EXPECT_EQ(As<double>(table.rows[3][5]), 10.0);
}

TEST(PredictionLogTest, TwoWritersOnOneRootLogEveryRowOnce) {
  ScratchDir dir;
  auto first = OpenLog(Options(dir.path()));
  auto second = OpenLog(Options(dir.path()));
  ASSERT_TRUE(first && second);
  constexpr int kEvents = 1500;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    PredictionLog* log = t % 2 == 0 ? first.get() : second.get();
    threads.emplace_back([log, t] {
      for (int i = 0; i < kEvents; ++i) {
        const int rows = 1 + i % 3;
        std::vector<std::string> ids;
        std::vector<double> x;
        for (int r = 0; r < rows; ++r) {
          ids.push_back(fmt::format("t{}-{}-{}", t, i, r));
          x.push_back(t * 1e6 + i * 10 + r);
        }
        // Three hours, so that both writers have files in each.
        auto event = Event("shared", At(9 + i % 3, t), ids, {Numbers("x", DataType::kFp64, {rows}, x)}, {});
        EXPECT_TRUE(log->Append(std::move(event)));
      }
    });
  }
  // Flushes while the writers append must neither lose nor repeat rows.
  threads.emplace_back([&] {
    for (int i = 0; i < 20; ++i) EXPECT_TRUE(first->Flush().ok());
  });
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(first->Flush().ok());
  ASSERT_TRUE(second->Flush().ok());
  const uint64_t per_thread = kEvents / 3 * (1 + 2 + 3);
  EXPECT_EQ(first->stats().logged_rows + second->stats().logged_rows, 4 * per_thread);

  std::multiset<std::string> expected;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < kEvents; ++i) {
      for (int r = 0; r < 1 + i % 3; ++r) expected.insert(fmt::format("t{}-{}-{}", t, i, r));
    }
  }
  EXPECT_EQ(PredictionIds(dir.path(), "shared"), expected);
  // Each row's value matches its id: no line was interleaved with another writer's.
  auto mismatched = Query("SELECT count(*) FROM " + LogSql(dir.path(), "shared") +
                          " WHERE prediction_id <> format('t{}-{}-{}', (x // 1e6)::BIGINT, ((x % 1e6) // 10)::BIGINT, "
                          "(x % 10)::BIGINT)");
  EXPECT_EQ(As<int64_t>(mismatched.rows.at(0).at(0)), 0);

  std::set<std::string> writers_in_hour_9;
  for (const auto& file : Segments(dir.path() / "shared")) {
    const std::string name = file.filename().string();
    if (name.rfind("20240301T09-", 0) == 0) writers_in_hour_9.insert(name);
  }
  EXPECT_GE(writers_in_hour_9.size(), 2u);
}

TEST(PredictionLogTest, TornLastLinesAreSkipped) {
  ScratchDir dir;
  {
    auto log = OpenLog(Options(dir.path()));
    ASSERT_TRUE(log);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(log->Append(Row("d", At(10, i), fmt::format("p{}", i), i)));
  }
  auto files = Segments(dir.path() / "d");
  ASSERT_EQ(files.size(), 1u);
  // A crash in the middle of a write: the line has no end.
  AppendToFile(files[0], R"({"prediction_id":"torn-1","request_id":"r","deployment":"d","timestamp_ms":17092)");
  {
    // The restarted process writes new files, never after the torn line.
    auto log = OpenLog(Options(dir.path()));
    ASSERT_TRUE(log);
    for (int i = 3; i < 5; ++i) EXPECT_TRUE(log->Append(Row("d", At(10, i), fmt::format("p{}", i), i)));
  }
  files = Segments(dir.path() / "d");
  ASSERT_EQ(files.size(), 2u);
  AppendToFile(files[1], R"({"prediction_id":"torn-2","request_id":"r\u00)");
  EXPECT_EQ(PredictionIds(dir.path(), "d"), (std::multiset<std::string>{"p0", "p1", "p2", "p3", "p4"}));
  auto sums = Query("SELECT sum(x), sum(output_predictions) FROM " + LogSql(dir.path(), "d"));
  EXPECT_EQ(As<double>(sums.rows.at(0)[0]), 10.0);
  EXPECT_EQ(As<double>(sums.rows.at(0)[1]), 20.0);

  // A crash during a segment's first write leaves a file with nothing but a torn line.
  AppendToFile(dir.path() / "d" / "20240301T11-otherhost-1-0.jsonl", R"({"prediction_id":"torn-3","x":)");
  EXPECT_EQ(CountRows(dir.path(), "d", At(11, 0), At(12, 0)), 0);
  EXPECT_EQ(Query("DESCRIBE SELECT * FROM " + LogSql(dir.path(), "d", At(11, 0), At(12, 0))).rows.size(), 7u);
  EXPECT_EQ(CountRows(dir.path(), "d"), 5);
}

TEST(PredictionLogTest, QueueOverflowIsCountedNeverSilent) {
  ScratchDir dir;
  auto options = Options(dir.path());
  options.queue_rows = 10;
  options.flush_interval_ms = 3600 * 1000;
  auto log = OpenLog(options);
  ASSERT_TRUE(log);

  std::vector<std::string> ids;
  for (int i = 0; i < 11; ++i) ids.push_back(fmt::format("big-{}", i));
  std::vector<double> x(11, 1.0);
  EXPECT_FALSE(log->Append(Event("d", At(10, 0), ids, {Numbers("x", DataType::kFp64, {11}, x)}, {})));
  EXPECT_EQ(log->stats().dropped_rows, 11u);

  // A burst far faster than a write and an fdatasync: most of it cannot fit.
  uint64_t accepted = 0;
  for (int i = 0; i < 1000; ++i) accepted += log->Append(Row("d", At(10, 1), fmt::format("p{}", i), i));
  ASSERT_TRUE(log->Flush().ok());
  const auto stats = log->stats();
  EXPECT_GT(stats.dropped_rows, 11u);
  EXPECT_EQ(stats.dropped_rows, 11 + (1000 - accepted));
  EXPECT_EQ(stats.logged_rows, accepted);
  EXPECT_EQ(stats.queued_rows, 0u);
  EXPECT_EQ(CountRows(dir.path(), "d"), static_cast<int64_t>(accepted));
}

// The draw as documented, written independently in Python: the same ids are kept anywhere.
constexpr const char* kSamplingScript = R"py(
import json, sys
case = json.load(open(sys.argv[1]))
M = (1 << 64) - 1
def draw(text):
    h = 0xcbf29ce484222325
    for b in text.encode():
        h ^= b
        h = (h * 0x100000001b3) & M
    h ^= h >> 30; h = (h * 0xbf58476d1ce4e5b9) & M
    h ^= h >> 27; h = (h * 0x94d049bb133111eb) & M
    h ^= h >> 31
    return (h >> 11) * 2.0 ** -53
print(json.dumps(sorted(i for i in case["ids"] if draw(i) < case["rate"])))
)py";

TEST(PredictionLogTest, SamplingIsDeterministicByPredictionId) {
  ScratchDir dir;
  constexpr int kRows = 20000;
  constexpr double kRate = 0.3;
  std::vector<std::string> ids;
  for (int i = 0; i < kRows; ++i) ids.push_back(fmt::format("pred-{}", i));

  // Row by row in one root, in events of 100 rows in another: the same rows are kept.
  std::multiset<std::string> kept[2];
  for (int run = 0; run < 2; ++run) {
    const fs::path root = dir.path() / fmt::format("run{}", run);
    auto options = Options(root);
    options.queue_rows = kRows;
    options.policies["sampled"].sampling = kRate;
    options.policies["sampled"].retention_ms = options.default_policy.retention_ms;
    auto log = OpenLog(options);
    ASSERT_TRUE(log);
    if (run == 0) {
      for (int i = 0; i < kRows; ++i) EXPECT_TRUE(log->Append(Row("sampled", At(10, 0), ids[i], i)));
    } else {
      for (int start = 0; start < kRows; start += 100) {
        std::vector<std::string> batch_ids(ids.begin() + start, ids.begin() + start + 100);
        std::vector<double> x;
        for (int i = start; i < start + 100; ++i) x.push_back(i);
        EXPECT_TRUE(log->Append(Event("sampled", At(10, 0), batch_ids, {Numbers("x", DataType::kFp64, {100}, x)}, {})));
      }
    }
    ASSERT_TRUE(log->Flush().ok());
    const auto stats = log->stats();
    EXPECT_EQ(stats.logged_rows + stats.sampled_out_rows, static_cast<uint64_t>(kRows));
    kept[run] = PredictionIds(root, "sampled");
    EXPECT_EQ(kept[run].size(), stats.logged_rows);
    // Every kept row carries its own values, whichever rows of its event were dropped.
    auto mismatched = Query("SELECT count(*) FROM " + LogSql(root, "sampled") +
                            " WHERE prediction_id <> 'pred-' || CAST(x AS BIGINT)");
    EXPECT_EQ(As<int64_t>(mismatched.rows.at(0).at(0)), 0);
  }
  EXPECT_EQ(kept[0], kept[1]);
  const double sigma = std::sqrt(kRows * kRate * (1 - kRate));
  EXPECT_NEAR(static_cast<double>(kept[0].size()), kRows * kRate, 5 * sigma);

  auto python = testing::RunPythonJson(kSamplingScript, {{"ids", ids}, {"rate", kRate}});
  EXPECT_EQ(kept[0], (std::multiset<std::string>(python.begin(), python.end())));

  // The bounds: 0 keeps nothing, the default 1 everything.
  auto options = Options(dir.path() / "bounds");
  options.policies["none"].sampling = 0;
  auto log = OpenLog(options);
  ASSERT_TRUE(log);
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(log->Append(Row("none", At(10, 0), ids[i], i)));
    EXPECT_TRUE(log->Append(Row("all", At(10, 0), ids[i], i)));
  }
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(log->stats().sampled_out_rows, 100u);
  EXPECT_EQ(CountRows(dir.path() / "bounds", "none"), 0);
  EXPECT_EQ(CountRows(dir.path() / "bounds", "all"), 100);
}

constexpr const char* kSha256Script = R"py(
import hashlib, json, sys
case = json.load(open(sys.argv[1]))
print(json.dumps({t: hashlib.sha256((case["salt"] + t).encode()).hexdigest() for t in case["texts"]}))
)py";

TEST(PredictionLogTest, SensitiveColumnsAreHashedOrDroppedBeforeDisk) {
  ScratchDir dir;
  auto options = Options(dir.path());
  options.salt = "pepper";
  options.policies["kyc"].retention_ms = options.default_policy.retention_ms;
  options.policies["kyc"].sensitive = {
      {"email", "hash"}, {"ssn", "drop"}, {"age", "hash"}, {"tags", "hash"}, {"output_score", "hash"}};
  auto log = OpenLog(options);
  ASSERT_TRUE(log);
  auto event = [](const std::string& deployment) {
    return Event(deployment, At(10, 0), {"k1", "k2", "k3"},
                 {Strings("email", {3}, {"a@x.org", "", "b@y.org"}, {0, 1, 0}),
                  Strings("ssn", {3}, {"123-45-6789", "987-65-4321", "555-55-5555"}),
                  Numbers("age", DataType::kInt64, {3}, {42, 7, 42}),
                  Strings("tags", {3, 2}, {"a", "b", "c", "", "e", "f"}, {0, 0, 0, 1, 0, 0})},
                 {Numbers("score", DataType::kFp64, {3}, {0.5, kNaN, 1})});
  };
  EXPECT_TRUE(log->Append(event("kyc")));
  EXPECT_TRUE(log->Append(event("plain")));  // the default policy: nothing hidden
  ASSERT_TRUE(log->Flush().ok());

  const std::vector<std::string> texts = {"a@x.org",       "b@y.org",      "42",  "7",  R"(["a","b"])",
                                          R"(["c",null])", R"(["e","f"])", "0.5", "1.0"};
  const auto digests = testing::RunPythonJson(kSha256Script, {{"salt", "pepper"}, {"texts", texts}});
  auto sha = [&](const std::string& text) { return digests.at(text).get<std::string>(); };
  auto table =
      Query("SELECT email, age, tags, output_score FROM " + LogSql(dir.path(), "kyc") + " ORDER BY prediction_id");
  ASSERT_EQ(table.rows.size(), 3u);
  EXPECT_EQ(As<std::string>(table.rows[0][0]), sha("a@x.org"));
  EXPECT_TRUE(IsNull(table.rows[1][0]));  // nulls stay null
  EXPECT_EQ(As<std::string>(table.rows[2][0]), sha("b@y.org"));
  EXPECT_EQ(As<std::string>(table.rows[0][1]), sha("42"));
  EXPECT_EQ(As<std::string>(table.rows[1][1]), sha("7"));
  EXPECT_EQ(As<std::string>(table.rows[2][1]), sha("42"));
  EXPECT_EQ(As<std::string>(table.rows[0][2]), sha(R"(["a","b"])"));
  EXPECT_EQ(As<std::string>(table.rows[1][2]), sha(R"(["c",null])"));
  EXPECT_EQ(As<std::string>(table.rows[2][2]), sha(R"(["e","f"])"));
  EXPECT_EQ(As<std::string>(table.rows[0][3]), sha("0.5"));
  EXPECT_TRUE(IsNull(table.rows[1][3]));
  EXPECT_EQ(As<std::string>(table.rows[2][3]), sha("1.0"));

  auto columns = Query("DESCRIBE SELECT * FROM " + LogSql(dir.path(), "kyc"));
  for (const auto& row : columns.rows) EXPECT_NE(std::get<std::string>(row[0]), "ssn");
  for (const auto& file : Segments(dir.path() / "kyc")) {
    const std::string text = ReadFile(file);
    EXPECT_THAT(text, Not(HasSubstr("123-45-6789")));
    EXPECT_THAT(text, Not(HasSubstr("a@x.org")));
  }
  auto plain = Query("SELECT email, ssn FROM " + LogSql(dir.path(), "plain") + " ORDER BY prediction_id");
  ASSERT_EQ(plain.rows.size(), 3u);
  EXPECT_EQ(As<std::string>(plain.rows[0][0]), "a@x.org");
  EXPECT_EQ(As<std::string>(plain.rows[0][1]), "123-45-6789");

  // SetPolicy takes effect for the rows written next.
  DeploymentLogPolicy drop_email;
  drop_email.retention_ms = options.default_policy.retention_ms;
  drop_email.sensitive["email"] = "drop";
  ASSERT_TRUE(log->SetPolicy("plain", drop_email).ok());
  EXPECT_TRUE(log->Append(event("plain")));
  ASSERT_TRUE(log->Flush().ok());
  auto after = Query("SELECT count(*), count(email) FROM " + LogSql(dir.path(), "plain"));
  EXPECT_EQ(As<int64_t>(after.rows.at(0)[0]), 6);
  EXPECT_EQ(As<int64_t>(after.rows.at(0)[1]), 2);  // only the first event's emails
}

TEST(PredictionLogTest, RetentionDeletesOnlyHoursPastIt) {
  ScratchDir dir;
  // Recent hours, within the default 30 days.
  const int64_t base = NowMillis() / kHour * kHour - 10 * kHour;
  auto options = Options(dir.path());
  options.default_policy = DeploymentLogPolicy{};
  options.retention_every_ms = 0;  // only the explicit pass below, with its own clock
  auto log = OpenLog(options);
  ASSERT_TRUE(log);
  const std::vector<int64_t> times = {base + 10 * 60000, base + 2 * kHour + 59 * 60000, base + 3 * kHour,
                                      base + 5 * kHour + 5 * 60000};
  for (size_t i = 0; i < times.size(); ++i) {
    EXPECT_TRUE(log->Append(Row("short", times[i], fmt::format("s{}", i), 1)));
    EXPECT_TRUE(log->Append(Row("long", times[i], fmt::format("l{}", i), 1)));
  }
  ASSERT_TRUE(log->Flush().ok());
  AppendToFile(dir.path() / "short" / "notes.txt", "not a segment");
  ASSERT_EQ(Segments(dir.path() / "short").size(), 4u);

  DeploymentLogPolicy two_hours;
  two_hours.retention_ms = 2 * kHour;
  ASSERT_TRUE(log->SetPolicy("short", two_hours).ok());
  // Cut-off base + 3h30: the hours ending at base + 1h and base + 3h go, base + 3h and + 5h stay.
  ASSERT_TRUE(log->ApplyRetention(base + 5 * kHour + 30 * 60000).ok());
  EXPECT_EQ(PredictionIds(dir.path(), "short"), (std::multiset<std::string>{"s2", "s3"}));
  EXPECT_EQ(Segments(dir.path() / "short").size(), 2u);
  EXPECT_TRUE(fs::exists(dir.path() / "short" / "notes.txt"));
  EXPECT_EQ(PredictionIds(dir.path(), "long"), (std::multiset<std::string>{"l0", "l1", "l2", "l3"}));
}

TEST(PredictionLogTest, WriterAppliesRetentionByItself) {
  ScratchDir dir;
  const fs::path stale = dir.path() / "d" / "20200101T00-otherhost-1-0.jsonl";
  fs::create_directories(stale.parent_path());
  AppendToFile(stale, R"({"prediction_id":"old","timestamp_ms":1577836800000})"
                      "\n");
  auto options = Options(dir.path());
  options.default_policy = DeploymentLogPolicy{};  // 30 days
  auto log = OpenLog(options);
  ASSERT_TRUE(log);
  EXPECT_TRUE(log->Append(Row("d", NowMillis(), "new", 1)));
  ASSERT_TRUE(log->Flush().ok());
  for (int i = 0; i < 500 && fs::exists(stale); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_EQ(PredictionIds(dir.path(), "d"), (std::multiset<std::string>{"new"}));
}

TEST(PredictionLogTest, ExportsParquetAndCsvWithRowCounts) {
  ScratchDir dir;
  const fs::path root = dir.path() / "log";
  {
    auto log = OpenLog(Options(root));
    ASSERT_TRUE(log);
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(log->Append(Row("d", At(10, i), fmt::format("a{}", i), i)));
    for (int i = 0; i < 15; ++i) EXPECT_TRUE(log->Append(Row("d", At(11, i), fmt::format("b{}", i), i)));
  }
  const fs::path out = dir.path() / "out";
  fs::create_directories(out);

  auto parquet = ExportPredictionLog(root, "d", At(10, 0), At(11, 0), (out / "hour10.parquet").string());
  ASSERT_TRUE(parquet.ok()) << parquet.status().message();
  EXPECT_EQ(*parquet, 10);
  auto read = Query("SELECT count(*), sum(x), min(prediction_id) FROM read_parquet(" +
                    SqlString((out / "hour10.parquet").string()) + ")");
  EXPECT_EQ(As<int64_t>(read.rows.at(0)[0]), 10);
  EXPECT_EQ(As<double>(read.rows.at(0)[1]), 45.0);
  EXPECT_EQ(As<std::string>(read.rows.at(0)[2]), "a0");

  auto csv = ExportPredictionLog(root, "d", 0, std::numeric_limits<int64_t>::max(), (out / "all.csv").string());
  ASSERT_TRUE(csv.ok()) << csv.status().message();
  EXPECT_EQ(*csv, 25);
  read = Query("SELECT count(*), sum(output_predictions) FROM read_csv(" + SqlString((out / "all.csv").string()) +
               ", header = true)");
  EXPECT_EQ(As<int64_t>(read.rows.at(0)[0]), 25);
  EXPECT_EQ(As<double>(read.rows.at(0)[1]), 2 * (45.0 + 105.0));

  auto empty = ExportPredictionLog(root, "d", At(12, 0), At(13, 0), (out / "none.csv").string());
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_EQ(*empty, 0);
  EXPECT_THAT(ReadFile(out / "none.csv"), HasSubstr("prediction_id"));

  auto json = ExportPredictionLog(root, "d", 0, At(13, 0), (out / "rows.json").string());
  EXPECT_EQ(json.status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_THAT(json.status().message(), HasSubstr(".parquet or .csv"));
  auto nowhere = ExportPredictionLog(root, "d", 0, At(13, 0), (out / "missing" / "x.csv").string());
  EXPECT_EQ(nowhere.status().code(), ErrorCode::kInvalidParameterValue);

  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(out)) names.insert(entry.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"hour10.parquet", "all.csv", "none.csv"}));  // no temporary left
}

TEST(PredictionLogTest, TimeRangeReadsOnlyOverlappingHours) {
  ScratchDir dir;
  {
    auto log = OpenLog(Options(dir.path()));
    ASSERT_TRUE(log);
    for (int hour = 10; hour <= 13; ++hour) {
      EXPECT_TRUE(log->Append(Row("d", At(hour, 15), fmt::format("h{}", hour), hour)));
    }
  }
  const std::string sql = LogSql(dir.path(), "d", At(11, 30), At(12, 20));
  EXPECT_THAT(sql, HasSubstr("20240301T11-*.jsonl"));
  EXPECT_THAT(sql, HasSubstr("20240301T12-*.jsonl"));
  EXPECT_THAT(sql, Not(HasSubstr("20240301T10-")));
  EXPECT_THAT(sql, Not(HasSubstr("20240301T13-")));
  EXPECT_EQ(As<std::string>(Query("SELECT prediction_id FROM " + sql).rows.at(0)[0]), "h12");
  EXPECT_EQ(CountRows(dir.path(), "d", At(11, 30), At(12, 20)), 1);
  // [from, to): the start is in, the end is out.
  EXPECT_EQ(CountRows(dir.path(), "d", At(12, 15), At(13, 15)), 1);
  EXPECT_EQ(CountRows(dir.path(), "d", At(10, 15), At(13, 15)), 3);
  EXPECT_EQ(CountRows(dir.path(), "d"), 4);

  // Nothing in range, an unknown deployment, an empty range: the meta columns and no rows.
  for (const auto& [deployment, from, to] :
       {std::tuple{std::string("d"), At(14, 0), At(20, 0)}, std::tuple{std::string("unknown"), int64_t{0}, At(20, 0)},
        std::tuple{std::string("d"), At(12, 0), At(12, 0)}}) {
    const std::string empty = LogSql(dir.path(), deployment, from, to);
    auto described = Query("DESCRIBE SELECT * FROM " + empty);
    EXPECT_EQ(described.rows.size(), 7u);
    EXPECT_EQ(CountRows(dir.path(), deployment, from, to), 0);
  }
  auto bad = PredictionLogSql(dir.path(), "../d", 0, At(20, 0));
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidParameterValue);
}

TEST(PredictionLogTest, DestructorWritesWhatIsQueued) {
  ScratchDir dir;
  auto options = Options(dir.path());
  options.flush_interval_ms = 3600 * 1000;
  {
    auto log = OpenLog(options);
    ASSERT_TRUE(log);
    for (int i = 0; i < 7; ++i) EXPECT_TRUE(log->Append(Row("d", At(10, i), fmt::format("p{}", i), i)));
    EXPECT_EQ(log->stats().logged_rows, 0u);
  }
  EXPECT_EQ(CountRows(dir.path(), "d"), 7);
}

TEST(PredictionLogTest, RowsReachDiskWithinTheFlushIntervalWithoutFlush) {
  ScratchDir dir;
  auto options = Options(dir.path());
  options.flush_interval_ms = 20;
  auto log = OpenLog(options);
  ASSERT_TRUE(log);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(log->Append(Row("d", At(10, i), fmt::format("p{}", i), i)));
  const auto start = std::chrono::steady_clock::now();
  while (log->stats().logged_rows < 5 && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(log->stats().logged_rows, 5u);
  EXPECT_EQ(CountRows(dir.path(), "d"), 5);
}

TEST(PredictionLogTest, WriteFailuresAreCountedAndReported) {
  ScratchDir dir;
  auto log = OpenLog(Options(dir.path()));
  ASSERT_TRUE(log);
  // A file where the deployment's directory should be: no segment can be created.
  AppendToFile(dir.path() / "blocked", "");
  EXPECT_TRUE(log->Append(Event("blocked", At(10, 0), {"p1", "p2"}, {Numbers("x", DataType::kFp64, {2}, {1, 2})}, {})));
  EXPECT_TRUE(log->Append(Row("fine", At(10, 0), "q1", 1)));
  Status flushed = log->Flush();
  EXPECT_EQ(flushed.code(), ErrorCode::kInternalError);
  EXPECT_THAT(flushed.message(), HasSubstr("blocked"));
  EXPECT_EQ(log->stats().write_errors, 2u);
  EXPECT_EQ(log->stats().logged_rows, 1u);  // other deployments are not held up
  EXPECT_TRUE(log->Flush().ok());           // an error is reported once, to the flushes it concerns

  fs::remove(dir.path() / "blocked");
  EXPECT_TRUE(log->Append(Row("blocked", At(10, 0), "p3", 3)));
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(PredictionIds(dir.path(), "blocked"), (std::multiset<std::string>{"p3"}));
}

TEST(PredictionLogTest, BadOptionsAndEventsAreRefused) {
  ScratchDir dir;
  auto message = [&](const std::function<void(PredictionLogOptions&)>& change) {
    auto options = Options(dir.path() / "log");
    change(options);
    auto log = PredictionLog::Open(options);
    EXPECT_FALSE(log.ok());
    EXPECT_EQ(log.status().code(), ErrorCode::kInvalidParameterValue);
    return log.status().message();
  };
  EXPECT_THAT(message([](auto& o) { o.queue_rows = 0; }), HasSubstr("queue_rows"));
  EXPECT_THAT(message([](auto& o) { o.flush_interval_ms = 0; }), HasSubstr("flush_interval_ms 0 is not in"));
  EXPECT_THAT(message([](auto& o) { o.flush_interval_ms = std::numeric_limits<int64_t>::max(); }),
              HasSubstr("flush_interval_ms"));
  EXPECT_THAT(message([](auto& o) { o.root = ""; }), HasSubstr("root"));
  EXPECT_THAT(message([](auto& o) { o.root = o.root / "a*"; }), HasSubstr("glob"));
  EXPECT_THAT(message([](auto& o) { o.default_policy.sampling = 1.5; }), HasSubstr("sampling 1.5 is not in [0, 1]"));
  EXPECT_THAT(message([](auto& o) { o.policies["d"].sampling = kNaN; }), HasSubstr("deployment 'd': sampling"));
  EXPECT_THAT(message([](auto& o) { o.policies["a/b"]; }), HasSubstr("deployment name 'a/b'"));
  EXPECT_THAT(message([](auto& o) { o.policies[".."]; }), HasSubstr("deployment name '..'"));
  EXPECT_THAT(message([](auto& o) { o.default_policy.retention_ms = 0; }), HasSubstr("retention_ms"));
  EXPECT_THAT(message([](auto& o) { o.default_policy.sensitive["email"] = "mask"; }),
              HasSubstr("expected hash or drop, not 'mask'"));
  EXPECT_THAT(message([](auto& o) { o.default_policy.sensitive["email"] = "hash"; }), HasSubstr("salt"));
  EXPECT_THAT(message([](auto& o) { o.default_policy.sensitive["request_id"] = "drop"; }), HasSubstr("meta column"));

  auto log = OpenLog(Options(dir.path() / "log"));
  ASSERT_TRUE(log);
  DeploymentLogPolicy bad;
  bad.sampling = -0.1;
  EXPECT_EQ(log->SetPolicy("d", bad).code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(log->SetPolicy("../d", DeploymentLogPolicy{}).code(), ErrorCode::kInvalidParameterValue);

  EXPECT_FALSE(log->Append(Row("../etc", At(10, 0), "p", 1)));
  EXPECT_FALSE(log->Append(Row("d", -1, "p", 1)));
  EXPECT_FALSE(log->Append(Event("d", At(10, 0), {"p1", "p2"}, {Numbers("x", DataType::kFp64, {1}, {1})}, {})));
  EXPECT_FALSE(log->Append(Event("d", At(10, 0), {"p1"}, {Numbers("x", DataType::kFp64, {1, 2}, {1})}, {})));
  EXPECT_EQ(log->stats().invalid_rows, 1u + 1u + 2u + 1u);
  // Keys that DuckDB cannot tell apart: x and X.
  EXPECT_TRUE(log->Append(Event(
      "d", At(10, 0), {"p1"}, {Numbers("x", DataType::kFp64, {1}, {1}), Numbers("X", DataType::kFp64, {1}, {2})}, {})));
  // An input named like an output's key is renamed rather than refused.
  EXPECT_TRUE(log->Append(Event("d", At(10, 0), {"p2"}, {Numbers("output_y", DataType::kFp64, {1}, {1})},
                                {Numbers("y", DataType::kFp64, {1}, {2})})));
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(log->stats().invalid_rows, 6u);
  EXPECT_EQ(log->stats().logged_rows, 1u);
  auto renamed = Query("SELECT input_output_y, output_y FROM " + LogSql(dir.path() / "log", "d"));
  EXPECT_EQ(As<double>(renamed.rows.at(0)[0]), 1.0);
  EXPECT_EQ(As<double>(renamed.rows.at(0)[1]), 2.0);
}

}  // namespace
}  // namespace lathe::monitoring
