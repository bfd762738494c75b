// spdlog configuration shared by every subcommand.
#include "core/logging.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace lathe {
namespace {

// stderr through a buffer: spdlog's stderr sink flushes (one write(2)) per line, which costs a
// quarter of a small request's CPU when every request writes an access-log line. Lines reach
// stderr when 64 KiB are buffered, every second, at once for warnings and errors, and at exit; a
// crash can lose at most the last second. On a terminal every line goes out at once.
class BufferedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  BufferedStderrSink() : line_buffered_(::isatty(STDERR_FILENO) == 1) {}
  ~BufferedStderrSink() override {
    std::lock_guard lock(mutex_);
    WriteBuffer();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(message, formatted);
    buffer_.append(formatted.data(), formatted.size());
    if (line_buffered_ || buffer_.size() >= kFlushBytes) WriteBuffer();
  }
  void flush_() override { WriteBuffer(); }

 private:
  static constexpr size_t kFlushBytes = 64 * 1024;

  void WriteBuffer() {
    size_t written = 0;
    while (written < buffer_.size()) {
      ssize_t n = ::write(STDERR_FILENO, buffer_.data() + written, buffer_.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // nowhere to log to: drop rather than block the server
      written += static_cast<size_t>(n);
    }
    buffer_.clear();
  }

  const bool line_buffered_;
  std::string buffer_;
};

}  // namespace

Status ConfigureLogging(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    return Status::InvalidParameter("unknown log level '" + level + "' (trace, debug, info, warn, error, off)");
  }
  auto logger = std::make_shared<spdlog::logger>("lathe", std::make_shared<BufferedStderrSink>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ level=%l %v", spdlog::pattern_time_type::utc);
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
  return Status::Ok();
}

}  // namespace lathe
