// Open-loop HTTP load generator for the serving benchmark: POSTs one body on a fixed schedule (a
// constant request rate) over N keep-alive connections, and measures each request's latency from the
// time it was scheduled to go out, not from when a free connection let it go. A server that stalls is
// thus charged for every request it delayed (wrk, a closed loop, would just send fewer: coordinated
// omission).
//
// Usage: openloop --port P --path /invocations --body FILE --rate R --duration S
//                 [--host 127.0.0.1] [--connections 64] [--drain S]
// Prints one line:
//   OPENLOOP target_rps=.. duration_s=.. scheduled=.. ok=.. errors=.. unfinished=.. achieved_rps=..
//            p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.. send_lag_p99_us=..
// Requests still unanswered (or never sent) when the drain time ends count as infinitely slow in the
// percentiles, printed as "inf"; non-200 answers and broken connections count as errors.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Nanos = int64_t;
constexpr Nanos kUnfinished = std::numeric_limits<Nanos>::max();

Nanos Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Nanos{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "openloop: %s\n", message.c_str());
  std::exit(2);
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path;
  std::string body_file;
  double rate = 0;
  double duration_s = 0;
  int connections = 64;
  double drain_s = 5;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (i + 1 >= argc) Fail("missing value after " + std::string(flag));
    const char* value = argv[++i];
    if (flag == "--host")
      options.host = value;
    else if (flag == "--port")
      options.port = std::atoi(value);
    else if (flag == "--path")
      options.path = value;
    else if (flag == "--body")
      options.body_file = value;
    else if (flag == "--rate")
      options.rate = std::atof(value);
    else if (flag == "--duration")
      options.duration_s = std::atof(value);
    else if (flag == "--connections")
      options.connections = std::atoi(value);
    else if (flag == "--drain")
      options.drain_s = std::atof(value);
    else
      Fail("unknown option " + std::string(flag));
  }
  if (options.port <= 0 || options.path.empty() || options.body_file.empty() || options.rate <= 0 ||
      options.duration_s <= 0 || options.connections <= 0) {
    Fail(
        "usage: openloop --port P --path PATH --body FILE --rate R --duration S [--host H] "
        "[--connections N] [--drain S]");
  }
  return options;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("cannot read " + path);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Case-insensitive search for a header's value in the head of a response ("\r\nName: value\r\n").
