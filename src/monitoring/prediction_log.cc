// The prediction log's writer (queue, sampling, JSON lines, segment files, retention) and its
// readers (the DuckDB relation over a time range, exports).
#include "monitoring/prediction_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/compile.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/json_text.h"
#include "storage/duckdb.h"

namespace lathe::monitoring {
namespace {

namespace fs = std::filesystem;
using models::DataType;
using EventColumn = PredictionEvent::Column;
using storage::SqlString;

constexpr int64_t kHourMs = 3600 * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kEndOfYear9999Ms = 253402300800000;  // 10000-01-01T00:00:00Z
// Strings of the hashes of one DuckDB statement: bounds the SQL text, not the batch.
constexpr size_t kHashesPerQuery = 4096;
// A segment's lines are written once they reach this size, and at the end of each batch: one
// write() per flush in the common case, and memory that does not grow with the batch.
constexpr size_t kWriteBytes = 1 << 20;

// The meta keys in the order they are written, and their types as PredictionLogSql reads them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kMetaColumns = {{
    {"prediction_id", "VARCHAR"},
    {"request_id", "VARCHAR"},
    {"deployment", "VARCHAR"},
    {"model", "VARCHAR"},
    {"model_version", "VARCHAR"},
    {"timestamp_ms", "BIGINT"},
    {"latency_ms", "DOUBLE"},
}};

// Segment names are unique within the process across every PredictionLog; O_EXCL settles the rest
// (a restarted process that reuses a pid, as in containers).
std::atomic<uint64_t> g_next_segment_seq{0};

// DuckDB resolves column names case-insensitively, so keys that differ only in case collide.
std::string AsciiLower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

bool IsMetaKey(std::string_view key) {
  const std::string lower = AsciiLower(key);
  return std::any_of(kMetaColumns.begin(), kMetaColumns.end(), [&](const auto& meta) { return meta.first == lower; });
}

Status ValidateDeploymentName(std::string_view name) {
  if (name.empty()) return Status::InvalidParameter("deployment name is empty");
  if (name == "." || name == "..") {
    return Status::InvalidParameter(fmt::format("deployment name '{}' cannot name a directory", name));
  }
  for (char c : name) {
    // '/' would leave the deployment's directory; *, ? and [ would be read as globs by DuckDB.
    if (c == '/' || c == '\\' || c == '*' || c == '?' || c == '[' || static_cast<unsigned char>(c) < 0x20) {
      return Status::InvalidParameter(fmt::format(
          "deployment name '{}' has a character not allowed in a log path (/ \\ * ? [ or a control character)", name));
    }
  }
  return Status::Ok();
}

Status ValidateRoot(const fs::path& root) {
  if (root.empty()) return Status::InvalidParameter("the prediction log root is empty");
  if (root.string().find_first_of("*?[") != std::string::npos) {
    return Status::InvalidParameter(
        fmt::format("prediction log root {} contains *, ? or [, which DuckDB would read as a glob", root.string()));
  }
  return Status::Ok();
}

Status ValidatePolicy(std::string_view deployment, const DeploymentLogPolicy& policy, bool has_salt) {
  const std::string what = deployment.empty() ? "the default log policy" : fmt::format("deployment '{}'", deployment);
  if (!(policy.sampling >= 0 && policy.sampling <= 1)) {
    return Status::InvalidParameter(fmt::format("{}: sampling {} is not in [0, 1]", what, policy.sampling));
  }
  if (policy.retention_ms <= 0) {
    return Status::InvalidParameter(fmt::format("{}: retention_ms {} is not positive", what, policy.retention_ms));
  }
  for (const auto& [column, action] : policy.sensitive) {
    if (action != "hash" && action != "drop") {
      return Status::InvalidParameter(
          fmt::format("{}: sensitive column '{}': expected hash or drop, not '{}'", what, column, action));
    }
    if (IsMetaKey(column)) {
      return Status::InvalidParameter(fmt::format(
          "{}: sensitive column '{}' is a meta column; only inputs (input_{} if so named) and outputs can be hashed "
          "or dropped",
          what, column, column));
    }
    if (action == "hash" && !has_salt) {
      return Status::InvalidParameter(fmt::format("{}: hashing column '{}' needs a salt in the options", what, column));
    }
  }
  return Status::Ok();
}

// "YYYYMMDDTHH" of the UTC hour starting at `hour_ms` (>= 0).
std::string HourText(int64_t hour_ms) {
  using namespace std::chrono;
  const year_month_day date{sys_days{days{hour_ms / kDayMs}}};
  return fmt::format("{:04d}{:02d}{:02d}T{:02d}", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                     static_cast<unsigned>(date.day()), hour_ms % kDayMs / kHourMs);
}

