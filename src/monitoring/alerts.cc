// Alert rules and the background runner of their webhooks, commands and rollbacks.
#include "monitoring/alerts.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>

#include "core/clock.h"
#include "core/json_dump.h"
#include "http/client.h"

extern char** environ;

namespace lathe::monitoring {
namespace {

constexpr std::string_view kComparisonChars = "<>=!~";
constexpr std::array<std::string_view, 6> kOps = {">", ">=", "<", "<=", "==", "!="};
constexpr std::string_view kOpList = "> >= < <= == !=";
constexpr int kMaxRetries = 20;
constexpr int64_t kMaxInitialBackoffMs = 3600000;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

bool KnownOp(std::string_view op) {
  return std::find(kOps.begin(), kOps.end(), op) != kOps.end();
}

bool Holds(std::string_view op, double value, double threshold) {
  if (op == ">") return value > threshold;
  if (op == ">=") return value >= threshold;
  if (op == "<") return value < threshold;
  if (op == "<=") return value <= threshold;
  if (op == "==") return value == threshold;
  if (op == "!=") return value != threshold;
  return false;
}

std::string FirstLine(std::string_view text) {
  return std::string(text.substr(0, text.find('\n')));
}

// What a status line alone does not say: the start of the receiver's explanation, on one line.
std::string BodySnippet(std::string_view body) {
  std::string snippet(body.substr(0, 200));
  for (char& c : snippet) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return std::string(Trim(snippet));
}

// Checks a webhook URL and splits it into what http::SendRequest takes: "http://host:port" and the
// request target. Only plain HTTP to a named or IPv4 host, so that the configuration says exactly
// where alert payloads go.
Status SplitWebhookUrl(const std::string& url, std::string* base_url, std::string* path) {
  auto fail = [&](std::string_view what) { return Status::InvalidParameter(fmt::format("URL '{}' {}", url, what)); };
  if (url.starts_with("https://")) return fail("uses https, which webhooks do not support; use http://");
  if (!url.starts_with("http://")) return fail("must start with http://");
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return fail("contains a space or control character");
  }
  if (url.find('#') != std::string::npos) return fail("has a fragment ('#'), which is never sent");
  std::string_view rest = std::string_view(url).substr(7);
  const size_t slash = rest.find_first_of("/?");
  if (slash != std::string_view::npos && rest[slash] == '?')
    return fail("needs a path before its query, e.g. /hook?x=1");
  std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) return fail("has credentials, which webhooks do not support");
  if (authority.starts_with('[')) return fail("has an IPv6 address, which webhooks do not support");
  std::string_view host = authority, port;
  if (auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return fail("has no host");
  for (char c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') {
      return fail(fmt::format("has host '{}', which is neither a host name nor an IPv4 address", host));
    }
  }
  if (authority.find(':') != std::string_view::npos) {
    int number = 0;
    auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (port.empty() || error != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535) {
      return fail(fmt::format("has port '{}', which is not a number from 1 to 65535", port));
    }
  }
  *base_url = fmt::format("http://{}", authority);
  *path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  return Status::Ok();
}

Status CheckWebhook(const std::string& key, const WebhookTarget& target, std::string* base_url, std::string* path) {
  auto fail = [&](std::string what) { return Status::InvalidParameter(fmt::format("webhook '{}': {}", key, what)); };
  if (key.empty()) return Status::InvalidParameter("a webhook has no name");
  if (target.name != key) return fail(fmt::format("its name is '{}'; the two must match", target.name));
  if (Status split = SplitWebhookUrl(target.url, base_url, path); !split.ok()) return fail(split.message());
  if (target.retries < 0 || target.retries > kMaxRetries) {
    return fail(fmt::format("retries must be from 0 to {}, got {}", kMaxRetries, target.retries));
  }
  if (target.initial_backoff_ms < 0 || target.initial_backoff_ms > kMaxInitialBackoffMs) {
    return fail(fmt::format("initial back-off must be from 0 to {} ms, got {} ms", kMaxInitialBackoffMs,
                            target.initial_backoff_ms));
  }
  if (target.timeout_ms <= 0) return fail(fmt::format("timeout must be positive, got {} ms", target.timeout_ms));
  return Status::Ok();
}

