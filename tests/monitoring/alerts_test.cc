// Alert rules, and their actions run for real: webhooks against an HTTP listener on 127.0.0.1,
// commands spawned from /bin, rollbacks through a handler.
#include "monitoring/alerts.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "monitoring/python_reference.h"

namespace lathe::monitoring {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using testing::ScratchDir;

int64_t MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// Waits up to five seconds for `condition`.
template <typename Condition>
bool Eventually(Condition condition) {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Conditions and rules

TEST(ParseConditionTest, ReadsMetricComparisonAndThreshold) {
  struct Case {
    std::string text, metric, op;
    double threshold;
  };
  for (const Case& c : std::vector<Case>{{"drift_share > 0.3", "drift_share", ">", 0.3},
                                         {"dataset_drift==1", "dataset_drift", "==", 1},
                                         {"  rule.age-range.share >= 1e-2 ", "rule.age-range.share", ">=", 0.01},
                                         {"accuracy<0.8", "accuracy", "<", 0.8},
                                         {"rmse <= 10", "rmse", "<=", 10},
                                         {"x != -3.5", "x", "!=", -3.5},
                                         {"f1_macro < +0.5", "f1_macro", "<", 0.5},
                                         {"rows>-.5", "rows", ">", -0.5}}) {
    auto rule = ParseCondition(c.text);
    ASSERT_TRUE(rule.ok()) << c.text << ": " << rule.status().message();
    EXPECT_EQ(rule->metric, c.metric) << c.text;
    EXPECT_EQ(rule->op, c.op) << c.text;
    EXPECT_EQ(rule->threshold, c.threshold) << c.text;
    EXPECT_EQ(rule->for_windows, 1);
    EXPECT_EQ(rule->cooldown_ms, 3600000);
  }
}

TEST(ParseConditionTest, SaysWhatIsWrongInOneLine) {
  const std::string ops = "expected one of > >= < <= == !=";
  for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
           {"drift_share >", "condition 'drift_share >': missing the threshold after '>'"},
           {"x ~ 3", "condition 'x ~ 3': '~' is not a comparison; " + ops},
           {"x > abc", "condition 'x > abc': threshold 'abc' is not a number"},
           {"", "condition is empty; expected 'metric op number', e.g. 'drift_share > 0.3'"},
           {"   ", "condition is empty; expected 'metric op number', e.g. 'drift_share > 0.3'"},
           {"> 3", "condition '> 3': missing the metric name before '>'"},
           {"drift_share", "condition 'drift_share': missing a comparison after 'drift_share'; " + ops},
           {"x 3", "condition 'x 3': '3' is not a comparison; " + ops},
           {"x = 3", "condition 'x = 3': '=' is not a comparison; " + ops},
           {"x => 3", "condition 'x => 3': '=>' is not a comparison; " + ops},
           {"x >> 3", "condition 'x >> 3': '>>' is not a comparison; " + ops},
           {"x > 3 4", "condition 'x > 3 4': threshold '3 4' is not a number"},
           {"x > 0.3abc", "condition 'x > 0.3abc': threshold '0.3abc' is not a number"},
           {"x > +", "condition 'x > +': threshold '+' is not a number"},
           {"x > nan", "condition 'x > nan': threshold 'nan' is not a finite number"},
           {"x > inf", "condition 'x > inf': threshold 'inf' is not a finite number"},
           {"x > 1e999", "condition 'x > 1e999': threshold '1e999' is out of range"},
       }) {
    auto rule = ParseCondition(text);
    ASSERT_FALSE(rule.ok()) << "'" << text << "' parsed";
    EXPECT_EQ(rule.status().code(), ErrorCode::kInvalidParameterValue) << text;
    EXPECT_EQ(rule.status().message(), message);
  }
}

AlertRule Rule(const std::string& condition, int for_windows = 1) {
  auto parsed = ParseCondition(condition);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  AlertRule rule = parsed.ok() ? *parsed : AlertRule{};
  rule.name = "test_rule";
  rule.for_windows = for_windows;
  return rule;
}