// The start of the hour a segment file holds, from its name; nullopt for any other file.
std::optional<int64_t> SegmentHour(std::string_view name) {
  constexpr std::string_view kSuffix = ".jsonl";
  if (name.size() < 12 + kSuffix.size() || name[8] != 'T' || name[11] != '-' ||
      name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return std::nullopt;
  }
  auto number = [&](size_t from, size_t length) -> std::optional<int> {
    int value = 0;
    auto [end, error] = std::from_chars(name.data() + from, name.data() + from + length, value);
    if (error != std::errc() || end != name.data() + from + length) return std::nullopt;
    return value;
  };
  auto year = number(0, 4), month = number(4, 2), day = number(6, 2), hour = number(9, 2);
  if (!year || !month || !day || !hour || *hour > 23) return std::nullopt;
  using namespace std::chrono;
  const year_month_day date{std::chrono::year{*year}, std::chrono::month(static_cast<unsigned>(*month)),
                            std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  return static_cast<int64_t>(sys_days{date}.time_since_epoch().count()) * kDayMs + *hour * kHourMs;
}

// A stable hash (FNV-1a, then splitmix64's finaliser to spread it) mapped to [0, 1): the same
// prediction id gets the same draw in every process, build and rerun, unlike std::hash.
double SampleDraw(std::string_view prediction_id) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : prediction_id) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ULL;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebULL;
  hash ^= hash >> 31;
  return static_cast<double>(hash >> 11) * 0x1.0p-53;
}

// The shortest text that reads back as `value` (fmt's Dragonbox: twice as fast as libstdc++'s
// to_chars here). Floats always carry a '.' or an exponent, so that DuckDB types a float column
// DOUBLE even when every value is whole.
template <typename Float>
void AppendFloat(std::string& out, Float value) {
  char buffer[32];
  // Whole numbers (counts, ids, ages sent as floats) are common features: integer formatting is
  // several times cheaper than the shortest-float search. -0.0 takes the general path for its sign.
  if (value == std::trunc(value) && std::abs(value) < Float(1e15) && (value != 0 || !std::signbit(value))) {
    out.append(buffer, std::to_chars(buffer, buffer + sizeof(buffer), static_cast<int64_t>(value)).ptr);
    out += ".0";
    return;
  }
  char* end = fmt::format_to(buffer, FMT_COMPILE("{}"), value);
  out.append(buffer, end);
  if (std::none_of(buffer, end, [](char c) { return c == '.' || c == 'e'; })) out += ".0";
}

void AppendElement(std::string& out, const PredictionEvent& event, const EventColumn& column, size_t index) {
  if (column.is_bytes()) {
    if (event.is_null(column, index)) {
      out += "null";
    } else {
      AppendJsonString(out, event.string(column, index));
    }
    return;
  }
  const double value = event.number(column, index);
  if (!std::isfinite(value)) {
    out += "null";
  } else if (column.datatype == DataType::kBool) {
    out += value != 0 ? "true" : "false";
  } else if (models::IsInteger(column.datatype) && std::abs(value) < 0x1.0p63) {
    char buffer[24];
    out.append(buffer, std::to_chars(buffer, buffer + sizeof(buffer), static_cast<int64_t>(value)).ptr);
  } else if (column.datatype == DataType::kFp32) {
    AppendFloat(out, static_cast<float>(value));
  } else {
    AppendFloat(out, value);
  }
}

// Row `row` of the column: a scalar, or a flat array when a row has more than one element.
void AppendCell(std::string& out, const PredictionEvent& event, const EventColumn& column, int64_t row) {
  const int64_t width = column.width;
  const size_t base = static_cast<size_t>(row * width);
  if (width == 1) {
    AppendElement(out, event, column, base);
    return;
  }
  out += '[';
  for (int64_t k = 0; k < width; ++k) {
    if (k > 0) out += ',';
    AppendElement(out, event, column, base + static_cast<size_t>(k));
  }
  out += ']';
}

// The text a hashed cell is hashed from: a string itself, anything else its JSON; nullopt for null.
std::optional<std::string> HashedText(const PredictionEvent& event, const EventColumn& column, int64_t row) {
  if (column.is_bytes() && column.width == 1) {
    if (event.is_null(column, static_cast<size_t>(row))) return std::nullopt;
    return std::string(event.string(column, static_cast<size_t>(row)));
  }
  std::string text;
  AppendCell(text, event, column, row);
  if (text == "null") return std::nullopt;
  return text;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  return hex;
}

Status ValidateEvent(const PredictionEvent& event) {
  LATHE_RETURN_IF_ERROR(ValidateDeploymentName(event.deployment));
  if (event.timestamp_ms < 0 || event.timestamp_ms >= kEndOfYear9999Ms) {
    return Status::InvalidParameter(fmt::format("timestamp_ms {} is outside years 1970..9999", event.timestamp_ms));
  }
  const auto rows = static_cast<int64_t>(event.prediction_ids.size());
  for (const EventColumn& column : event.columns()) {
    if (column.rows != rows) {
      return Status::InvalidParameter(
          fmt::format("tensor '{}' has {} rows for {} prediction ids", column.name, column.rows, rows));
    }
    if (column.width < 0 || column.count != static_cast<size_t>(rows * column.width) || !column.nulls_match) {
      return Status::InvalidParameter(
          fmt::format("tensor '{}' holds {} elements, not rows x width", column.name, column.count));
    }
  }
  return Status::Ok();
}

