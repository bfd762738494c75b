#include "monitoring/monitor_config.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/yaml_reader.h"

namespace lathe::monitoring {
namespace {

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

class ConfigParser {
 public:
  explicit ConfigParser(std::string file_name) : yaml_(std::move(file_name)) {}

  Result<MonitoringConfig> Parse(const std::string& text) {
    LATHE_ASSIGN_OR_RETURN(auto root, yaml_.Parse(text));
    if (!root.IsDefined() || root.IsNull()) return config_;
    LATHE_RETURN_IF_ERROR(
        yaml_.CheckKeys(root, {"webhooks", "commands", "prediction_log", "deployments", "monitors"}, "the monitoring config"));
    if (root["webhooks"]) LATHE_RETURN_IF_ERROR(ForEachNamed(root["webhooks"], "webhooks", [&](auto& name, auto& node) {
      return ParseWebhook(name, node);
    }));
    if (root["commands"]) LATHE_RETURN_IF_ERROR(ForEachNamed(root["commands"], "commands", [&](auto& name, auto& node) {
      return ParseCommand(name, node);
    }));
    Status targets = ActionRunner::ValidateTargets(config_.webhooks, config_.commands);
    if (!targets.ok()) return Status::InvalidParameter(fmt::format("{}: {}", yaml_.file_name(), targets.message()));
    if (root["prediction_log"]) LATHE_RETURN_IF_ERROR(ParseLogPolicy(root["prediction_log"], config_.default_log_policy));
    if (root["deployments"]) LATHE_RETURN_IF_ERROR(ForEachNamed(root["deployments"], "deployments", [&](auto& name, auto& node) {
      DeploymentLogPolicy policy = config_.default_log_policy;
      LATHE_RETURN_IF_ERROR(ParseLogPolicy(node, policy));
      config_.log_policies[name] = std::move(policy);
      return Status::Ok();
    }));
    if (root["monitors"]) LATHE_RETURN_IF_ERROR(ForEachNamed(root["monitors"], "monitors", [&](auto& name, auto& node) {
      return ParseMonitor(name, node);
    }));
    return config_;
  }

 private:
  Status ForEachNamed(const YAML::Node& map, const std::string& what,
                      const std::function<Status(const std::string&, const YAML::Node&)>& parse) {
    LATHE_RETURN_IF_ERROR(yaml_.RequireMap(map, what));
    for (const auto& item : map) {
      const std::string name = item.first.as<std::string>("");
      if (!ValidName(name)) {
        return yaml_.Error(item.first, fmt::format("invalid name '{}' in {}: use letters, digits, '_', '-' and '.'", name, what));
      }
      LATHE_RETURN_IF_ERROR(parse(name, item.second));
    }
    return Status::Ok();
  }

  Status ParseWebhook(const std::string& name, const YAML::Node& node) {
    LATHE_RETURN_IF_ERROR(yaml_.CheckKeys(node, {"url", "retries", "backoff", "timeout"}, fmt::format("webhook '{}'", name)));
    WebhookTarget target;
    target.name = name;
    if (!node["url"]) return yaml_.Error(node, fmt::format("webhook '{}' has no 'url'", name));
    LATHE_RETURN_IF_ERROR(yaml_.ReadString(node["url"], "url", target.url));
    if (target.url.rfind("http://", 0) != 0) {
      return yaml_.Error(node["url"], fmt::format("webhook '{}': only http:// URLs are supported, not '{}'", name, target.url));
    }
    if (node["retries"]) {
      int64_t retries = 0;
      LATHE_RETURN_IF_ERROR(yaml_.ReadInteger(node["retries"], "retries", retries));
      if (retries < 0 || retries > 20) return yaml_.Error(node["retries"], "'retries' must be between 0 and 20");
      target.retries = static_cast<int>(retries);
    }
    if (node["backoff"]) LATHE_RETURN_IF_ERROR(yaml_.ReadDuration(node["backoff"], "backoff", target.initial_backoff_ms));
    if (node["timeout"]) LATHE_RETURN_IF_ERROR(yaml_.ReadDuration(node["timeout"], "timeout", target.timeout_ms));
    if (target.timeout_ms <= 0) return yaml_.Error(node["timeout"], "'timeout' must be positive");
    config_.webhooks[name] = std::move(target);
    return Status::Ok();
  }