TEST(ValidateRuleTest, AcceptsAParsedRuleAndRefusesBrokenOnes) {
  EXPECT_TRUE(ValidateRule(Rule("drift_share > 0.3", 3)).ok());
  auto expect_error = [](AlertRule rule, const std::string& message) {
    Status status = ValidateRule(rule);
    EXPECT_EQ(status.code(), ErrorCode::kInvalidParameterValue) << message;
    EXPECT_EQ(status.message(), message);
  };
  AlertRule rule = Rule("drift_share > 0.3");
  rule.name.clear();
  expect_error(rule, "an alert rule has no name");
  rule = Rule("drift_share > 0.3");
  rule.op = "=>";
  expect_error(rule, "alert rule 'test_rule': '=>' is not a comparison; expected one of > >= < <= == !=");
  rule = Rule("drift_share > 0.3");
  rule.metric.clear();
  expect_error(rule, "alert rule 'test_rule': no metric");
  rule = Rule("drift_share > 0.3");
  rule.threshold = std::numeric_limits<double>::quiet_NaN();
  expect_error(rule, "alert rule 'test_rule': threshold nan is not a finite number");
  expect_error(Rule("drift_share > 0.3", 0), "alert rule 'test_rule': for_windows must be at least 1, got 0");
  rule = Rule("drift_share > 0.3");
  rule.cooldown_ms = -1;
  expect_error(rule, "alert rule 'test_rule': cooldown must not be negative, got -1 ms");
}

TEST(RuleBreachedTest, NeedsTheConditionOnEachOfTheLastWindows) {
  const AlertRule rule = Rule("drift_share > 0.3", 2);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto breached = [&](std::vector<WindowMetrics> windows) { return RuleBreached(rule, windows); };
  EXPECT_TRUE(breached({{{"drift_share", 0.5}}, {{"drift_share", 0.4}}}));
  EXPECT_TRUE(
      breached({{{"drift_share", 0.1}}, {{"drift_share", 0.5}}, {{"drift_share", 0.4}}}));  // older window ignored
  EXPECT_FALSE(breached({{{"drift_share", 0.5}}, {{"drift_share", 0.2}}}));                 // newest does not hold
  EXPECT_FALSE(breached({{{"drift_share", 0.2}}, {{"drift_share", 0.5}}}));                 // only one in a row
  EXPECT_FALSE(breached({{{"drift_share", 0.3}}, {{"drift_share", 0.5}}}));                 // > is strict
  EXPECT_FALSE(breached({{{"drift_share", 0.5}}}));  // fewer windows than for_windows
  EXPECT_FALSE(breached({}));
  // A window without the metric is "no data": it breaks the streak rather than being skipped.
  EXPECT_FALSE(breached({{{"drift_share", 0.5}}, {{"rows", 100}}, {{"drift_share", 0.5}}}));
  EXPECT_FALSE(breached({{{"drift_share", 0.5}}, {{"rows", 100}}}));
  EXPECT_TRUE(breached({{{"rows", 100}}, {{"drift_share", 0.5}}, {{"drift_share", 0.5}}}));
  EXPECT_FALSE(breached({{{"drift_share", 0.5}}, {{"drift_share", nan}}}));

  // The other comparisons, on a single window.
  auto holds = [](const std::string& condition, double value) {
    return RuleBreached(Rule(condition), std::vector<WindowMetrics>{{{"x", value}}});
  };
  EXPECT_TRUE(holds("x >= 2", 2));
  EXPECT_FALSE(holds("x >= 2", 1.999));
  EXPECT_TRUE(holds("x < 0.8", 0.79));
  EXPECT_FALSE(holds("x < 0.8", 0.8));
  EXPECT_TRUE(holds("x <= 0.8", 0.8));
  EXPECT_TRUE(holds("x == 1", 1));
  EXPECT_FALSE(holds("x == 1", 0));
  EXPECT_TRUE(holds("x != 1", 0));
  EXPECT_FALSE(holds("x != 1", 1));
  EXPECT_FALSE(holds("x != 1", nan));  // NaN is no data, not "different from 1"

  AlertRule broken = Rule("x > 1");
  broken.op = "~";
  EXPECT_FALSE(RuleBreached(broken, std::vector<WindowMetrics>{{{"x", 5}}}));
  broken = Rule("x > 1", 0);
  EXPECT_FALSE(RuleBreached(broken, std::vector<WindowMetrics>{{{"x", 5}}}));
}

TEST(CooldownTest, QuietForCooldownAfterFiring) {
  AlertRule rule = Rule("drift_share > 0.3");
  rule.cooldown_ms = 3600000;
  const int64_t fired = 1714564800000;
  EXPECT_TRUE(CooldownElapsed(rule, std::nullopt, fired));
  EXPECT_FALSE(CooldownElapsed(rule, fired, fired));
  EXPECT_FALSE(CooldownElapsed(rule, fired, fired + 3599999));
  EXPECT_TRUE(CooldownElapsed(rule, fired, fired + 3600000));
  EXPECT_FALSE(CooldownElapsed(rule, fired, fired - 5000));  // the clock went back
  rule.cooldown_ms = 0;
  EXPECT_TRUE(CooldownElapsed(rule, fired, fired));
}

