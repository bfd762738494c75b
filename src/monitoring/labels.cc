#include "monitoring/labels.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace lathe::monitoring {
namespace {

using storage::SqlString;

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "host";
  std::string host(name);
  for (char& c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
  }
  return host;
}

// Unique per process and per LabelLog, so that two instances (or two replicas) never share a file.
std::string FileStem() {
  static std::atomic<int> instances{0};
  static const std::string host = HostName();
  return fmt::format("{}-{}-{}", host, getpid(), instances.fetch_add(1));
}

Status WriteAll(int fd, const std::string& data, const std::filesystem::path& path) {
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Internal(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
    }
    written += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status LabelLog::Append(const std::string& deployment, const std::vector<Label>& labels, int64_t received_ms) {
  if (labels.empty()) return Status::Ok();
  std::string lines;
  lines.reserve(labels.size() * 64);
  for (const auto& label : labels) {
    lines += nlohmann::json{{"prediction_id", label.prediction_id}, {"label", label.value}, {"received_ms", received_ms}}.dump();
    lines += '\n';
  }
  static const std::string stem = FileStem();
  const std::time_t seconds = received_ms / 1000;
  std::tm day{};
  gmtime_r(&seconds, &day);
  const auto dir = root_ / deployment;
  const auto path = dir / fmt::format("{:04}{:02}{:02}-{}.jsonl", day.tm_year + 1900, day.tm_mon + 1, day.tm_mday, stem);
  std::lock_guard lock(mutex_);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Status::Internal(fmt::format("cannot create {}: {}", dir.string(), error.message()));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Internal(fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  Status written = WriteAll(fd, lines, path);
  if (written.ok() && ::fdatasync(fd) != 0) {
    written = Status::Internal(fmt::format("cannot sync {}: {}", path.string(), std::strerror(errno)));
  }
  ::close(fd);
  return written;
}

std::string LabelsSql(const std::filesystem::path& root, const std::string& deployment) {
  const auto dir = root / deployment;
  bool any = false;
  std::error_code error;
  if (std::filesystem::is_directory(dir, error)) {
    for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
      if (entry.path().extension() == ".jsonl") {
        any = true;
        break;
      }
    }
  }
  if (!any) return "(SELECT NULL::VARCHAR AS prediction_id, NULL::VARCHAR AS label WHERE false)";
  return fmt::format(
      "(SELECT prediction_id, arg_max(label, received_ms) AS label FROM read_json({}, format='newline_delimited', "
      "columns={{prediction_id: 'VARCHAR', label: 'VARCHAR', received_ms: 'BIGINT'}}, ignore_errors=true) "
      "WHERE prediction_id IS NOT NULL GROUP BY prediction_id)",
      SqlString((dir / "*.jsonl").string()));
}

Result<std::vector<std::string>> UnknownPredictionIds(storage::DuckDb& db, const std::string& predictions,
                                                      const std::vector<std::string>& ids) {
  LATHE_RETURN_IF_ERROR(db.Exec("CREATE OR REPLACE TEMP TABLE lathe_posted_ids (prediction_id VARCHAR)"));
  constexpr size_t kPerInsert = 1000;
  for (size_t start = 0; start < ids.size(); start += kPerInsert) {
    std::string sql = "INSERT INTO lathe_posted_ids VALUES ";
    for (size_t i = start; i < std::min(ids.size(), start + kPerInsert); ++i) {
      sql += (i == start ? "(" : ", (") + SqlString(ids[i]) + ")";
    }
    LATHE_RETURN_IF_ERROR(db.Exec(sql));
  }
  std::vector<std::string> unknown;
  LATHE_RETURN_IF_ERROR(db.ForEachRow(
      fmt::format("SELECT DISTINCT p.prediction_id FROM lathe_posted_ids p ANTI JOIN (SELECT CAST(prediction_id AS VARCHAR) "
                  "AS prediction_id FROM {}) l USING (prediction_id) ORDER BY 1",
                  predictions),
      {"prediction_id"}, [&](const std::vector<storage::Cell>& row) {
        unknown.push_back(std::get<std::string>(row[0]));
        return Status::Ok();
      }));
  return unknown;
}

std::string LabelText(const storage::Cell& cell) {
  if (const auto* text = std::get_if<std::string>(&cell)) return *text;
  if (const auto* integer = std::get_if<int64_t>(&cell)) return std::to_string(*integer);
  if (const auto* flag = std::get_if<bool>(&cell)) return *flag ? "true" : "false";
  if (const auto* number = std::get_if<double>(&cell)) {
    if (std::isfinite(*number) && *number == std::floor(*number) && std::fabs(*number) < 9e15) {
      return std::to_string(static_cast<int64_t>(*number));
    }
    return fmt::format("{}", *number);
  }
  return "";
}

}  // namespace lathe::monitoring