Status CheckCommand(const std::string& key, const CommandTarget& target) {
  auto fail = [&](std::string what) { return Status::InvalidParameter(fmt::format("command '{}': {}", key, what)); };
  if (key.empty()) return Status::InvalidParameter("a command has no name");
  if (target.name != key) return fail(fmt::format("its name is '{}'; the two must match", target.name));
  if (target.argv.empty() || target.argv[0].empty()) return fail("argv is empty; it needs at least the program");
  if (target.timeout_ms <= 0) return fail(fmt::format("timeout must be positive, got {} ms", target.timeout_ms));
  return Status::Ok();
}

ActionRunnerOptions Sanitized(ActionRunnerOptions options) {
  options.queue_capacity = std::max<size_t>(options.queue_capacity, 1);
  options.shutdown_grace_ms = std::max<int64_t>(options.shutdown_grace_ms, 0);
  options.kill_grace_ms = std::max<int64_t>(options.kill_grace_ms, 0);
  return options;
}

nlohmann::json WebhookPayload(const AlertContext& context) {
  return {{"alert_id", context.alert_id},
          {"monitor", context.monitor},
          {"deployment", context.deployment},
          {"rule", context.rule},
          {"metric", context.metric},
          {"value", context.value},
          {"threshold", context.threshold},
          {"window_start", FormatIsoUtcMillis(context.window_start_ms)},
          {"window_end", FormatIsoUtcMillis(context.window_end_ms)},
          {"fired_at", FormatIsoUtcMillis(context.fired_at_ms)},
          {"result", context.result}};
}

// The last `limit` bytes of a stream, without holding more than twice that.
class OutputTail {
 public:
  explicit OutputTail(size_t limit) : limit_(limit) {}
  void Append(const char* data, size_t size) {
    text_.append(data, size);
    total_ += size;
    if (text_.size() > 2 * limit_) text_.erase(0, text_.size() - limit_);
  }
  std::string Text() const {
    if (total_ <= limit_) return text_;
    return fmt::format("[last {} of {} bytes]\n{}", limit_, total_, text_.substr(text_.size() - limit_));
  }
  bool empty() const { return total_ == 0; }

 private:
  size_t limit_;
  size_t total_ = 0;
  std::string text_;
};

// Reads what is available without blocking; false once the writers have all closed the pipe.
bool DrainPipe(int fd, OutputTail& tail) {
  char buffer[4096];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      tail.Append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      return false;
    } else {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }
}

std::string SignalName(int signal) {
  const char* abbreviation = sigabbrev_np(signal);
  return abbreviation ? fmt::format("SIG{}", abbreviation) : fmt::format("signal {}", signal);
}

// posix_spawn's inputs, released however RunCommand leaves.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
};

struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() { Close(); }
  void Close() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

}  // namespace

Result<AlertRule> ParseCondition(std::string_view condition) {
  auto fail = [&](std::string what) {
    return Status::InvalidParameter(fmt::format("condition '{}': {}", condition, what));
  };
  std::string_view rest = Trim(condition);
  if (rest.empty()) {
    return Status::InvalidParameter("condition is empty; expected 'metric op number', e.g. 'drift_share > 0.3'");
  }

  size_t metric_end = 0;
  while (metric_end < rest.size() && !IsSpace(rest[metric_end]) &&
         kComparisonChars.find(rest[metric_end]) == std::string_view::npos) {
    ++metric_end;
  }
  std::string_view metric = rest.substr(0, metric_end);
  rest = Trim(rest.substr(metric_end));

  // The operator is the run of comparison characters; without one, the next word stands in its
  // place so that "x 3" and "x ~ 3" are both reported as a bad comparison.
  size_t op_end = 0;
  while (op_end < rest.size() && kComparisonChars.find(rest[op_end]) != std::string_view::npos) ++op_end;
  if (op_end == 0) {
    while (op_end < rest.size() && !IsSpace(rest[op_end])) ++op_end;
  }
  std::string_view op = rest.substr(0, op_end);
  if (metric.empty()) return fail(fmt::format("missing the metric name before '{}'", op));
  if (op.empty()) return fail(fmt::format("missing a comparison after '{}'; expected one of {}", metric, kOpList));
  if (!KnownOp(op)) return fail(fmt::format("'{}' is not a comparison; expected one of {}", op, kOpList));

  std::string_view number = Trim(rest.substr(op_end));
  if (number.empty()) return fail(fmt::format("missing the threshold after '{}'", op));
  std::string_view digits = number.starts_with('+') ? number.substr(1) : number;
  double threshold = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), threshold);
  if (error == std::errc::result_out_of_range) return fail(fmt::format("threshold '{}' is out of range", number));
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
    return fail(fmt::format("threshold '{}' is not a number", number));
  }
  if (!std::isfinite(threshold)) return fail(fmt::format("threshold '{}' is not a finite number", number));

  AlertRule rule;
  rule.metric = std::string(metric);
  rule.op = std::string(op);
  rule.threshold = threshold;
  return rule;
}

