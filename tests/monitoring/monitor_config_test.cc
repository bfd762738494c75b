// monitoring.yaml: a complete file, and each mistake reported with its file, line and reason.
#include <gtest/gtest.h>

#include "monitoring/monitor_config.h"

namespace lathe::monitoring {
namespace {

constexpr const char* kComplete = R"yaml(
webhooks:
  oncall: {url: "http://127.0.0.1:9000/hook", retries: 2, backoff: 250ms, timeout: 3s}
commands:
  retrain: {argv: [/usr/bin/make, retrain], timeout: 10m}
prediction_log:
  sampling: 0.5
  retention: 7d
deployments:
  churn:
    sensitive: {ssn: hash, name: drop}
monitors:
  churn:
    deployment: churn
    window: 1h
    schedule: 5m
    task: classification
    prediction: output_label
    probabilities: output_probabilities
    target: churned
    kinds: {zip: categorical, comment: text, signup: datetime}
    drift:
      share: 0.3
      tests: {age: {test: psi, threshold: 0.2}}
    integrity:
      rules:
        - {name: male_and_pregnant, sql: "NOT (gender = 'male' AND pregnant)"}
      ranges: {age: {min: 0, max: 120}}
      max_null_share: {age: 0.1}
    alerts:
      - name: drift
        when: drift_share > 0.3
        for: 2
        cooldown: 30m
        actions: [webhook:oncall, rollback, command:retrain]
  recent:
    deployment: churn
    last: 500
)yaml";

TEST(MonitorConfigTest, ReadsEverySection) {
  auto config = ParseMonitoringConfig(kComplete, "monitoring.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->webhooks.at("oncall").retries, 2);
  EXPECT_EQ(config->webhooks.at("oncall").initial_backoff_ms, 250);
  EXPECT_EQ(config->webhooks.at("oncall").timeout_ms, 3000);
  EXPECT_EQ(config->commands.at("retrain").argv, (std::vector<std::string>{"/usr/bin/make", "retrain"}));
  EXPECT_EQ(config->commands.at("retrain").timeout_ms, 600000);
  EXPECT_DOUBLE_EQ(config->default_log_policy.sampling, 0.5);
  // A deployment's policy starts from the defaults.
  EXPECT_DOUBLE_EQ(config->log_policies.at("churn").sampling, 0.5);
  EXPECT_EQ(config->log_policies.at("churn").retention_ms, 7 * 86400000LL);
  EXPECT_EQ(config->log_policies.at("churn").sensitive.at("ssn"), "hash");

  const MonitorSpec& churn = config->monitors.at("churn");
  EXPECT_EQ(churn.window_ms, 3600000);
  EXPECT_EQ(churn.schedule_ms, 300000);
  EXPECT_EQ(churn.task, Task::kClassification);
  EXPECT_EQ(churn.target, "churned");
  EXPECT_EQ(churn.drift.kinds.at("zip"), ColumnKind::kCategorical);
  EXPECT_EQ(churn.drift.kinds.at("comment"), ColumnKind::kText);
  EXPECT_EQ(churn.integrity.kinds.at("signup"), ColumnKind::kDatetime);
  EXPECT_DOUBLE_EQ(churn.drift.drift_share, 0.3);
  EXPECT_EQ(*churn.drift.settings.at("age").test, "psi");
  EXPECT_DOUBLE_EQ(*churn.drift.settings.at("age").threshold, 0.2);
  ASSERT_EQ(churn.integrity.rules.size(), 1u);
  EXPECT_EQ(churn.integrity.rules[0].sql, "NOT (gender = 'male' AND pregnant)");
  EXPECT_DOUBLE_EQ(*churn.integrity.ranges.at("age").max, 120);
  ASSERT_EQ(churn.alerts.size(), 1u);
  EXPECT_EQ(churn.alerts[0].metric, "drift_share");
  EXPECT_EQ(churn.alerts[0].op, ">");
  EXPECT_DOUBLE_EQ(churn.alerts[0].threshold, 0.3);
  EXPECT_EQ(churn.alerts[0].for_windows, 2);
  EXPECT_EQ(churn.alerts[0].cooldown_ms, 1800000);
  EXPECT_EQ(churn.alerts[0].actions.size(), 3u);
  EXPECT_EQ(config->monitors.at("recent").last_rows, 500);
}

TEST(MonitorConfigTest, AnEmptyFileHasNoMonitors) {
  auto config = ParseMonitoringConfig("", "monitoring.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->monitors.empty());
  EXPECT_DOUBLE_EQ(config->default_log_policy.sampling, 1.0);
}

struct BadCase {
  const char* yaml;
  const char* message;
};

TEST(MonitorConfigTest, MistakesNameTheFileLineAndReason) {
  const BadCase cases[] = {
      {"monitors:\n  m:\n    windw: 1h\n", "monitoring.yaml:3: unknown key 'windw' in monitor 'm'"},
      {"monitors:\n  m:\n    window: 1h\n    last: 10\n", "give 'window' or 'last', not both"},
      {"monitors:\n  m:\n    window: soon\n", "invalid duration 'soon'"},
      {"monitors:\n  m:\n    drift: {tests: {a: {test: magic}}}\n", "unknown drift test 'magic'"},
      {"monitors:\n  m:\n    alerts:\n      - {name: a, when: drift_share >, actions: [rollback]}\n", "monitoring.yaml:4"},
      {"monitors:\n  m:\n    alerts:\n      - {name: a, when: x > 1, actions: [webhook:pager]}\n", "unknown webhook 'pager'"},
      {"monitors:\n  m:\n    alerts:\n      - {name: a, when: x > 1, actions: [email]}\n", "unknown action 'email'"},
      {"webhooks:\n  w: {url: 'https://example.com/x'}\n", "only http:// URLs"},
      {"webhooks:\n  w: {url: 'http://user:secret@example.com/x'}\n", "monitoring.yaml: "},
      {"commands:\n  c: {argv: [make, retrain]}\n", "must be an absolute path"},
      {"prediction_log: {sampling: 2}\n", "'sampling' must be between 0 and 1"},
      {"deployments:\n  d: {sensitive: {ssn: encrypt}}\n", "expected hash or drop"},
      {"monitors:\n  m:\n    integrity: {ranges: {age: {min: 5, max: 1}}}\n", "min > max"},
      {"monitors:\n  m:\n    task: clustering\n", "unknown task 'clustering'"},
      {"monitors:\n  m:\n    kinds: {zip: ordinal}\n",
       "monitoring.yaml:3: column 'zip': kind must be numerical, categorical, text or datetime, not 'ordinal'"},
      {"monitors:\n  'a/b': {}\n", "invalid name 'a/b'"},
      {"monitors: [1, 2\n", "monitoring.yaml:"},
  };
  for (const auto& bad : cases) {
    auto config = ParseMonitoringConfig(bad.yaml, "monitoring.yaml");
    ASSERT_FALSE(config.ok()) << bad.yaml;
    EXPECT_NE(config.status().message().find(bad.message), std::string::npos)
        << bad.yaml << " -> " << config.status().message();
  }
}

}  // namespace
}  // namespace lathe::monitoring