  Status ParseCommand(const std::string& name, const YAML::Node& node) {
    LATHE_RETURN_IF_ERROR(yaml_.CheckKeys(node, {"argv", "timeout"}, fmt::format("command '{}'", name)));
    CommandTarget target;
    target.name = name;
    if (!node["argv"] || !node["argv"].IsSequence() || node["argv"].size() == 0) {
      return yaml_.Error(node, fmt::format("command '{}' needs 'argv': the program and its arguments, as a list", name));
    }
    LATHE_RETURN_IF_ERROR(yaml_.ReadStrings(node["argv"], "argv", target.argv));
    if (target.argv[0].front() != '/') {
      return yaml_.Error(node["argv"], fmt::format("command '{}': the program must be an absolute path, not '{}'", name,
                                                   target.argv[0]));
    }
    if (node["timeout"]) LATHE_RETURN_IF_ERROR(yaml_.ReadDuration(node["timeout"], "timeout", target.timeout_ms));
    if (target.timeout_ms <= 0) return yaml_.Error(node["timeout"], "'timeout' must be positive");
    config_.commands[name] = std::move(target);
    return Status::Ok();
  }

  Status ParseLogPolicy(const YAML::Node& node, DeploymentLogPolicy& policy) {
    LATHE_RETURN_IF_ERROR(yaml_.CheckKeys(node, {"sampling", "retention", "sensitive"}, "a prediction log policy"));
    if (node["sampling"]) {
      LATHE_RETURN_IF_ERROR(yaml_.ReadNumber(node["sampling"], "sampling", policy.sampling));
      if (policy.sampling < 0 || policy.sampling > 1) return yaml_.Error(node["sampling"], "'sampling' must be between 0 and 1");
    }
    if (node["retention"]) {
      LATHE_RETURN_IF_ERROR(yaml_.ReadDuration(node["retention"], "retention", policy.retention_ms));
      if (policy.retention_ms < 3600000) return yaml_.Error(node["retention"], "'retention' must be at least 1h");
    }
    if (node["sensitive"]) {
      LATHE_RETURN_IF_ERROR(yaml_.RequireMap(node["sensitive"], "sensitive"));
      for (const auto& item : node["sensitive"]) {
        std::string column = item.first.as<std::string>(""), how;
        LATHE_RETURN_IF_ERROR(yaml_.ReadString(item.second, column, how));
        if (how != "hash" && how != "drop") {
          return yaml_.Error(item.second, fmt::format("sensitive column '{}': expected hash or drop, not '{}'", column, how));
        }
        policy.sensitive[column] = how;
      }
    }
    return Status::Ok();
  }

  Status ParseMonitor(const std::string& name, const YAML::Node& node) {
    const std::string what = fmt::format("monitor '{}'", name);
    LATHE_RETURN_IF_ERROR(yaml_.CheckKeys(node,
                                          {"deployment", "window", "last", "schedule", "reference", "prediction", "probabilities",
                                           "target", "reference_prediction", "task", "columns", "kinds", "drift", "integrity",
                                           "alerts"},
                                          what));
    MonitorSpec spec;
    spec.name = name;
    spec.deployment = name;
    if (node["deployment"]) LATHE_RETURN_IF_ERROR(yaml_.ReadString(node["deployment"], "deployment", spec.deployment));
    if (node["window"] && node["last"]) return yaml_.Error(node["last"], fmt::format("{}: give 'window' or 'last', not both", what));
    if (node["window"]) {
      LATHE_RETURN_IF_ERROR(yaml_.ReadDuration(node["window"], "window", spec.window_ms));
      if (spec.window_ms < 1000) return yaml_.Error(node["window"], "'window' must be at least 1s");
    }
    if (node["last"]) {
      LATHE_RETURN_IF_ERROR(yaml_.ReadInteger(node["last"], "last", spec.last_rows));
      if (spec.last_rows <= 0 || spec.last_rows > 100000000) {
        return yaml_.Error(node["last"], "'last' must be a row count between 1 and 100000000");
      }
    }
    if (node["schedule"]) {
      LATHE_RETURN_IF_ERROR(yaml_.ReadDuration(node["schedule"], "schedule", spec.schedule_ms));
      if (spec.schedule_ms < 1000) return yaml_.Error(node["schedule"], "'schedule' must be at least 1s");
    }
    for (auto [key, out] : {std::pair{"reference", &spec.reference}, {"prediction", &spec.prediction},
                            {"probabilities", &spec.probabilities}, {"target", &spec.target},
                            {"reference_prediction", &spec.reference_prediction}}) {
      if (node[key]) LATHE_RETURN_IF_ERROR(yaml_.ReadString(node[key], key, *out));
    }
    if (node["task"]) {
      std::string task;
      LATHE_RETURN_IF_ERROR(yaml_.ReadString(node["task"], "task", task));
      if (task == "classification") spec.task = Task::kClassification;
      else if (task == "regression") spec.task = Task::kRegression;
      else return yaml_.Error(node["task"], fmt::format("unknown task '{}': expected classification or regression", task));
    }
    if (node["columns"]) LATHE_RETURN_IF_ERROR(yaml_.ReadStrings(node["columns"], "columns", spec.drift.columns));
    if (node["kinds"]) {
      LATHE_RETURN_IF_ERROR(yaml_.RequireMap(node["kinds"], "kinds"));
      for (const auto& item : node["kinds"]) {
        std::string column = item.first.as<std::string>(""), kind;
        LATHE_RETURN_IF_ERROR(yaml_.ReadString(item.second, column, kind));
        auto parsed = ParseColumnKind(kind);
        if (!parsed) return yaml_.Error(item.second, fmt::format("column '{}': kind must be {}, not '{}'", column, kColumnKindNames, kind));
        spec.drift.kinds[column] = *parsed;
      }
      spec.integrity.kinds = spec.drift.kinds;
    }
    if (node["drift"]) LATHE_RETURN_IF_ERROR(ParseDrift(node["drift"], spec));
    if (node["integrity"]) LATHE_RETURN_IF_ERROR(ParseIntegrity(node["integrity"], spec));
    if (node["alerts"]) LATHE_RETURN_IF_ERROR(ParseAlerts(node["alerts"], spec));
    config_.monitors[name] = std::move(spec);
    return Status::Ok();
  }