Status SyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Internal(fmt::format("cannot open {}: {}", dir.string(), std::strerror(errno)));
  const int synced = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (synced != 0) return Status::Internal(fmt::format("cannot sync {}: {}", dir.string(), std::strerror(error)));
  return Status::Ok();
}

// One write() in the normal case; a short write (a signal, a full disk) continues where it stopped.
Status WriteAll(int fd, std::string_view bytes, const fs::path& path) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return Status::Internal(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return Status::Ok();
}

// The host name as it may appear in a file name.
std::string FileSafeHostname() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof(buffer) - 1) != 0 || buffer[0] == '\0') return "localhost";
  std::string name(buffer);
  for (char& c : name) {
    const bool safe =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    if (!safe) c = '_';
  }
  return name;
}

// DuckDB types strings that look like UUIDs, dates or times as such; a log column keeps the text.
std::string ReadType(std::string type) {
  size_t dimensions = 0;
  while (type.size() > 2 && type.compare(type.size() - 2, 2, "[]") == 0) {
    type.resize(type.size() - 2);
    ++dimensions;
  }
  static const std::set<std::string> kFromStrings = {
      "UUID",         "DATE",         "TIME",       "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIME WITH TIME ZONE",
      "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"};
  if (kFromStrings.count(type) > 0) type = "VARCHAR";
  for (size_t i = 0; i < dimensions; ++i) type += "[]";
  return type;
}

std::string EmptyLogSql() {
  std::string columns;
  for (const auto& [name, type] : kMetaColumns) {
    if (!columns.empty()) columns += ", ";
    columns += fmt::format("CAST(NULL AS {}) AS {}", type, name);
  }
  return fmt::format("(SELECT {} WHERE false)", columns);
}

}  // namespace

struct PredictionLog::Impl {
  struct Pending {
    PredictionEvent event;
    std::vector<uint8_t> keep;  // per row, 1 = sampled in; empty when every row is
    size_t rows = 0;            // rows kept
  };
  // An open segment and the lines on their way to it.
  struct Segment {
    int fd = -1;
    fs::path path;
    std::string buffer;          // whole lines not yet written; its capacity is reused
    uint64_t buffered_rows = 0;  // in `buffer`
    uint64_t unsynced_rows = 0;  // written, not yet fdatasync'ed
    bool written = false;        // in the current batch
  };
  struct Column {
    size_t index = 0;    // in the event's columns
    std::string prefix;  // ,"key":
    bool hash = false;
  };
  // How one deployment's events become lines; shared by the events of a batch with the same
  // layout, so that keys are escaped and checked once per batch, not per event.
  struct Plan {
    const PredictionEvent::Layout* layout = nullptr;  // the layout it was made for (kept alive by the events)
    std::vector<Column> columns;                      // without dropped ones
    bool valid = true;                                // false when two columns would share a key
    bool hashes = false;
  };

  explicit Impl(PredictionLogOptions options_in)
      : options(std::move(options_in)), hostname(FileSafeHostname()), pid(::getpid()) {
    policies = std::move(options.policies);
    default_policy = std::move(options.default_policy);
  }

  const DeploymentLogPolicy& PolicyFor(const std::string& deployment) const {
    auto it = policies.find(deployment);
    return it == policies.end() ? default_policy : it->second;
  }

  void Run();
  Status WriteBatch(std::vector<Pending>& batch);
  static std::unique_ptr<Plan> MakePlan(const PredictionEvent& event, const DeploymentLogPolicy& policy);
  Status ComputeHashes(std::unordered_map<std::string, std::string>& hashes);
  Result<Segment*> SegmentFor(const std::string& deployment, int64_t hour_ms);
  // Writes the segment's buffer; with `sync`, also fdatasync()s and counts its rows as logged. A
  // failure counts the segment's unsynced rows as write errors and closes it.
  Status Drain(std::map<std::pair<std::string, int64_t>, Segment>::iterator segment, bool sync);
  void AppendLines(const Pending& pending, const Plan& plan, const std::unordered_map<std::string, std::string>& hashes,
                   std::string& out);
  void CloseIdleSegments(int64_t now_ms);
  Status ApplyRetention(int64_t now_ms);
  void ReportInvalid(const std::string& deployment, const Status& why);

  const PredictionLogOptions options;  // root, interval, queue size and salt; the policies live below
  const std::string hostname;
  const int pid;

  mutable std::shared_mutex policy_mutex;
  std::map<std::string, DeploymentLogPolicy> policies;
  DeploymentLogPolicy default_policy;

  std::mutex mutex;
  std::condition_variable wake;     // the writer: a flush request, a filling queue, stop
  std::condition_variable flushed;  // Flush callers
  std::vector<Pending> queue;
  size_t queue_rows = 0;
  uint64_t flush_requested = 0;  // tickets handed to Flush callers
  uint64_t flush_taken = 0;      // the last ticket the writer's current batch covers
  uint64_t flush_done = 0;       // the last ticket whose batch is on disk
  uint64_t error_ticket = 0;     // the last ticket whose batch had a failure, with `error`
  Status error;
  bool stop = false;