// ---------------------------------------------------------------------------------------------
// Action runner

// A tiny HTTP/1.1 server on 127.0.0.1: answers request i with statuses[i] (the last one repeats)
// and records what it received. Status 0 means never answering, holding the connection open.
class TestListener {
 public:
  struct Request {
    std::string method, target, content_type, body;
    Clock::time_point at;
  };

  explicit TestListener(std::vector<int> statuses, std::string error_body = {})
      : statuses_(std::move(statuses)), error_body_(std::move(error_body)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TestListener() {
    stop_ = true;
    thread_.join();
    for (int held : held_) close(held);
    close(fd_);
  }

  std::string Url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::vector<Request> Requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd readable{fd_, POLLIN, 0};
      if (poll(&readable, 1, 20) <= 0) continue;
      int connection = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) continue;
      timeval five_seconds{5, 0};
      setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof(five_seconds));
      Request request = Read(connection);
      int status;
      {
        std::lock_guard lock(mutex_);
        status = statuses_[std::min(requests_.size(), statuses_.size() - 1)];
        requests_.push_back(std::move(request));
      }
      if (status == 0) {
        held_.push_back(connection);
        continue;
      }
      const std::string body = status < 300 ? "ok" : error_body_;
      const std::string response = "HTTP/1.1 " + std::to_string(status) + " Whatever\r\nContent-Type: text/plain\r\n" +
                                   "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                                   body;
      EXPECT_EQ(send(connection, response.data(), response.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(response.size()));
      close(connection);
    }
  }

  static Request Read(int connection) {
    std::string data;
    char buffer[4096];
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    while (true) {
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          std::string lower = data.substr(0, header_end);
          for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (auto at = lower.find("content-length:"); at != std::string::npos) {
            content_length = std::stoul(lower.substr(at + 15));
          }
        }
      }
      if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
      ssize_t n = recv(connection, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      data.append(buffer, static_cast<size_t>(n));
    }
    Request request;
    request.at = Clock::now();
    if (header_end == std::string::npos) return request;
    std::istringstream head(data.substr(0, header_end));
    head >> request.method >> request.target;
    std::string line;
    while (std::getline(head, line)) {
      if (line.size() > 13 && (line.rfind("Content-Type:", 0) == 0 || line.rfind("content-type:", 0) == 0)) {
        request.content_type = line.substr(13);
        while (!request.content_type.empty() && (request.content_type.front() == ' ')) request.content_type.erase(0, 1);
        while (!request.content_type.empty() && request.content_type.back() == '\r') request.content_type.pop_back();
      }
    }
    request.body = data.substr(header_end + 4, content_length);
    return request;
  }

  std::vector<int> statuses_;
  std::string error_body_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_ = false;
  std::thread thread_;
  std::vector<int> held_;  // only touched by the serving thread until it is joined
  std::mutex mutex_;
  std::vector<Request> requests_;
};

// Collects what the runner records, from whichever thread it records on.
class Deliveries {
 public:
  ActionRunner::DeliveryHandler Handler() {
    return [this](const DeliveryRecord& record) {
      std::lock_guard lock(mutex_);
      records_.push_back(record);
    };
  }
  std::vector<DeliveryRecord> Records() {
    std::lock_guard lock(mutex_);
    return records_;
  }

 private:
  std::mutex mutex_;
  std::vector<DeliveryRecord> records_;
};

AlertContext SampleContext() {
  AlertContext context;
  context.alert_id = "3f2a9c";
  context.monitor = "churn-drift";
  context.deployment = "churn";
  context.rule = "drift_high";
  context.metric = "drift_share";
  context.value = 0.45;
  context.threshold = 0.3;
  context.window_start_ms = 1714564800000;  // 2024-05-01T12:00:00Z
  context.window_end_ms = 1714568400000;    // 2024-05-01T13:00:00Z
  context.fired_at_ms = 1714568401234;
  context.result = {{"metrics", {{"drift_share", 0.45}, {"rows", 1200}}}, {"columns", {"age", "income"}}};
  return context;
}