Status ValidateRule(const AlertRule& rule) {
  if (rule.name.empty()) return Status::InvalidParameter("an alert rule has no name");
  auto fail = [&](std::string what) {
    return Status::InvalidParameter(fmt::format("alert rule '{}': {}", rule.name, what));
  };
  if (rule.metric.empty()) return fail("no metric");
  if (!KnownOp(rule.op)) return fail(fmt::format("'{}' is not a comparison; expected one of {}", rule.op, kOpList));
  if (!std::isfinite(rule.threshold)) return fail(fmt::format("threshold {} is not a finite number", rule.threshold));
  if (rule.for_windows < 1) return fail(fmt::format("for_windows must be at least 1, got {}", rule.for_windows));
  if (rule.cooldown_ms < 0) return fail(fmt::format("cooldown must not be negative, got {} ms", rule.cooldown_ms));
  return Status::Ok();
}

bool RuleBreached(const AlertRule& rule, std::span<const WindowMetrics> recent) {
  if (rule.for_windows < 1 || recent.size() < static_cast<size_t>(rule.for_windows)) return false;
  for (const WindowMetrics& window : recent.last(static_cast<size_t>(rule.for_windows))) {
    auto found = window.find(rule.metric);
    if (found == window.end() || std::isnan(found->second)) return false;
    if (!Holds(rule.op, found->second, rule.threshold)) return false;
  }
  return true;
}

bool CooldownElapsed(const AlertRule& rule, std::optional<int64_t> last_fired_ms, int64_t now_ms) {
  return !last_fired_ms || now_ms - *last_fired_ms >= rule.cooldown_ms;
}

Status ActionRunner::ValidateTargets(const std::map<std::string, WebhookTarget>& webhooks,
                                     const std::map<std::string, CommandTarget>& commands) {
  std::string base_url, path;
  for (const auto& [key, target] : webhooks) LATHE_RETURN_IF_ERROR(CheckWebhook(key, target, &base_url, &path));
  for (const auto& [key, target] : commands) LATHE_RETURN_IF_ERROR(CheckCommand(key, target));
  return Status::Ok();
}

ActionRunner::ActionRunner(std::map<std::string, WebhookTarget> webhooks, std::map<std::string, CommandTarget> commands,
                           RollbackHandler rollback, DeliveryHandler on_delivery, ActionRunnerOptions options)
    : rollback_(std::move(rollback)), on_delivery_(std::move(on_delivery)), options_(Sanitized(options)) {
  for (auto& [key, target] : webhooks) {
    Webhook webhook;
    if (Status valid = CheckWebhook(key, target, &webhook.base_url, &webhook.path); !valid.ok()) {
      spdlog::error("alert actions: {}; it is left out", valid.message());
      rejected_.emplace("webhook:" + key, valid.message());
      continue;
    }
    webhook.target = std::move(target);
    webhooks_.emplace(key, std::move(webhook));
  }
  for (auto& [key, target] : commands) {
    if (Status valid = CheckCommand(key, target); !valid.ok()) {
      spdlog::error("alert actions: {}; it is left out", valid.message());
      rejected_.emplace("command:" + key, valid.message());
      continue;
    }
    commands_.emplace(key, std::move(target));
  }
  worker_ = std::thread([this] { WorkerLoop(); });
}