  std::atomic<uint64_t> logged{0}, dropped{0}, sampled_out{0}, invalid{0}, write_errors{0}, queued{0};
  std::atomic<bool> invalid_reported{false};

  // The writer thread's own.
  std::map<std::pair<std::string, int64_t>, Segment> segments;  // by (deployment, hour)
  std::unique_ptr<storage::DuckDb> hasher;                      // opened on the first hashed column
  std::string meta;                                             // an event's meta keys, reused

  std::thread writer;
};

void PredictionLog::Impl::ReportInvalid(const std::string& deployment, const Status& why) {
  // Once per log: a misbehaving caller would flood the log; the counter tells the rest.
  if (!invalid_reported.exchange(true)) {
    spdlog::warn(
        "prediction log: an event of deployment '{}' is not logged: {} (further ones are only counted in "
        "invalid_rows)",
        deployment, why.message());
  }
}

std::unique_ptr<PredictionLog::Impl::Plan> PredictionLog::Impl::MakePlan(const PredictionEvent& event,
                                                                         const DeploymentLogPolicy& policy) {
  auto plan = std::make_unique<Plan>();
  plan->layout = event.layout();
  const std::vector<EventColumn>& columns = event.columns();
  std::vector<std::string> keys;  // lower case, to find collisions
  for (const auto& meta : kMetaColumns) keys.emplace_back(meta.first);
  std::vector<std::string> output_keys;
  for (const EventColumn& column : columns) {
    if (column.output) output_keys.push_back("output_" + column.name);
  }
  auto add = [&](size_t index, const std::string& key) {
    keys.push_back(AsciiLower(key));
    auto rule = policy.sensitive.find(key);
    if (rule != policy.sensitive.end() && rule->second == "drop") return;
    Column column{index, ",", rule != policy.sensitive.end()};
    AppendJsonString(column.prefix, key);
    column.prefix += ':';
    plan->hashes |= column.hash;
    plan->columns.push_back(std::move(column));
  };
  // Inputs first, then outputs, whatever order they were added in.
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].output) continue;
    const std::string& name = columns[i].name;
    const std::string lower = AsciiLower(name);
    const bool collides = IsMetaKey(name) || std::any_of(output_keys.begin(), output_keys.end(),
                                                         [&](auto& key) { return AsciiLower(key) == lower; });
    add(i, collides ? "input_" + name : name);
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].output) add(i, "output_" + columns[i].name);
  }
  std::sort(keys.begin(), keys.end());
  plan->valid = std::adjacent_find(keys.begin(), keys.end()) == keys.end();
  return plan;
}

Status PredictionLog::Impl::ComputeHashes(std::unordered_map<std::string, std::string>& hashes) {
  if (hashes.empty()) return Status::Ok();
  if (!hasher) {
    storage::DuckDbOptions db_options;
    db_options.threads = 1;
    LATHE_ASSIGN_OR_RETURN(hasher, storage::DuckDb::Open(db_options));
  }
  std::vector<std::pair<const std::string*, std::string*>> pending;
  pending.reserve(hashes.size());
  for (auto& [text, hash] : hashes) pending.emplace_back(&text, &hash);
  for (size_t start = 0; start < pending.size(); start += kHashesPerQuery) {
    const size_t end = std::min(pending.size(), start + kHashesPerQuery);
    // Hex keeps any bytes (NUL, invalid UTF-8) out of the SQL text; sha256 hashes the BLOB itself.
    std::string sql = "SELECT i, sha256(from_hex(x)) FROM (VALUES ";
    for (size_t i = start; i < end; ++i) {
      if (i > start) sql += ", ";
      sql += fmt::format("({}, '{}')", i - start, Hex(options.salt + *pending[i].first));
    }
    sql += ") AS t(i, x)";
    LATHE_ASSIGN_OR_RETURN(auto table, hasher->Query(sql));
    for (const auto& row : table.rows) {
      *pending[start + static_cast<size_t>(std::get<int64_t>(row[0]))].second = std::get<std::string>(row[1]);
    }
  }
  return Status::Ok();
}

Result<PredictionLog::Impl::Segment*> PredictionLog::Impl::SegmentFor(const std::string& deployment, int64_t hour_ms) {
  auto key = std::make_pair(deployment, hour_ms);
  if (auto it = segments.find(key); it != segments.end()) return &it->second;
  const fs::path dir = options.root / deployment;
  std::error_code error;
  // The directory entries must be durable too, or a synced segment could vanish in a crash.
  if (fs::create_directories(dir, error)) LATHE_RETURN_IF_ERROR(SyncDirectory(options.root));
  if (error) return Status::Internal(fmt::format("cannot create {}: {}", dir.string(), error.message()));
  const std::string hour = HourText(hour_ms);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    fs::path path = dir / fmt::format("{}-{}-{}-{}.jsonl", hour, hostname, pid, g_next_segment_seq++);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) return Status::Internal(fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
    if (Status synced = SyncDirectory(dir); !synced.ok()) {
      ::close(fd);
      return synced;
    }
    Segment segment;
    segment.fd = fd;
    segment.path = std::move(path);
    return &segments.emplace(std::move(key), std::move(segment)).first->second;
  }
  return Status::Internal(fmt::format("no free segment name in {} after 1000 attempts", dir.string()));
}