WebhookTarget Webhook(const std::string& name, const std::string& url, int retries, int64_t backoff_ms,
                      int64_t timeout_ms = 2000) {
  return {name, url, retries, backoff_ms, timeout_ms};
}

// Runs `actions` for SampleContext() and returns what was recorded once they are done.
std::vector<DeliveryRecord> RunActions(std::map<std::string, WebhookTarget> webhooks,
                                       std::map<std::string, CommandTarget> commands,
                                       const std::vector<std::string>& actions, ActionRunnerOptions options = {}) {
  Deliveries deliveries;
  ActionRunner runner(std::move(webhooks), std::move(commands), nullptr, deliveries.Handler(), options);
  EXPECT_TRUE(runner.ValidateActions(actions).ok()) << runner.ValidateActions(actions).message();
  runner.Dispatch(SampleContext(), actions);
  runner.WaitIdle();
  return deliveries.Records();
}

TEST(WebhookTest, RetriesServerErrorsThenDeliversThePayload) {
  TestListener listener({503, 503, 200});
  const auto records =
      RunActions({{"ops", Webhook("ops", listener.Url("/hooks/alert?team=ml"), 3, 50)}}, {}, {"webhook:ops"});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].alert_id, "3f2a9c");
  EXPECT_EQ(records[0].action, "webhook:ops");
  EXPECT_TRUE(records[0].ok) << records[0].detail;
  EXPECT_EQ(records[0].attempts, 3);
  EXPECT_EQ(records[0].detail, "HTTP 200");
  EXPECT_GT(records[0].finished_at_ms, 0);

  const auto requests = listener.Requests();
  ASSERT_EQ(requests.size(), 3u);
  const json expected = {{"alert_id", "3f2a9c"},
                         {"monitor", "churn-drift"},
                         {"deployment", "churn"},
                         {"rule", "drift_high"},
                         {"metric", "drift_share"},
                         {"value", 0.45},
                         {"threshold", 0.3},
                         {"window_start", "2024-05-01T12:00:00.000Z"},
                         {"window_end", "2024-05-01T13:00:00.000Z"},
                         {"fired_at", "2024-05-01T13:00:01.234Z"},
                         {"result", SampleContext().result}};
  for (const auto& request : requests) {
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.target, "/hooks/alert?team=ml");
    EXPECT_EQ(request.content_type, "application/json");
    EXPECT_EQ(json::parse(request.body), expected);
  }
  // Exponential back-off: 50 ms before the first retry, 100 ms before the second.
  using std::chrono::milliseconds;
  EXPECT_GE(requests[1].at - requests[0].at, milliseconds(50));
  EXPECT_GE(requests[2].at - requests[1].at, milliseconds(100));
}

TEST(WebhookTest, ClientErrorIsFinal) {
  TestListener listener({400, 200}, "missing field 'text'\n");
  const auto records = RunActions({{"ops", Webhook("ops", listener.Url("/hook"), 3, 10)}}, {}, {"webhook:ops"});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].ok);
  EXPECT_EQ(records[0].attempts, 1);
  EXPECT_EQ(records[0].detail, "HTTP 400: missing field 'text'");
  EXPECT_EQ(listener.Requests().size(), 1u);
}

TEST(WebhookTest, TooManyRequestsIsRetried) {
  TestListener listener({429, 200});
  const auto records = RunActions({{"ops", Webhook("ops", listener.Url("/"), 3, 10)}}, {}, {"webhook:ops"});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].ok) << records[0].detail;
  EXPECT_EQ(records[0].attempts, 2);
}

TEST(WebhookTest, GivesUpAfterTheLastRetry) {
  TestListener listener({500}, "database is down");
  const auto records = RunActions({{"ops", Webhook("ops", listener.Url("/hook"), 2, 10)}}, {}, {"webhook:ops"});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].ok);
  EXPECT_EQ(records[0].attempts, 3);
  EXPECT_EQ(records[0].detail, "HTTP 500: database is down");
  EXPECT_EQ(listener.Requests().size(), 3u);
}