ActionRunner::~ActionRunner() {
  {
    std::lock_guard lock(mutex_);
    stopping_since_ms_ = NowMillis();
  }
  changed_.notify_all();
  worker_.join();
}

Status ActionRunner::ValidateAction(const std::string& action) const {
  auto names = [](const auto& targets) {
    std::string list;
    for (const auto& [name, target] : targets) list += (list.empty() ? "" : ", ") + name;
    return list.empty() ? std::string("none") : list;
  };
  if (action == "rollback") {
    if (!rollback_) return Status::InvalidParameter("action 'rollback': this process has no rollback handler");
    return Status::Ok();
  }
  if (auto rejected = rejected_.find(action); rejected != rejected_.end()) {
    return Status::InvalidParameter(fmt::format("action '{}': {}", action, rejected->second));
  }
  if (action.starts_with("webhook:")) {
    if (webhooks_.contains(action.substr(8))) return Status::Ok();
    return Status::InvalidParameter(fmt::format("action '{}': no webhook named '{}' is configured (configured: {})",
                                                action, action.substr(8), names(webhooks_)));
  }
  if (action.starts_with("command:")) {
    if (commands_.contains(action.substr(8))) return Status::Ok();
    return Status::InvalidParameter(fmt::format("action '{}': no command named '{}' is configured (configured: {})",
                                                action, action.substr(8), names(commands_)));
  }
  return Status::InvalidParameter(
      fmt::format("action '{}' is not one of webhook:<name>, command:<name>, rollback", action));
}

Status ActionRunner::ValidateActions(const std::vector<std::string>& actions) const {
  for (const std::string& action : actions) LATHE_RETURN_IF_ERROR(ValidateAction(action));
  return Status::Ok();
}

void ActionRunner::Dispatch(const AlertContext& context, const std::vector<std::string>& actions) {
  auto shared = std::make_shared<const AlertContext>(context);
  std::vector<DeliveryRecord> refused;
  {
    std::lock_guard lock(mutex_);
    for (const std::string& action : actions) {
      if (Status valid = ValidateAction(action); !valid.ok()) {
        refused.push_back({context.alert_id, action, false, 0, valid.message(), NowMillis()});
      } else if (queue_.size() >= options_.queue_capacity) {
        refused.push_back({context.alert_id, action, false, 0,
                           fmt::format("not run: the action queue is full ({} pending)", queue_.size()), NowMillis()});
      } else {
        queue_.push_back({shared, action});
      }
    }
  }
  changed_.notify_all();
  for (DeliveryRecord& record : refused) Record(std::move(record));
}

void ActionRunner::WaitIdle() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void ActionRunner::WorkerLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_since_ms_ || !queue_.empty(); });
    if (stopping_since_ms_) break;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Record(Run(job));
    lock.lock();
    busy_ = false;
    changed_.notify_all();
  }
  std::deque<Job> pending;
  pending.swap(queue_);
  lock.unlock();
  for (const Job& job : pending) {
    Record({job.context->alert_id, job.action, false, 0, "not run: the action runner stopped", NowMillis()});
  }
}

DeliveryRecord ActionRunner::Run(const Job& job) {
  const AlertContext& context = *job.context;
  DeliveryRecord record;
  try {
    if (job.action == "rollback") {
      Status rolled_back = rollback_(context);
      record.ok = rolled_back.ok();
      record.attempts = 1;
      record.detail = rolled_back.ok() ? "rolled back" : rolled_back.message();
    } else if (job.action.starts_with("webhook:")) {
      record = RunWebhook(context, webhooks_.at(job.action.substr(8)));
    } else {
      record = RunCommand(context, commands_.at(job.action.substr(8)));
    }
  } catch (const std::exception& error) {
    record.ok = false;
    record.attempts = std::max(record.attempts, 1);
    record.detail = fmt::format("failed: {}", error.what());
  }
  record.alert_id = context.alert_id;
  record.action = job.action;
  record.finished_at_ms = NowMillis();
  return record;
}