  Status ParseDrift(const YAML::Node& node, MonitorSpec& spec) {
    LATHE_RETURN_IF_ERROR(yaml_.CheckKeys(node, {"share", "tests"}, "drift"));
    if (node["share"]) {
      LATHE_RETURN_IF_ERROR(yaml_.ReadNumber(node["share"], "share", spec.drift.drift_share));
      if (spec.drift.drift_share <= 0 || spec.drift.drift_share > 1) return yaml_.Error(node["share"], "'share' must be in (0, 1]");
    }
    if (node["tests"]) {
      LATHE_RETURN_IF_ERROR(yaml_.RequireMap(node["tests"], "tests"));
      for (const auto& item : node["tests"]) {
        const std::string column = item.first.as<std::string>("");
        LATHE_RETURN_IF_ERROR(yaml_.CheckKeys(item.second, {"test", "threshold"}, fmt::format("the drift test of '{}'", column)));
        DriftSettings settings;
        if (item.second["test"]) {
          std::string test;
          LATHE_RETURN_IF_ERROR(yaml_.ReadString(item.second["test"], "test", test));
          Status known = CheckDriftTest(test);
          if (!known.ok()) return yaml_.Error(item.second["test"], known.message());
          settings.test = test;
        }
        if (item.second["threshold"]) {
          double threshold = 0;
          LATHE_RETURN_IF_ERROR(yaml_.ReadNumber(item.second["threshold"], "threshold", threshold));
          if (threshold < 0) return yaml_.Error(item.second["threshold"], "'threshold' must not be negative");
          settings.threshold = threshold;
        }
        spec.drift.settings[column] = settings;
      }
    }
    return Status::Ok();
  }

  Status ParseIntegrity(const YAML::Node& node, MonitorSpec& spec) {
    LATHE_RETURN_IF_ERROR(
        yaml_.CheckKeys(node, {"rules", "ranges", "max_null_share", "default_max_null_share", "duplicate_key"}, "integrity"));
    IntegrityOptions& options = spec.integrity;
    if (node["rules"]) {
      if (!node["rules"].IsSequence()) return yaml_.Error(node["rules"], "'rules' must be a list of {name, sql}");
      for (const auto& item : node["rules"]) {
        LATHE_RETURN_IF_ERROR(yaml_.CheckKeys(item, {"name", "sql"}, "a rule"));
        IntegrityRule rule;
        if (!item["name"] || !item["sql"]) return yaml_.Error(item, "a rule needs 'name' and 'sql'");
        LATHE_RETURN_IF_ERROR(yaml_.ReadString(item["name"], "name", rule.name));
        LATHE_RETURN_IF_ERROR(yaml_.ReadString(item["sql"], "sql", rule.sql));
        for (const auto& other : options.rules) {
          if (other.name == rule.name) return yaml_.Error(item["name"], fmt::format("duplicate rule '{}'", rule.name));
        }
        options.rules.push_back(std::move(rule));
      }
    }
    if (node["ranges"]) {
      LATHE_RETURN_IF_ERROR(yaml_.RequireMap(node["ranges"], "ranges"));
      for (const auto& item : node["ranges"]) {
        const std::string column = item.first.as<std::string>("");
        LATHE_RETURN_IF_ERROR(yaml_.CheckKeys(item.second, {"min", "max"}, fmt::format("the range of '{}'", column)));
        NumericRange range;
        for (auto [key, out] : {std::pair{"min", &range.min}, {"max", &range.max}}) {
          if (!item.second[key]) continue;
          double value = 0;
          LATHE_RETURN_IF_ERROR(yaml_.ReadNumber(item.second[key], key, value));
          *out = value;
        }
        if (range.min && range.max && *range.min > *range.max) {
          return yaml_.Error(item.second, fmt::format("the range of '{}' has min > max", column));
        }
        options.ranges[column] = range;
      }
    }
    auto read_share = [&](const YAML::Node& share, const std::string& what, double& out) -> Status {
      LATHE_RETURN_IF_ERROR(yaml_.ReadNumber(share, what, out));
      if (out < 0 || out > 1) return yaml_.Error(share, fmt::format("'{}' must be between 0 and 1", what));
      return Status::Ok();
    };
    if (node["max_null_share"]) {
      LATHE_RETURN_IF_ERROR(yaml_.RequireMap(node["max_null_share"], "max_null_share"));
      for (const auto& item : node["max_null_share"]) {
        const std::string column = item.first.as<std::string>("");
        LATHE_RETURN_IF_ERROR(read_share(item.second, column, options.max_null_share[column]));
      }
    }
    if (node["default_max_null_share"]) {
      LATHE_RETURN_IF_ERROR(read_share(node["default_max_null_share"], "default_max_null_share", options.default_max_null_share));
    }
    if (node["duplicate_key"]) LATHE_RETURN_IF_ERROR(yaml_.ReadStrings(node["duplicate_key"], "duplicate_key", options.duplicate_key));
    return Status::Ok();
  }