Status PredictionLog::Impl::Drain(std::map<std::pair<std::string, int64_t>, Segment>::iterator it, bool sync) {
  Segment& segment = it->second;
  Status status = WriteAll(segment.fd, segment.buffer, segment.path);
  segment.buffer.clear();
  if (status.ok()) {
    segment.unsynced_rows += segment.buffered_rows;
    segment.buffered_rows = 0;
    segment.written = true;
    if (!sync) return status;
    if (::fdatasync(segment.fd) == 0) {
      logged += segment.unsynced_rows;
      segment.unsynced_rows = 0;
      return status;
    }
    status = Status::Internal(fmt::format("cannot sync {}: {}", segment.path.string(), std::strerror(errno)));
  }
  write_errors += segment.buffered_rows + segment.unsynced_rows;
  // A failed write may have left part of a line: later rows go to a fresh file, so that the torn
  // line stays the last one of its file, where readers skip it.
  ::close(segment.fd);
  segments.erase(it);
  return status;
}

void PredictionLog::Impl::AppendLines(const Pending& pending, const Plan& plan,
                                      const std::unordered_map<std::string, std::string>& hashes, std::string& out) {
  const PredictionEvent& event = pending.event;
  meta.assign(",\"request_id\":");
  AppendJsonString(meta, event.request_id);
  meta += ",\"deployment\":";
  AppendJsonString(meta, event.deployment);
  meta += ",\"model\":";
  AppendJsonString(meta, event.model);
  meta += ",\"model_version\":";
  AppendJsonString(meta, event.model_version);
  meta += ",\"timestamp_ms\":";
  char number[24];
  meta.append(number, std::to_chars(number, number + sizeof(number), event.timestamp_ms).ptr);
  meta += ",\"latency_ms\":";
  if (std::isfinite(event.latency_ms)) {
    AppendFloat(meta, event.latency_ms);
  } else {
    meta += "null";
  }
  for (size_t row = 0; row < event.prediction_ids.size(); ++row) {
    if (!pending.keep.empty() && !pending.keep[row]) continue;
    out += "{\"prediction_id\":";
    AppendJsonString(out, event.prediction_ids[row]);
    out += meta;
    for (const Column& column : plan.columns) {
      const EventColumn& source_column = event.columns()[column.index];
      out += column.prefix;
      if (!column.hash) {
        AppendCell(out, event, source_column, static_cast<int64_t>(row));
      } else if (auto source = HashedText(event, source_column, static_cast<int64_t>(row))) {
        out += '"';
        out += hashes.at(*source);
        out += '"';
      } else {
        out += "null";
      }
    }
    out += "}\n";
  }
}

void PredictionLog::Impl::CloseIdleSegments(int64_t now_ms) {
  for (auto it = segments.begin(); it != segments.end();) {
    // Rows of a past hour still arrive for a moment (requests in flight at the turn of the hour):
    // a segment closes once a batch passes without writing to it.
    if (!it->second.written && it->first.second + kHourMs <= now_ms) {
      ::close(it->second.fd);
      it = segments.erase(it);
    } else {
      it->second.written = false;
      ++it;
    }
  }
}