TEST(WebhookTest, ConnectionRefusedIsRetriedThenRecorded) {
  // A bound socket that does not listen: connections to its port are refused, and no one else can
  // take the port while the test runs.
  int bound = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(bound, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(getsockname(bound, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/hook";

  const auto records = RunActions({{"ops", Webhook("ops", url, 2, 10)}}, {}, {"webhook:ops"});
  close(bound);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].ok);
  EXPECT_EQ(records[0].attempts, 3);
  EXPECT_NE(records[0].detail.find("cannot reach http://127.0.0.1:"), std::string::npos) << records[0].detail;
  EXPECT_NE(records[0].detail.find("refused"), std::string::npos) << records[0].detail;
}

TEST(WebhookTest, EachAttemptIsBoundedByTheTimeout) {
  TestListener listener({0});
  const auto start = Clock::now();
  const auto records = RunActions({{"ops", Webhook("ops", listener.Url("/hook"), 1, 10, 200)}}, {}, {"webhook:ops"});
  const int64_t elapsed = MillisSince(start);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].ok);
  EXPECT_EQ(records[0].attempts, 2);
  EXPECT_NE(records[0].detail.find("timeout"), std::string::npos) << records[0].detail;
  EXPECT_GE(elapsed, 400);
  EXPECT_LT(elapsed, 3000);
  EXPECT_EQ(listener.Requests().size(), 2u);
}

TEST(WebhookTest, RetriesStopWhenTheRunnerIsDestroyed) {
  TestListener listener({503});
  Deliveries deliveries;
  auto runner = std::make_unique<ActionRunner>(
      std::map<std::string, WebhookTarget>{{"ops", Webhook("ops", listener.Url("/"), 5, 60000)}},
      std::map<std::string, CommandTarget>{}, nullptr, deliveries.Handler());
  runner->Dispatch(SampleContext(), {"webhook:ops"});
  ASSERT_TRUE(Eventually([&] { return listener.Requests().size() == 1; }));
  const auto start = Clock::now();
  runner.reset();
  EXPECT_LT(MillisSince(start), 2000);
  const auto records = deliveries.Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].ok);
  EXPECT_EQ(records[0].attempts, 1);
  EXPECT_EQ(records[0].detail, "HTTP 503; not retried: the action runner is stopping");
}

TEST(ActionTargetsTest, WebhookUrlsMustBePlainHttp) {
  auto check = [](const std::string& url) {
    return ActionRunner::ValidateTargets({{"ops", Webhook("ops", url, 3, 500)}}, {});
  };
  for (const std::string url : {"http://127.0.0.1:8080/hooks/alert", "http://hooks.internal/alert?team=ml",
                                "http://hooks.internal:80", "http://a-b.example.com/x/y"}) {
    EXPECT_TRUE(check(url).ok()) << url << ": " << check(url).message();
  }
  for (const auto& [url, why] : std::vector<std::pair<std::string, std::string>>{
           {"https://hooks.example.com/x", "uses https, which webhooks do not support; use http://"},
           {"ftp://hooks.example.com/x", "must start with http://"},
           {"hooks.example.com/x", "must start with http://"},
           {"http:///x", "has no host"},
           {"http://:8080/x", "has no host"},
           {"http://h:0/x", "has port '0', which is not a number from 1 to 65535"},
           {"http://h:70000/x", "has port '70000', which is not a number from 1 to 65535"},
           {"http://h:/x", "has port '', which is not a number from 1 to 65535"},
           {"http://h:8o/x", "has port '8o', which is not a number from 1 to 65535"},
           {"http://user:secret@h/x", "has credentials, which webhooks do not support"},
           {"http://h/x#top", "has a fragment ('#'), which is never sent"},
           {"http://h?x=1", "needs a path before its query, e.g. /hook?x=1"},
           {"http://h/a b", "contains a space or control character"},
           {"http://[::1]:80/x", "has an IPv6 address, which webhooks do not support"},
           {"http://h_1/x", "has host 'h_1', which is neither a host name nor an IPv4 address"},
       }) {
    Status status = check(url);
    EXPECT_EQ(status.code(), ErrorCode::kInvalidParameterValue) << url;
    EXPECT_EQ(status.message(), "webhook 'ops': URL '" + url + "' " + why);
  }
}