std::string_view HeaderValue(std::string_view head, std::string_view name) {
  size_t line = head.find("\r\n");
  while (line != std::string_view::npos) {
    size_t start = line + 2;
    size_t end = head.find("\r\n", start);
    std::string_view field = head.substr(start, end == std::string_view::npos ? end : end - start);
    if (field.size() > name.size() && field[name.size()] == ':' &&
        std::equal(name.begin(), name.end(), field.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      std::string_view value = field.substr(name.size() + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      return value;
    }
    line = end;
  }
  return {};
}

struct Connection {
  int fd = -1;
  bool busy = false;
  Nanos scheduled = 0;  // when the request in flight was due
  size_t written = 0;   // bytes of the request written so far
  std::string inbox;
};

class Generator {
 public:
  explicit Generator(const Options& options) : options_(options) {
    std::string body = ReadFile(options.body_file);
    request_ = "POST " + options.path + " HTTP/1.1\r\nHost: " + options.host + ":" + std::to_string(options.port) +
               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
               body;
    total_ = static_cast<int64_t>(std::llround(options.rate * options.duration_s));
    period_ = 1e9 / options.rate;
    epoll_ = epoll_create1(0);
    timer_ = timerfd_create(CLOCK_MONOTONIC, 0);
    if (epoll_ < 0 || timer_ < 0) Fail(std::string("epoll/timerfd: ") + std::strerror(errno));
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = kTimerTag;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_, &event);
    connections_.resize(options.connections);
    for (uint32_t i = 0; i < connections_.size(); ++i) Connect(i);
    latencies_.reserve(total_);
    send_lags_.reserve(total_);
  }

  void Run() {
    start_ = Now();
    const Nanos drain_deadline = start_ + static_cast<Nanos>((options_.duration_s + options_.drain_s) * 1e9);
    std::vector<epoll_event> events(connections_.size() + 1);
    while (next_ < total_ || in_flight_ > 0) {
      SendDue();
      const Nanos now = Now();
      if (now >= drain_deadline) break;
      ArmTimer();
      int timeout_ms = static_cast<int>((drain_deadline - now) / 1'000'000) + 1;
      int count = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout_ms);
      if (count < 0 && errno != EINTR) Fail(std::string("epoll_wait: ") + std::strerror(errno));
      for (int i = 0; i < count; ++i) {
        if (events[i].data.u32 == kTimerTag) {
          uint64_t expirations;
          [[maybe_unused]] ssize_t n = read(timer_, &expirations, sizeof expirations);
        } else {
          Handle(events[i].data.u32, events[i].events);
        }
      }
    }
  }

  void Report() {
    const int64_t unfinished = total_ - ok_ - errors_;
    latencies_.insert(latencies_.end(), unfinished, kUnfinished);
    std::sort(latencies_.begin(), latencies_.end());
    std::sort(send_lags_.begin(), send_lags_.end());
    const double elapsed_s = std::max(options_.duration_s, (last_answer_ - start_) / 1e9);
    std::printf(
        "OPENLOOP target_rps=%.0f duration_s=%.1f scheduled=%lld ok=%lld errors=%lld unfinished=%lld "
        "achieved_rps=%.1f p50_us=%s p90_us=%s p99_us=%s p999_us=%s max_us=%s send_lag_p99_us=%s\n",
        options_.rate, options_.duration_s, static_cast<long long>(total_), static_cast<long long>(ok_),
        static_cast<long long>(errors_), static_cast<long long>(unfinished), ok_ / elapsed_s,
        Percentile(latencies_, 0.50).c_str(), Percentile(latencies_, 0.90).c_str(),
        Percentile(latencies_, 0.99).c_str(), Percentile(latencies_, 0.999).c_str(),
        Percentile(latencies_, 1.0).c_str(), Percentile(send_lags_, 0.99).c_str());
  }

 private:
  static constexpr uint32_t kTimerTag = std::numeric_limits<uint32_t>::max();

  static std::string Percentile(const std::vector<Nanos>& sorted, double q) {
    if (sorted.empty()) return "nan";
    size_t rank = static_cast<size_t>(std::ceil(q * sorted.size()));
    Nanos value = sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
    if (value == kUnfinished) return "inf";
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", value / 1e3);
    return text;
  }

  Nanos Scheduled(int64_t index) const { return start_ + static_cast<Nanos>(index * period_); }

  void Connect(uint32_t index) {
    Connection& connection = connections_[index];
    connection = Connection{};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(options_.port));
    if (fd < 0 || inet_pton(AF_INET, options_.host.c_str(), &address.sin_addr) != 1) Fail("bad host " + options_.host);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      Fail("connect to " + options_.host + ":" + std::to_string(options_.port) + ": " + std::strerror(errno));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = index;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
    connection.fd = fd;
    idle_.push_back(index);
  }

  void Reconnect(uint32_t index) {
    Connection& connection = connections_[index];
    if (connection.busy) {
      ++errors_;
      --in_flight_;
    }
    epoll_ctl(epoll_, EPOLL_CTL_DEL, connection.fd, nullptr);
    close(connection.fd);
    idle_.erase(std::remove(idle_.begin(), idle_.end(), index), idle_.end());
    Connect(index);
  }

  // Sends every request that is due, in schedule order, while a connection is free; the rest wait
  // for a connection and are charged the wait.
  void SendDue() {
    const Nanos now = Now();
    while (next_ < total_ && !idle_.empty() && Scheduled(next_) <= now) {
      uint32_t index = idle_.back();
      idle_.pop_back();
      Connection& connection = connections_[index];
      connection.busy = true;
      connection.scheduled = Scheduled(next_);
      connection.written = 0;
      send_lags_.push_back(now - connection.scheduled);
      ++next_;
      ++in_flight_;
      Write(index);
    }
  }

  void ArmTimer() {
    if (next_ >= total_ || idle_.empty()) return;  // a finishing response triggers the next send
    itimerspec when{};
    Nanos due = std::max<Nanos>(Scheduled(next_), 1);
    when.it_value.tv_sec = due / 1'000'000'000;
    when.it_value.tv_nsec = due % 1'000'000'000;
    timerfd_settime(timer_, TFD_TIMER_ABSTIME, &when, nullptr);
  }

  void Write(uint32_t index) {
    Connection& connection = connections_[index];
    while (connection.written < request_.size()) {
      ssize_t n =
          send(connection.fd, request_.data() + connection.written, request_.size() - connection.written, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) return Reconnect(index);
      connection.written += static_cast<size_t>(n);
    }
    epoll_event event{};
    event.events = connection.written < request_.size() ? EPOLLIN | EPOLLOUT : EPOLLIN;
    event.data.u32 = index;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, connection.fd, &event);
  }

  void Handle(uint32_t index, uint32_t events) {
    Connection& connection = connections_[index];
    if (events & EPOLLOUT) Write(index);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    char buffer[65536];
    for (;;) {
      ssize_t n = recv(connection.fd, buffer, sizeof buffer, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) return Reconnect(index);
      connection.inbox.append(buffer, static_cast<size_t>(n));
    }
    ParseAnswer(index);
  }

  void ParseAnswer(uint32_t index) {
    Connection& connection = connections_[index];
    size_t head_end = connection.inbox.find("\r\n\r\n");
    if (head_end == std::string::npos) return;
    std::string_view head(connection.inbox.data(), head_end);
    std::string_view length_text = HeaderValue(head, "Content-Length");
    size_t length = 0;
    if (length_text.empty() ||
        std::from_chars(length_text.data(), length_text.data() + length_text.size(), length).ec != std::errc()) {
      Fail("answer without Content-Length: " + std::string(head));
    }
    if (connection.inbox.size() < head_end + 4 + length) return;
    if (!connection.busy) Fail("answer with no request in flight");
    const Nanos now = Now();
    const bool ok = head.substr(0, 12) == "HTTP/1.1 200" || head.substr(0, 12) == "HTTP/1.0 200";
    if (ok) {
      ++ok_;
      latencies_.push_back(now - connection.scheduled);
    } else {
      ++errors_;
    }
    last_answer_ = now;
    --in_flight_;
    connection.busy = false;
    const bool closing = HeaderValue(head, "Connection") == "close";
    connection.inbox.erase(0, head_end + 4 + length);
    if (closing) {
      Reconnect(index);
    } else {
      idle_.push_back(index);
    }
  }

  Options options_;
  std::string request_;
  int64_t total_ = 0;
  double period_ = 0;  // nanoseconds between scheduled sends
  int epoll_ = -1;
  int timer_ = -1;
  std::vector<Connection> connections_;
  std::vector<uint32_t> idle_;
  Nanos start_ = 0;
  Nanos last_answer_ = 0;
  int64_t next_ = 0;  // index of the next request to send
  int64_t in_flight_ = 0;
  int64_t ok_ = 0;
  int64_t errors_ = 0;
  std::vector<Nanos> latencies_;
  std::vector<Nanos> send_lags_;
};

}  // namespace

int main(int argc, char** argv) {
  // The kernel may fire a timer up to 50 us late by default, and every microsecond of that would be
  // charged to the server, since latency counts from the scheduled time.
  prctl(PR_SET_TIMERSLACK, 1000UL);
  Generator generator(ParseOptions(argc, argv));
  generator.Run();
  generator.Report();
  return 0;
}