Status PredictionLog::Impl::WriteBatch(std::vector<Pending>& batch) {
  if (batch.empty()) return Status::Ok();
  std::map<std::string, DeploymentLogPolicy> batch_policies;
  {
    std::shared_lock lock(policy_mutex);
    for (size_t i = 0; i < batch.size(); ++i) {
      const std::string& deployment = batch[i].event.deployment;
      if (i > 0 && deployment == batch[i - 1].event.deployment) continue;
      if (!batch_policies.count(deployment)) batch_policies.emplace(deployment, PolicyFor(deployment));
    }
  }

  std::vector<std::unique_ptr<Plan>> plans;
  std::unordered_map<std::string, const Plan*> latest_plan;  // by deployment
  std::vector<const Plan*> event_plans(batch.size());
  std::unordered_map<std::string, std::string> hashes;  // unsalted text -> hex digest
  for (size_t i = 0; i < batch.size(); ++i) {
    const PredictionEvent& event = batch[i].event;
    // Runs of one deployment's events are the common case: no map lookup for them.
    const bool as_previous = i > 0 && event.layout() == batch[i - 1].event.layout() &&
                             event.deployment == batch[i - 1].event.deployment;
    const Plan* plan = as_previous ? event_plans[i - 1] : nullptr;
    if (!plan) {
      const Plan*& latest = latest_plan[event.deployment];
      if (!latest || latest->layout != event.layout()) {
        plans.push_back(MakePlan(event, batch_policies.at(event.deployment)));
        latest = plans.back().get();
      }
      plan = latest;
    }
    event_plans[i] = plan;
    if (!plan->valid) {
      invalid += batch[i].rows;
      ReportInvalid(event.deployment, Status::InvalidParameter("two columns have the same key (case-insensitively)"));
      continue;
    }
    if (!plan->hashes) continue;
    for (const Column& column : plan->columns) {
      if (!column.hash) continue;
      const EventColumn& source = event.columns()[column.index];
      for (int64_t row = 0; row < source.rows; ++row) {
        if (!batch[i].keep.empty() && !batch[i].keep[static_cast<size_t>(row)]) continue;
        if (auto text = HashedText(event, source, row)) hashes.emplace(std::move(*text), std::string());
      }
    }
  }
  Status first_error = ComputeHashes(hashes);
  const bool hashed = first_error.ok();
  if (!hashed) first_error = Status::Internal("cannot hash sensitive columns: " + first_error.message());
  auto note = [&](const Status& status) {
    if (!status.ok() && first_error.ok()) first_error = status;
  };

  // The previous event's segment, for runs of one deployment and hour; forgotten at a drain, which
  // may close it.
  Segment* last_segment = nullptr;
  const std::string* last_deployment = nullptr;
  int64_t last_hour_ms = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Pending& pending = batch[i];
    const Plan& plan = *event_plans[i];
    if (!plan.valid) continue;
    if (plan.hashes && !hashed) {
      write_errors += pending.rows;
      continue;
    }
    const PredictionEvent& event = pending.event;
    const int64_t hour_ms = event.timestamp_ms / kHourMs * kHourMs;
    if (!last_segment || hour_ms != last_hour_ms || event.deployment != *last_deployment) {
      auto segment = SegmentFor(event.deployment, hour_ms);
      if (!segment.ok()) {
        write_errors += pending.rows;
        note(segment.status());
        last_segment = nullptr;
        continue;
      }
      last_segment = *segment;
      last_deployment = &event.deployment;
      last_hour_ms = hour_ms;
    }
    Segment& file = *last_segment;
    AppendLines(pending, plan, hashes, file.buffer);
    file.buffered_rows += pending.rows;
    if (file.buffer.size() >= kWriteBytes) {
      note(Drain(segments.find({event.deployment, hour_ms}), false));
      last_segment = nullptr;
    }
  }
  for (auto it = segments.begin(); it != segments.end();) {
    auto next = std::next(it);
    if (it->second.buffered_rows > 0 || it->second.unsynced_rows > 0) note(Drain(it, true));
    it = next;
  }
  return first_error;
}

void PredictionLog::Impl::Run() {
  const auto interval = std::chrono::milliseconds(options.flush_interval_ms);
  const size_t high_water = std::max<size_t>(1, options.queue_rows / 2);
  int64_t next_retention_ms = 0;
  auto next_flush = std::chrono::steady_clock::now() + interval;
  std::vector<Pending> batch;  // swapped with the queue, so that both keep their capacity
  std::unique_lock lock(mutex);
  while (true) {
    wake.wait_until(lock, next_flush,
                    [&] { return stop || flush_requested != flush_taken || queue_rows >= high_water; });
    batch.swap(queue);
    const size_t taken_rows = queue_rows;
    queue_rows = 0;
    const uint64_t ticket = flush_requested;
    flush_taken = ticket;
    const bool stopping = stop;
    // The next flush is one interval after this one took the queue: no queued row waits longer.
    next_flush = std::chrono::steady_clock::now() + interval;
    lock.unlock();

    Status status = WriteBatch(batch);
    if (!status.ok()) spdlog::error("prediction log: {}", status.message());
    batch.clear();
    queued -= taken_rows;
    lock.lock();
    flush_done = ticket;
    if (!status.ok()) {
      error_ticket = ticket;
      error = status;
    }
    flushed.notify_all();
    if (stopping) break;
    lock.unlock();

    const int64_t now_ms = NowMillis();
    CloseIdleSegments(now_ms);
    if (options.retention_every_ms > 0 && now_ms >= next_retention_ms) {
      next_retention_ms = now_ms + options.retention_every_ms;
      Status retained = ApplyRetention(now_ms);
      if (!retained.ok()) spdlog::warn("prediction log retention: {}", retained.message());
    }
    lock.lock();
  }
  for (auto& [key, segment] : segments) ::close(segment.fd);
  segments.clear();
}

PredictionLog::PredictionLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<PredictionLog>> PredictionLog::Open(PredictionLogOptions options) {
  LATHE_RETURN_IF_ERROR(ValidateRoot(options.root));
  if (options.retention_every_ms < 0) {
    return Status::InvalidParameter(fmt::format("retention_every_ms {} is negative", options.retention_every_ms));
  }
  if (options.flush_interval_ms <= 0 || options.flush_interval_ms > kDayMs) {
    return Status::InvalidParameter(
        fmt::format("flush_interval_ms {} is not in 1..{} (one day)", options.flush_interval_ms, kDayMs));
  }
  if (options.queue_rows == 0) return Status::InvalidParameter("queue_rows is 0: the log could hold no row");
  const bool has_salt = !options.salt.empty();
  LATHE_RETURN_IF_ERROR(ValidatePolicy("", options.default_policy, has_salt));
  for (const auto& [deployment, policy] : options.policies) {
    LATHE_RETURN_IF_ERROR(ValidateDeploymentName(deployment));
    LATHE_RETURN_IF_ERROR(ValidatePolicy(deployment, policy, has_salt));
  }
  std::error_code error;
  fs::create_directories(options.root, error);
  if (error) {
    return Status::Internal(
        fmt::format("cannot create the prediction log root {}: {}", options.root.string(), error.message()));
  }
  std::unique_ptr<PredictionLog> log(new PredictionLog(std::make_unique<Impl>(std::move(options))));
  log->impl_->writer = std::thread([impl = log->impl_.get()] { impl->Run(); });
  return log;
}

