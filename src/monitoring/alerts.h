// Alert rules over a monitor's per-window metrics, and the actions a fired alert runs in the
// background: webhooks, commands and a registry rollback.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"

namespace lathe::monitoring {

// What one evaluation of a monitor over one time window yields, e.g. {"drift_share": 0.4,
// "rows": 1200}. A metric absent from the map (no labels yet, say) means "no data" for that window.
using WindowMetrics = std::map<std::string, double>;

struct AlertRule {
  std::string name;
  std::string metric;
  std::string op;  // one of > >= < <= == !=
  double threshold = 0;
  int for_windows = 1;               // how many consecutive windows the condition must hold
  int64_t cooldown_ms = 3600000;     // after firing, the rule stays quiet this long
  std::vector<std::string> actions;  // "webhook:<name>", "command:<name>", "rollback"
};

// Parses a condition "metric op number" ("drift_share > 0.3", "dataset_drift==1") into a rule with
// `metric`, `op` and `threshold` set and every other field at its default. The metric is any run of
// characters other than spaces and the comparison characters <>=!~; the threshold must be a finite
// number. Errors are InvalidParameter with one line naming the condition and what is wrong with it.
Result<AlertRule> ParseCondition(std::string_view condition);

// Checks what ParseCondition cannot: a name, a known op, a finite threshold, for_windows >= 1 and
// cooldown_ms >= 0. The actions are checked against the configuration by ActionRunner::ValidateActions.
Status ValidateRule(const AlertRule& rule);

// True when the condition held on each of the last `rule.for_windows` evaluations of `recent`
// (oldest first, newest last). A window without the metric, or with it NaN, breaks the streak, and
// so does having fewer windows than for_windows. A rule with an unknown op or for_windows < 1 is
// never breached.
bool RuleBreached(const AlertRule& rule, std::span<const WindowMetrics> recent);

// Whether a rule that last fired at `last_fired_ms` (nullopt: never) may fire again at `now_ms`:
// once cooldown_ms has passed. A clock that went back keeps the rule quiet rather than firing early.
bool CooldownElapsed(const AlertRule& rule, std::optional<int64_t> last_fired_ms, int64_t now_ms);

struct WebhookTarget {
  std::string name;
  std::string url;                   // http://host[:port]/path[?query]; no TLS, no credentials in the URL
  int retries = 3;                   // attempts after the first, 0 to 20
  int64_t initial_backoff_ms = 500;  // up to an hour; the k-th retry waits initial_backoff_ms * 2^(k-1)
  int64_t timeout_ms = 5000;         // per attempt: connecting, sending and reading the response
};

struct CommandTarget {
  std::string name;
  std::vector<std::string> argv;  // run as is, without a shell; argv[0] is looked up in PATH when it has no '/'
  int64_t timeout_ms = 600000;
};

// Everything an action is told about the alert that fired.
struct AlertContext {
  std::string monitor, deployment, rule, metric;
  double value = 0, threshold = 0;
  int64_t window_start_ms = 0, window_end_ms = 0, fired_at_ms = 0;  // Unix epoch milliseconds
  std::string alert_id;
  nlohmann::json result;  // the evaluation's result, passed on to webhooks and commands
};

// The outcome of one action of one alert.
struct DeliveryRecord {
  std::string alert_id;
  std::string action;  // as configured, e.g. "webhook:slack"
  bool ok = false;
  int attempts = 0;    // 0 when the action never started (queue full, shutting down)
  std::string detail;  // "HTTP 200", "exit code 0" and the output's tail, the error
  int64_t finished_at_ms = 0;
};

struct ActionRunnerOptions {
  size_t queue_capacity = 1024;       // pending actions (0 is taken as 1); Dispatch drops and records any beyond
  int64_t shutdown_grace_ms = 10000;  // how long the destructor lets a running command go on
  int64_t kill_grace_ms = 5000;       // between SIGTERM and SIGKILL for a command that overran
  size_t output_tail_bytes = 4096;    // how much of a command's stdout and stderr the detail keeps
};

// Runs alert actions one at a time on its own worker thread, so that evaluating monitors never waits
// on a slow webhook or command. Dispatch, ValidateActions and WaitIdle may be called from any thread.
//
// - webhook:<name> POSTs a JSON payload (alert_id, monitor, deployment, rule, metric, value,
//   threshold, window_start, window_end and fired_at as ISO-8601 UTC, result) and retries on
//   connection errors, timeouts, 5xx and 429 with exponential back-off; any other status below 200
//   or from 300 up is final.
// - command:<name> spawns argv with the server's environment plus LATHE_ALERT_ID, _MONITOR,
//   _DEPLOYMENT, _RULE, _METRIC, _VALUE, _THRESHOLD, _WINDOW_START, _WINDOW_END, _FIRED_AT and
//   _RESULT_FILE (a temporary file holding the result JSON, removed when the command ends); stdin
//   is /dev/null, stdout and stderr go to the detail's tail. A command that outlives its timeout
//   gets SIGTERM, then SIGKILL after kill_grace_ms; processes it started itself are not signalled.
// - rollback calls the handler the server provides.
class ActionRunner {
 public:
  using RollbackHandler = std::function<Status(const AlertContext&)>;
  using DeliveryHandler = std::function<void(const DeliveryRecord&)>;