  Status ParseAlerts(const YAML::Node& node, MonitorSpec& spec) {
    if (!node.IsSequence()) return yaml_.Error(node, "'alerts' must be a list of rules");
    for (const auto& item : node) {
      LATHE_RETURN_IF_ERROR(yaml_.CheckKeys(item, {"name", "when", "for", "cooldown", "actions"}, "an alert"));
      if (!item["name"] || !item["when"]) return yaml_.Error(item, "an alert needs 'name' and 'when' (e.g. drift_share > 0.3)");
      std::string name, when;
      LATHE_RETURN_IF_ERROR(yaml_.ReadString(item["name"], "name", name));
      LATHE_RETURN_IF_ERROR(yaml_.ReadString(item["when"], "when", when));
      auto parsed = ParseCondition(when);
      if (!parsed.ok()) return yaml_.Error(item["when"], parsed.status().message());
      AlertRule rule = *parsed;
      rule.name = name;
      if (item["for"]) {
        int64_t windows = 0;
        LATHE_RETURN_IF_ERROR(yaml_.ReadInteger(item["for"], "for", windows));
        if (windows < 1 || windows > 1000) return yaml_.Error(item["for"], "'for' must be a number of windows between 1 and 1000");
        rule.for_windows = static_cast<int>(windows);
      }
      if (item["cooldown"]) LATHE_RETURN_IF_ERROR(yaml_.ReadDuration(item["cooldown"], "cooldown", rule.cooldown_ms));
      if (item["actions"]) LATHE_RETURN_IF_ERROR(yaml_.ReadStrings(item["actions"], "actions", rule.actions));
      for (const auto& action : rule.actions) {
        Status known = CheckActionReference(action);
        if (!known.ok()) return yaml_.Error(item["actions"], fmt::format("alert '{}': {}", name, known.message()));
      }
      for (const auto& other : spec.alerts) {
        if (other.name == rule.name) return yaml_.Error(item["name"], fmt::format("duplicate alert '{}'", name));
      }
      spec.alerts.push_back(std::move(rule));
    }
    return Status::Ok();
  }

  // Actions name entries of this file's allow-lists, never addresses or programs.
  Status CheckActionReference(const std::string& action) const {
    if (action == "rollback") return Status::Ok();
    if (action.rfind("webhook:", 0) == 0) {
      if (config_.webhooks.count(action.substr(8))) return Status::Ok();
      return Status::InvalidParameter(fmt::format("unknown webhook '{}': declare it under 'webhooks'", action.substr(8)));
    }
    if (action.rfind("command:", 0) == 0) {
      if (config_.commands.count(action.substr(8))) return Status::Ok();
      return Status::InvalidParameter(fmt::format("unknown command '{}': declare it under 'commands'", action.substr(8)));
    }
    return Status::InvalidParameter(
        fmt::format("unknown action '{}': expected webhook:<name>, command:<name> or rollback", action));
  }

  YamlReader yaml_;
  MonitoringConfig config_;
};

}  // namespace

Result<MonitoringConfig> ParseMonitoringConfig(const std::string& text, const std::string& file_name) {
  return ConfigParser(file_name).Parse(text);
}

Result<MonitoringConfig> LoadMonitoringConfig(const std::string& path) {
  std::ifstream file(path);
  if (!file) return Status::InvalidParameter(fmt::format("cannot read monitoring config {}", path));
  std::stringstream text;
  text << file.rdbuf();
  return ParseMonitoringConfig(text.str(), path);
}

}  // namespace lathe::monitoring