PredictionLog::~PredictionLog() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->wake.notify_one();
  impl_->writer.join();
}

bool PredictionLog::Append(PredictionEvent&& event) {
  Impl& impl = *impl_;
  const size_t rows = event.prediction_ids.size();
  if (Status valid = ValidateEvent(event); !valid.ok()) {
    impl.invalid += rows;
    impl.ReportInvalid(event.deployment, valid);
    return false;
  }
  if (rows == 0) return true;
  double sampling;
  {
    std::shared_lock lock(impl.policy_mutex);
    sampling = impl.PolicyFor(event.deployment).sampling;
  }
  std::vector<uint8_t> keep;
  size_t kept = rows;
  if (sampling < 1) {
    kept = 0;
    for (const auto& id : event.prediction_ids) kept += SampleDraw(id) < sampling;
    impl.sampled_out += rows - kept;
    if (kept == 0) return true;
    // A mask only for events sampled in part (never for one-row events, the common case).
    if (kept < rows) {
      keep.resize(rows);
      for (size_t row = 0; row < rows; ++row) keep[row] = SampleDraw(event.prediction_ids[row]) < sampling;
    }
  }
  {
    std::lock_guard lock(impl.mutex);
    if (impl.queue_rows + kept > impl.options.queue_rows) {
      impl.dropped += kept;
      return false;
    }
    const bool was_below = impl.queue_rows < std::max<size_t>(1, impl.options.queue_rows / 2);
    impl.queue.push_back({std::move(event), std::move(keep), kept});
    impl.queue_rows += kept;
    impl.queued += kept;
    // Half full: write now rather than at the interval, so that bursts do not overflow.
    if (was_below && impl.queue_rows >= std::max<size_t>(1, impl.options.queue_rows / 2)) impl.wake.notify_one();
  }
  return true;
}

Status PredictionLog::Flush() {
  std::unique_lock lock(impl_->mutex);
  const uint64_t ticket = ++impl_->flush_requested;
  impl_->wake.notify_one();
  impl_->flushed.wait(lock, [&] { return impl_->flush_done >= ticket; });
  if (impl_->error_ticket >= ticket) return impl_->error;
  return Status::Ok();
}

Status PredictionLog::SetPolicy(const std::string& deployment, DeploymentLogPolicy policy) {
  LATHE_RETURN_IF_ERROR(ValidateDeploymentName(deployment));
  LATHE_RETURN_IF_ERROR(ValidatePolicy(deployment, policy, !impl_->options.salt.empty()));
  std::unique_lock lock(impl_->policy_mutex);
  impl_->policies[deployment] = std::move(policy);
  return Status::Ok();
}

PredictionLog::Stats PredictionLog::stats() const {
  Stats stats;
  stats.logged_rows = impl_->logged.load();
  stats.dropped_rows = impl_->dropped.load();
  stats.sampled_out_rows = impl_->sampled_out.load();
  stats.invalid_rows = impl_->invalid.load();
  stats.write_errors = impl_->write_errors.load();
  stats.queued_rows = impl_->queued.load();
  return stats;
}

Status PredictionLog::ApplyRetention(int64_t now_ms) {
  return impl_->ApplyRetention(now_ms);
}

Status PredictionLog::Impl::ApplyRetention(int64_t now_ms) {
  const fs::path& root = options.root;
  Status status;
  auto note = [&](const fs::path& path, const std::error_code& error, const char* what) {
    if (status.ok()) status = Status::Internal(fmt::format("cannot {} {}: {}", what, path.string(), error.message()));
  };
  std::vector<fs::path> expired;  // collected first: no removal while a directory is listed
  std::error_code error;
  for (fs::directory_iterator dir(root, error), end; !error && dir != end; dir.increment(error)) {
    const std::string deployment = dir->path().filename().string();
    std::error_code ignored;
    if (!dir->is_directory(ignored) || !ValidateDeploymentName(deployment).ok()) continue;
    int64_t retention_ms;
    {
      std::shared_lock lock(policy_mutex);
      retention_ms = PolicyFor(deployment).retention_ms;
    }
    std::error_code inner;
    for (fs::directory_iterator file(dir->path(), inner), file_end; !inner && file != file_end; file.increment(inner)) {
      auto hour = SegmentHour(file->path().filename().string());
      if (hour && *hour + kHourMs <= now_ms - retention_ms) expired.push_back(file->path());
    }
    if (inner) note(dir->path(), inner, "list");
  }
  if (error) note(root, error, "list");
  for (const auto& path : expired) {
    std::error_code removed;
    // Another process's retention may have removed it first.
    fs::remove(path, removed);
    if (removed && removed != std::errc::no_such_file_or_directory) note(path, removed, "delete");
  }
  return status;
}