TEST(ActionTargetsTest, RefusesInconsistentTargets) {
  auto webhook_error = [](WebhookTarget target) {
    return ActionRunner::ValidateTargets({{"ops", std::move(target)}}, {}).message();
  };
  EXPECT_EQ(webhook_error(Webhook("other", "http://h/x", 3, 500)),
            "webhook 'ops': its name is 'other'; the two must match");
  EXPECT_EQ(webhook_error(Webhook("ops", "http://h/x", 21, 500)),
            "webhook 'ops': retries must be from 0 to 20, got 21");
  EXPECT_EQ(webhook_error(Webhook("ops", "http://h/x", -1, 500)),
            "webhook 'ops': retries must be from 0 to 20, got -1");
  EXPECT_EQ(webhook_error(Webhook("ops", "http://h/x", 3, -1)),
            "webhook 'ops': initial back-off must be from 0 to 3600000 ms, got -1 ms");
  EXPECT_EQ(webhook_error(Webhook("ops", "http://h/x", 3, 500, 0)),
            "webhook 'ops': timeout must be positive, got 0 ms");
  auto command_error = [](CommandTarget target) {
    return ActionRunner::ValidateTargets({}, {{"notify", std::move(target)}}).message();
  };
  EXPECT_EQ(command_error({"notify", {}, 1000}), "command 'notify': argv is empty; it needs at least the program");
  EXPECT_EQ(command_error({"notify", {""}, 1000}), "command 'notify': argv is empty; it needs at least the program");
  EXPECT_EQ(command_error({"other", {"/bin/true"}, 1000}), "command 'notify': its name is 'other'; the two must match");
  EXPECT_EQ(command_error({"notify", {"/bin/true"}, -5}), "command 'notify': timeout must be positive, got -5 ms");
  EXPECT_TRUE(ActionRunner::ValidateTargets({}, {{"notify", {"notify", {"/bin/true"}, 1000}}}).ok());
}

TEST(ActionRunnerTest, ValidateActionsRefusesWhatIsNotAllowListed) {
  ActionRunner runner({{"ops", Webhook("ops", "http://127.0.0.1:9/hook", 0, 0)},
                       {"insecure", Webhook("insecure", "https://hooks.example.com/x", 0, 0)}},
                      {{"notify", {"notify", {"/bin/true"}, 1000}}}, nullptr, nullptr);
  EXPECT_TRUE(runner.ValidateActions({}).ok());
  EXPECT_TRUE(runner.ValidateActions({"webhook:ops", "command:notify"}).ok());
  for (const auto& [action, message] : std::vector<std::pair<std::string, std::string>>{
           {"webhook:pagerduty",
            "action 'webhook:pagerduty': no webhook named 'pagerduty' is configured (configured: ops)"},
           {"command:rm", "action 'command:rm': no command named 'rm' is configured (configured: notify)"},
           {"email:oncall", "action 'email:oncall' is not one of webhook:<name>, command:<name>, rollback"},
           {"rollback", "action 'rollback': this process has no rollback handler"},
           {"webhook:insecure",
            "action 'webhook:insecure': webhook 'insecure': URL 'https://hooks.example.com/x' uses "
            "https, which webhooks do not support; use http://"},
       }) {
    Status status = runner.ValidateActions({"webhook:ops", action});
    EXPECT_EQ(status.code(), ErrorCode::kInvalidParameterValue) << action;
    EXPECT_EQ(status.message(), message);
  }
}

TEST(ActionRunnerTest, DispatchRecordsRefusedActionsWithoutRunningThem) {
  Deliveries deliveries;
  ActionRunner runner({}, {}, nullptr, deliveries.Handler());
  runner.Dispatch(SampleContext(), {"webhook:nowhere", "rollback"});
  runner.WaitIdle();
  const auto records = deliveries.Records();
  ASSERT_EQ(records.size(), 2u);
  for (const auto& record : records) {
    EXPECT_FALSE(record.ok);
    EXPECT_EQ(record.attempts, 0);
  }
  EXPECT_EQ(records[0].detail, "action 'webhook:nowhere': no webhook named 'nowhere' is configured (configured: none)");
}