DeliveryRecord ActionRunner::RunWebhook(const AlertContext& context, const Webhook& webhook) {
  const WebhookTarget& target = webhook.target;
  const std::string body = DumpJson(WebhookPayload(context));
  DeliveryRecord record;
  for (int retry = 0;; ++retry) {
    ++record.attempts;
    auto response =
        http::SendRequest(webhook.base_url, "POST", webhook.path, body, "application/json", target.timeout_ms);
    bool retryable = true;
    if (!response.ok()) {
      record.detail = response.status().message();
    } else {
      const int status = response->status;
      if (status >= 200 && status < 300) {
        record.ok = true;
        record.detail = fmt::format("HTTP {}", status);
        return record;
      }
      std::string snippet = BodySnippet(response->body);
      record.detail = snippet.empty() ? fmt::format("HTTP {}", status) : fmt::format("HTTP {}: {}", status, snippet);
      retryable = status >= 500 || status == 429;
    }
    if (!retryable || retry == target.retries) return record;
    if (!SleepUnlessStopping(target.initial_backoff_ms << retry)) {
      record.detail += "; not retried: the action runner is stopping";
      return record;
    }
  }
}

DeliveryRecord ActionRunner::RunCommand(const AlertContext& context, const CommandTarget& command) {
  DeliveryRecord record;
  record.attempts = 1;

  std::string result_path = (std::filesystem::temp_directory_path() / "lathe-alert-XXXXXX.json").string();
  FileDescriptor result_file{mkostemps(result_path.data(), 5, O_CLOEXEC)};
  if (result_file.fd < 0) {
    record.detail = fmt::format("cannot create the result file {}: {}", result_path, std::strerror(errno));
    return record;
  }
  struct RemoveOnExit {
    const std::string& path;
    ~RemoveOnExit() { unlink(path.c_str()); }
  } remove_result_file{result_path};
  const std::string result_bytes = DumpJson(context.result);
  for (size_t written = 0; written < result_bytes.size();) {
    ssize_t n = write(result_file.fd, result_bytes.data() + written, result_bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      record.detail = fmt::format("cannot write the result file {}: {}", result_path, std::strerror(errno));
      return record;
    }
    written += static_cast<size_t>(n);
  }
  result_file.Close();

  const std::map<std::string, std::string> alert_environment = {
      {"LATHE_ALERT_ID", context.alert_id},
      {"LATHE_ALERT_MONITOR", context.monitor},
      {"LATHE_ALERT_DEPLOYMENT", context.deployment},
      {"LATHE_ALERT_RULE", context.rule},
      {"LATHE_ALERT_METRIC", context.metric},
      {"LATHE_ALERT_VALUE", fmt::format("{}", context.value)},
      {"LATHE_ALERT_THRESHOLD", fmt::format("{}", context.threshold)},
      {"LATHE_ALERT_WINDOW_START", FormatIsoUtcMillis(context.window_start_ms)},
      {"LATHE_ALERT_WINDOW_END", FormatIsoUtcMillis(context.window_end_ms)},
      {"LATHE_ALERT_FIRED_AT", FormatIsoUtcMillis(context.fired_at_ms)},
      {"LATHE_ALERT_RESULT_FILE", result_path},
  };
  std::vector<std::string> environment;
  for (char** entry = environ; *entry; ++entry) {
    std::string_view variable = *entry;
    if (!alert_environment.contains(std::string(variable.substr(0, variable.find('='))))) {
      environment.emplace_back(variable);
    }
  }
  for (const auto& [name, value] : alert_environment) environment.push_back(name + "=" + value);
  std::vector<char*> envp, argv;
  for (std::string& variable : environment) envp.push_back(variable.data());
  envp.push_back(nullptr);
  std::vector<std::string> arguments = command.argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);

  // One pipe for stdout and stderr keeps their lines in the order the command wrote them.
  int pipe_ends[2];
  if (pipe2(pipe_ends, O_CLOEXEC) != 0) {
    record.detail = fmt::format("cannot create a pipe: {}", std::strerror(errno));
    return record;
  }
  FileDescriptor output{pipe_ends[0]}, output_writer{pipe_ends[1]};
  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, output_writer.fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, output_writer.fd, STDERR_FILENO);
  // The server's sockets and files are not the command's business, and a listening socket held by
  // a long command would keep a restarted server from binding its port.
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1);
  // The worker thread may have signals blocked or ignored (SIGPIPE often is); the command starts clean.
  sigset_t no_signals, all_signals;
  sigemptyset(&no_signals);
  sigfillset(&all_signals);
  posix_spawnattr_setsigmask(&setup.attributes, &no_signals);
  posix_spawnattr_setsigdefault(&setup.attributes, &all_signals);
  posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = 0;
  const int spawn_error = posix_spawnp(&pid, argv[0], &setup.actions, &setup.attributes, argv.data(), envp.data());
  output_writer.Close();
  if (spawn_error != 0) {
    record.detail = fmt::format("cannot start '{}': {}", command.argv[0], std::strerror(spawn_error));
    return record;
  }
  fcntl(output.fd, F_SETFL, fcntl(output.fd, F_GETFL) | O_NONBLOCK);

  OutputTail tail(options_.output_tail_bytes);
  const int64_t deadline = NowMillis() + command.timeout_ms;
  std::string stopped_because;  // set once SIGTERM went out
  int64_t terminated_at = 0;
  bool killed = false;
  bool reaped = false;
  int wait_status = 0;
  while (!reaped) {
    if (output.fd >= 0) {
      pollfd readable{output.fd, POLLIN, 0};
      poll(&readable, 1, 50);
      if (!DrainPipe(output.fd, tail)) output.Close();
    } else {
      usleep(10000);
    }
    pid_t waited = waitpid(pid, &wait_status, WNOHANG);
    if (waited == pid) {
      reaped = true;
    } else if (waited < 0 && errno != EINTR) {
      // Only when SIGCHLD is ignored process-wide, which reaps children behind our back.
      record.detail = fmt::format("lost track of '{}': waitpid: {}", command.argv[0], std::strerror(errno));
      return record;
    }
    if (reaped) break;
    const int64_t now = NowMillis();
    if (stopped_because.empty()) {
      std::optional<int64_t> stop_deadline = StopDeadline();
      if (now >= deadline) {
        stopped_because = fmt::format("timed out after {} ms", command.timeout_ms);
      } else if (stop_deadline && now >= *stop_deadline) {
        stopped_because = "stopped: the action runner is shutting down";
      }
      if (!stopped_because.empty()) {
        kill(pid, SIGTERM);
        terminated_at = now;
      }
    } else if (!killed && now - terminated_at >= options_.kill_grace_ms) {
      kill(pid, SIGKILL);
      killed = true;
    }
  }
  // Whatever the command wrote before it ended; a child it left behind may hold the pipe open, so
  // no waiting for the end of the stream.
  if (output.fd >= 0) DrainPipe(output.fd, tail);

  std::string outcome = WIFEXITED(wait_status) ? fmt::format("exit code {}", WEXITSTATUS(wait_status))
                                               : fmt::format("killed by {}", SignalName(WTERMSIG(wait_status)));
  record.ok = stopped_because.empty() && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  record.detail = stopped_because.empty() ? outcome : fmt::format("{}; {}", stopped_because, outcome);
  if (!tail.empty()) record.detail += "; output:\n" + tail.Text();
  return record;
}

void ActionRunner::Record(DeliveryRecord record) {
  if (record.ok) {
    spdlog::info("alert={} action={} ok=true attempts={} detail=\"{}\"", record.alert_id, record.action,
                 record.attempts, FirstLine(record.detail));
  } else {
    spdlog::warn("alert={} action={} ok=false attempts={} detail=\"{}\"", record.alert_id, record.action,
                 record.attempts, FirstLine(record.detail));
  }
  if (!on_delivery_) return;
  std::lock_guard lock(delivery_mutex_);
  try {
    on_delivery_(record);
  } catch (const std::exception& error) {
    spdlog::error("alert={} action={}: recording the delivery failed: {}", record.alert_id, record.action,
                  error.what());
  }
}

bool ActionRunner::SleepUnlessStopping(int64_t ms) {
  std::unique_lock lock(mutex_);
  return !changed_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_since_ms_.has_value(); });
}

std::optional<int64_t> ActionRunner::StopDeadline() {
  std::lock_guard lock(mutex_);
  if (!stopping_since_ms_) return std::nullopt;
  return *stopping_since_ms_ + options_.shutdown_grace_ms;
}

}  // namespace lathe::monitoring