Result<std::string> PredictionLogSql(const fs::path& root, const std::string& deployment, int64_t from_ms,
                                     int64_t to_ms) {
  LATHE_RETURN_IF_ERROR(ValidateRoot(root));
  LATHE_RETURN_IF_ERROR(ValidateDeploymentName(deployment));
  if (from_ms >= to_ms) return EmptyLogSql();
  std::set<int64_t> hours;
  std::error_code error;
  const fs::path dir = root / deployment;
  for (fs::directory_iterator file(dir, error), end; !error && file != end; file.increment(error)) {
    auto hour = SegmentHour(file->path().filename().string());
    const bool overlaps = hour && (*hour < to_ms) && (*hour + kHourMs > from_ms);
    if (overlaps) hours.insert(*hour);
  }
  if (error && error != std::errc::no_such_file_or_directory) {
    return Status::Internal(fmt::format("cannot list {}: {}", dir.string(), error.message()));
  }
  if (hours.empty()) return EmptyLogSql();

  std::string globs = "[";
  for (int64_t hour : hours) {
    if (globs.size() > 1) globs += ", ";
    globs += SqlString((dir / (HourText(hour) + "-*.jsonl")).string());
  }
  globs += "]";
  // Types come from every row (sample_size = -1): from a sample, a later row of another type would
  // be cast or nulled silently under ignore_errors.
  LATHE_ASSIGN_OR_RETURN(auto db, storage::DuckDb::Open());
  LATHE_ASSIGN_OR_RETURN(
      auto described,
      db->Query(fmt::format("DESCRIBE SELECT * FROM read_json({}, format = 'newline_delimited', union_by_name = true, "
                            "ignore_errors = true, sample_size = -1)",
                            globs)));
  std::string columns;
  for (const auto& [name, type] : kMetaColumns) {
    columns += fmt::format("{}{}: '{}'", columns.empty() ? "" : ", ", SqlString(name), type);
  }
  // Files holding nothing but a torn line read as one column "json" (no records found): no column.
  const bool no_records = described.rows.size() == 1 && std::get<std::string>(described.rows[0][0]) == "json";
  for (const auto& row : described.rows) {
    const auto& name = std::get<std::string>(row[0]);
    if (IsMetaKey(name) || no_records) continue;
    columns += fmt::format(", {}: {}", SqlString(name), SqlString(ReadType(std::get<std::string>(row[1]))));
  }
  return fmt::format(
      "(SELECT * FROM read_json({}, format = 'newline_delimited', ignore_errors = true, columns = {{{}}}) "
      "WHERE timestamp_ms >= {} AND timestamp_ms < {})",
      globs, columns, from_ms, to_ms);
}

Result<int64_t> ExportPredictionLog(const fs::path& root, const std::string& deployment, int64_t from_ms, int64_t to_ms,
                                    const std::string& out_path) {
  const std::string format = storage::FileFormat(out_path);
  if (format != "parquet" && format != "csv") {
    return Status::InvalidParameter(
        fmt::format("cannot export the prediction log to {}: use a .parquet or .csv file", out_path));
  }
  const fs::path parent = fs::path(out_path).parent_path();
  if (std::error_code error; !parent.empty() && !fs::is_directory(parent, error)) {
    return Status::InvalidParameter(
        fmt::format("cannot export the prediction log to {}: {} is not a directory", out_path, parent.string()));
  }
  LATHE_ASSIGN_OR_RETURN(std::string relation, PredictionLogSql(root, deployment, from_ms, to_ms));
  LATHE_ASSIGN_OR_RETURN(auto db, storage::DuckDb::Open());
  // Beside the target, so that the rename is atomic; readers never see a half-written export.
  const std::string temp = fmt::format("{}.tmp-{}-{}", out_path, ::getpid(), NewUuidHex());
  auto copied = db->Query(fmt::format("COPY (SELECT * FROM {}) TO {} (FORMAT {})", relation, SqlString(temp),
                                      format == "parquet" ? "PARQUET" : "CSV, HEADER"));
  std::error_code ignored;
  if (!copied.ok()) {
    fs::remove(temp, ignored);
    return copied.status();
  }
  if (copied->rows.size() != 1 || !std::holds_alternative<int64_t>(copied->rows[0][0])) {
    fs::remove(temp, ignored);
    return Status::Internal("DuckDB's COPY did not report a row count");
  }
  std::error_code renamed;
  fs::rename(temp, out_path, renamed);
  if (renamed) {
    fs::remove(temp, ignored);
    return Status::Internal(fmt::format("cannot move the export to {}: {}", out_path, renamed.message()));
  }
  return std::get<int64_t>(copied->rows[0][0]);
}

}  // namespace lathe::monitoring