TEST(CommandTest, GetsTheAlertInItsEnvironmentAndTheResultInAFile) {
  ScratchDir scratch;
  const auto out = scratch.path() / "env.txt";
  // A stale value in the server's environment must not reach the command.
  ASSERT_EQ(setenv("LATHE_ALERT_RULE", "stale", 1), 0);
  const auto records = RunActions(
      {},
      {{"notify",
        {"notify",
         {"/bin/sh", "-c",
          "env | grep -E '^(LATHE_ALERT_|PATH=)' | sort > \"$0\"; cat \"$LATHE_ALERT_RESULT_FILE\" > \"$0.result\"; "
          "echo to-stdout; echo to-stderr >&2",
          out.string()},
         10000}}},
      {"command:notify"});
  unsetenv("LATHE_ALERT_RULE");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].ok) << records[0].detail;
  EXPECT_EQ(records[0].attempts, 1);
  EXPECT_EQ(records[0].detail, "exit code 0; output:\nto-stdout\nto-stderr\n");

  std::map<std::string, std::string> environment;
  std::istringstream lines(ReadFile(out));
  for (std::string line; std::getline(lines, line);) {
    const auto equals = line.find('=');
    EXPECT_TRUE(environment.emplace(line.substr(0, equals), line.substr(equals + 1)).second) << "twice: " << line;
  }
  const std::string result_file = environment["LATHE_ALERT_RESULT_FILE"];
  environment.erase("LATHE_ALERT_RESULT_FILE");
  EXPECT_EQ(environment, (std::map<std::string, std::string>{{"LATHE_ALERT_ID", "3f2a9c"},
                                                             {"LATHE_ALERT_MONITOR", "churn-drift"},
                                                             {"LATHE_ALERT_DEPLOYMENT", "churn"},
                                                             {"LATHE_ALERT_RULE", "drift_high"},
                                                             {"LATHE_ALERT_METRIC", "drift_share"},
                                                             {"LATHE_ALERT_VALUE", "0.45"},
                                                             {"LATHE_ALERT_THRESHOLD", "0.3"},
                                                             {"LATHE_ALERT_WINDOW_START", "2024-05-01T12:00:00.000Z"},
                                                             {"LATHE_ALERT_WINDOW_END", "2024-05-01T13:00:00.000Z"},
                                                             {"LATHE_ALERT_FIRED_AT", "2024-05-01T13:00:01.234Z"},
                                                             {"PATH", std::getenv("PATH")}}));
  EXPECT_EQ(json::parse(ReadFile(out.string() + ".result")), SampleContext().result);
  EXPECT_FALSE(result_file.empty());
  EXPECT_FALSE(std::filesystem::exists(result_file)) << "the result file outlived the command";
}

TEST(CommandTest, NonZeroExitIsAFailureWithItsOutput) {
  const auto records = RunActions(
      {}, {{"fail", {"fail", {"/bin/sh", "-c", "echo 'no such deployment' >&2; exit 3"}, 10000}}}, {"command:fail"});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].ok);
  EXPECT_EQ(records[0].detail, "exit code 3; output:\nno such deployment\n");
}

TEST(CommandTest, KeepsOnlyTheTailOfTheOutput) {
  ActionRunnerOptions options;
  options.output_tail_bytes = 4096;
  const auto records = RunActions(
      {}, {{"chatty", {"chatty", {"/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo END"}, 10000}}},
      {"command:chatty"}, options);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].ok) << records[0].detail.substr(0, 200);
  const std::string prefix = "exit code 0; output:\n[last 4096 of 100004 bytes]\n";
  ASSERT_EQ(records[0].detail.substr(0, prefix.size()), prefix);
  EXPECT_EQ(records[0].detail.size(), prefix.size() + 4096);
  EXPECT_EQ(records[0].detail.substr(records[0].detail.size() - 6), "xxEND\n");
}

TEST(CommandTest, MissingProgramIsRecorded) {
  const auto records =
      RunActions({}, {{"ghost", {"ghost", {"/nonexistent/lathe-alert-hook"}, 10000}}}, {"command:ghost"});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].ok);
  EXPECT_EQ(records[0].detail, "cannot start '/nonexistent/lathe-alert-hook': No such file or directory");
}

TEST(CommandTest, OverrunningCommandIsTerminated) {
  const auto start = Clock::now();
  const auto records = RunActions({}, {{"slow", {"slow", {"/bin/sleep", "30"}, 200}}}, {"command:slow"});
  EXPECT_LT(MillisSince(start), 3000);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].ok);
  EXPECT_EQ(records[0].detail, "timed out after 200 ms; killed by SIGTERM");
}

TEST(CommandTest, CommandIgnoringSigtermIsKilled) {
  // The shell ignores SIGTERM, and so does its sleep, which outlives the shell holding the output
  // pipe open: the runner must neither wait for the sleep nor for the end of the output.
  ActionRunnerOptions options;
  options.kill_grace_ms = 300;
  const auto start = Clock::now();
  const auto records = RunActions(
      {}, {{"stubborn", {"stubborn", {"/bin/sh", "-c", "trap '' TERM; echo started; sleep 4; echo never"}, 200}}},
      {"command:stubborn"}, options);
  const int64_t elapsed = MillisSince(start);
  EXPECT_GE(elapsed, 500);
  EXPECT_LT(elapsed, 2500);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].ok);
  EXPECT_EQ(records[0].detail, "timed out after 200 ms; killed by SIGKILL; output:\nstarted\n");
}