  // Checks the allow-lists: InvalidParameter for a target whose key and name differ, a webhook URL
  // that is not plain http://host[:port]/path, retries outside 0..20, a back-off outside 0..1 hour,
  // a timeout that is not positive, or a command without argv. For configuration loading, so that
  // a bad target is reported where it is written.
  static Status ValidateTargets(const std::map<std::string, WebhookTarget>& webhooks,
                                const std::map<std::string, CommandTarget>& commands);

  // Starts the worker. Targets that fail ValidateTargets are left out (and logged), so that an
  // action naming one is refused like an unknown one and an unchecked URL is never called.
  // `rollback` may be empty, and then "rollback" is not a valid action. `on_delivery` (may be empty)
  // gets one record per dispatched action, calls never overlapping; it runs on the worker thread, or
  // on Dispatch's caller for actions refused there.
  ActionRunner(std::map<std::string, WebhookTarget> webhooks, std::map<std::string, CommandTarget> commands,
               RollbackHandler rollback, DeliveryHandler on_delivery, ActionRunnerOptions options = {});
  // Lets the action in progress finish (a webhook its current attempt, without further retries; a
  // command up to shutdown_grace_ms, then it is killed), records the pending ones as not delivered,
  // and stops the worker.
  ~ActionRunner();
  ActionRunner(const ActionRunner&) = delete;
  ActionRunner& operator=(const ActionRunner&) = delete;

  // InvalidParameter for an action that is not webhook:<configured name>, command:<configured name>
  // or rollback (with a handler), so that a monitor configuration referring to one fails when loaded.
  Status ValidateActions(const std::vector<std::string>& actions) const;

  // Queues `actions` for `context`, to run in order. Never blocks on the actions; an action that
  // does not fit in the queue, or that fails ValidateActions, is recorded as failed right away.
  void Dispatch(const AlertContext& context, const std::vector<std::string>& actions);

  // Blocks until every dispatched action has been run and recorded.
  void WaitIdle();

 private:
  struct Webhook {
    WebhookTarget target;
    std::string base_url;  // http://host:port
    std::string path;      // what the request line asks for
  };
  struct Job {
    std::shared_ptr<const AlertContext> context;  // shared by the actions of one Dispatch
    std::string action;
  };

  Status ValidateAction(const std::string& action) const;
  void WorkerLoop();
  DeliveryRecord Run(const Job& job);
  DeliveryRecord RunWebhook(const AlertContext& context, const Webhook& webhook);
  DeliveryRecord RunCommand(const AlertContext& context, const CommandTarget& command);
  void Record(DeliveryRecord record);
  // Sleeps up to `ms`; false when woken because the runner is stopping.
  bool SleepUnlessStopping(int64_t ms);
  // The time from which a running command must be killed to keep the destructor's wait bounded.
  std::optional<int64_t> StopDeadline();

  std::map<std::string, Webhook> webhooks_;
  std::map<std::string, CommandTarget> commands_;
  std::map<std::string, std::string> rejected_;  // action ("webhook:x") -> why its target was left out
  const RollbackHandler rollback_;
  const DeliveryHandler on_delivery_;
  const ActionRunnerOptions options_;

  std::mutex mutex_;
  std::condition_variable changed_;  // a job queued, a job done, or stopping
  std::deque<Job> queue_;
  bool busy_ = false;  // the worker is running a job taken off the queue
  std::optional<int64_t> stopping_since_ms_;
  std::mutex delivery_mutex_;  // keeps on_delivery calls from overlapping
  std::thread worker_;
};

}  // namespace lathe::monitoring