TEST(ActionRunnerTest, DispatchDoesNotWaitAndDropsWhatDoesNotFit) {
  ScratchDir scratch;
  ActionRunnerOptions options;
  options.queue_capacity = 1;
  Deliveries deliveries;
  ActionRunner runner({}, {{"slow", {"slow", {"/bin/sleep", "0.5"}, 10000}}}, nullptr, deliveries.Handler(), options);
  const auto start = Clock::now();
  runner.Dispatch(SampleContext(), {"command:slow", "command:slow", "command:slow"});
  EXPECT_LT(MillisSince(start), 200);
  runner.WaitIdle();
  EXPECT_GE(MillisSince(start), 500);
  const auto records = deliveries.Records();
  ASSERT_EQ(records.size(), 3u);
  // The two that did not fit are recorded first, from Dispatch itself.
  for (int i = 0; i < 2; ++i) {
    EXPECT_FALSE(records[i].ok);
    EXPECT_EQ(records[i].attempts, 0);
    EXPECT_EQ(records[i].detail, "not run: the action queue is full (1 pending)");
  }
  EXPECT_TRUE(records[2].ok) << records[2].detail;
}

TEST(ActionRunnerTest, DestructorStopsTheRunningCommandAndDropsThePending) {
  ScratchDir scratch;
  const auto started = scratch.path() / "started";
  ActionRunnerOptions options;
  options.shutdown_grace_ms = 200;
  options.kill_grace_ms = 200;
  Deliveries deliveries;
  auto runner = std::make_unique<ActionRunner>(
      std::map<std::string, WebhookTarget>{},
      std::map<std::string, CommandTarget>{
          {"slow", {"slow", {"/bin/sh", "-c", "touch \"$0\"; exec sleep 30", started.string()}, 60000}}},
      nullptr, deliveries.Handler(), options);
  runner->Dispatch(SampleContext(), {"command:slow", "command:slow"});
  ASSERT_TRUE(Eventually([&] { return std::filesystem::exists(started); }));
  const auto start = Clock::now();
  runner.reset();
  const int64_t elapsed = MillisSince(start);
  EXPECT_GE(elapsed, 200);
  EXPECT_LT(elapsed, 2000);
  const auto records = deliveries.Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_FALSE(records[0].ok);
  EXPECT_EQ(records[0].attempts, 1);
  EXPECT_EQ(records[0].detail, "stopped: the action runner is shutting down; killed by SIGTERM");
  EXPECT_FALSE(records[1].ok);
  EXPECT_EQ(records[1].attempts, 0);
  EXPECT_EQ(records[1].detail, "not run: the action runner stopped");
}

TEST(RollbackTest, CallsTheHandlerAndRecordsItsOutcome) {
  Deliveries deliveries;
  std::vector<std::string> rolled_back;
  int calls = 0;
  ActionRunner runner(
      {}, {{"after", {"after", {"/bin/true"}, 10000}}},
      [&](const AlertContext& context) -> Status {
        ++calls;
        if (calls == 2) return Status::InvalidState("deployment 'churn' has no previous version");
        if (calls == 3) throw std::runtime_error("registry unreachable");
        rolled_back.push_back(context.deployment);
        return Status::Ok();
      },
      deliveries.Handler());
  for (int i = 0; i < 3; ++i) runner.Dispatch(SampleContext(), {"rollback", "command:after"});
  runner.WaitIdle();
  EXPECT_EQ(rolled_back, std::vector<std::string>{"churn"});
  const auto records = deliveries.Records();
  ASSERT_EQ(records.size(), 6u);
  // Actions run in the order they are listed.
  for (int i = 0; i < 6; ++i) EXPECT_EQ(records[i].action, i % 2 == 0 ? "rollback" : "command:after");
  EXPECT_TRUE(records[0].ok);
  EXPECT_EQ(records[0].detail, "rolled back");
  EXPECT_FALSE(records[2].ok);
  EXPECT_EQ(records[2].detail, "deployment 'churn' has no previous version");
  EXPECT_FALSE(records[4].ok);
  EXPECT_EQ(records[4].detail, "failed: registry unreachable");
  EXPECT_TRUE(records[5].ok) << records[5].detail;
}

}  // namespace
}  // namespace lathe::monitoring
