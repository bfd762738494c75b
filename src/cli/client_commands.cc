// `lathe experiments|runs|models|audit`: talk to a running server over its REST API and print
// tables for people or JSON for scripts.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "http/client.h"
#include "http/url.h"

namespace lathe::cli {
namespace {

using nlohmann::json;

struct ClientSettings {
  std::string tracking_uri = "http://127.0.0.1:5000";
  bool json = false;
};

Result<json> Call(const ClientSettings& settings, const std::string& method, const std::string& target,
                  const json& body = nullptr) {
  return CallServer(settings.tracking_uri, method, target, body);
}

std::string Text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

std::string FormatTime(const json& millis) {
  if (!millis.is_number()) return "";
  time_t seconds = millis.get<int64_t>() / 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &utc);
  return buffer;
}

}  // namespace

Result<json> CallServer(const std::string& tracking_uri, const std::string& method, const std::string& target,
                        const json& body) {
  LATHE_ASSIGN_OR_RETURN(auto response,
                         http::SendRequest(tracking_uri, method, target, body.is_null() ? "" : body.dump()));
  json parsed = json::parse(response.body, nullptr, false);
  if (response.status >= 400) {
    std::string message;
    if (parsed.is_object() && parsed.contains("message")) {
      message = parsed["message"].get<std::string>();
    } else if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_string()) {
      message = parsed["error"].get<std::string>();
    } else {
      message = response.body.substr(0, 200);
    }
    return Status::InvalidParameter(fmt::format("server answered {}: {}", response.status, message));
  }
  if (parsed.is_discarded()) return Status::Internal("the server's answer is not JSON");
  return parsed;
}

std::string DefaultTrackingUri() {
  const char* uri = std::getenv("LATHE_TRACKING_URI");
  return uri != nullptr && *uri != '\0' ? std::string(uri) : std::string("http://127.0.0.1:5000");
}

void PrintTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& header : headers) widths.push_back(header.size());
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      line += cells[i];
      if (i + 1 < cells.size()) line += std::string(widths[i] - cells[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  };
  print_row(headers);
  for (const auto& row : rows) print_row(row);
}

namespace {

void PrintJson(const json& value) { std::printf("%s\n", value.dump(2).c_str()); }

std::string Query(std::initializer_list<std::pair<std::string, std::string>> pairs) {
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (value.empty()) continue;
    out += out.empty() ? "?" : "&";
    out += http::EncodePercent(key, false) + "=" + http::EncodePercent(value, false);
  }
  return out;
}

const std::string kApi = "/api/2.0/mlflow/";

}  // namespace

void AddClientCommands(CLI::App& app, Action& action) {
  auto settings = std::make_shared<ClientSettings>();
  // The environment sets the default here rather than through CLI11's envname: CLI11 applies an
  // option's variable to every command that declares it, and these commands share one setting,
  // so a sibling command's environment value would overwrite the flag.
  settings->tracking_uri = DefaultTrackingUri();
  auto add_common = [settings](CLI::App* command) {
    command->add_option("--tracking-uri", settings->tracking_uri, "The Lathe server (env LATHE_TRACKING_URI)")
        ->capture_default_str();
    command->add_flag("--json", settings->json, "Print JSON instead of a table");
  };

  // experiments
  auto* experiments = app.add_subcommand("experiments", "List, create and delete experiments.");
  experiments->require_subcommand(1);
  {
    auto* list = experiments->add_subcommand("list", "List experiments.");
    add_common(list);
    auto view = std::make_shared<std::string>("active");
    list->add_option("--view", *view, "active, deleted or all")
        ->check(CLI::IsMember({"active", "deleted", "all"}))
        ->capture_default_str();
    list->callback([&action, settings, view] {
      action = [settings, view]() -> Status {
        std::string view_type = *view == "active" ? "ACTIVE_ONLY" : *view == "deleted" ? "DELETED_ONLY" : "ALL";
        json all = json::array();
        std::string token;
        do {
          LATHE_ASSIGN_OR_RETURN(auto page, Call(*settings, "GET", kApi + "experiments/search" +
                                                                       Query({{"view_type", view_type},
                                                                              {"max_results", "1000"},
                                                                              {"page_token", token}})));
          for (auto& experiment : page.value("experiments", json::array())) all.push_back(experiment);
          token = page.value("next_page_token", "");
        } while (!token.empty());
        if (settings->json) return PrintJson(all), Status::Ok();
        std::vector<std::vector<std::string>> rows;
        for (const auto& e : all) {
          rows.push_back({Text(e["experiment_id"]), Text(e["name"]), Text(e["lifecycle_stage"]),
                          FormatTime(e["creation_time"]), Text(e["artifact_location"])});
        }
        PrintTable({"ID", "NAME", "STAGE", "CREATED (UTC)", "ARTIFACT LOCATION"}, rows);
        return Status::Ok();
      };
    });

    auto* create = experiments->add_subcommand("create", "Create an experiment.");
    add_common(create);
    auto name = std::make_shared<std::string>();
    auto location = std::make_shared<std::string>();
    create->add_option("name", *name, "Experiment name")->required();
    create->add_option("--artifact-location", *location, "Where its artifacts go (default: the server's store)");
    create->callback([&action, settings, name, location] {
      action = [settings, name, location]() -> Status {
        json body = {{"name", *name}};
        if (!location->empty()) body["artifact_location"] = *location;
        LATHE_ASSIGN_OR_RETURN(auto answer, Call(*settings, "POST", kApi + "experiments/create", body));
        if (settings->json) return PrintJson(answer), Status::Ok();
        std::printf("created experiment %s\n", Text(answer["experiment_id"]).c_str());
        return Status::Ok();
      };
    });

    auto* remove = experiments->add_subcommand("delete", "Delete an experiment and its runs (restorable until gc).");
    add_common(remove);
    auto id = std::make_shared<std::string>();
    remove->add_option("experiment_id", *id, "Experiment id")->required();
    remove->callback([&action, settings, id] {
      action = [settings, id]() -> Status {
        LATHE_ASSIGN_OR_RETURN(auto answer, Call(*settings, "POST", kApi + "experiments/delete", {{"experiment_id", *id}}));
        if (settings->json) return PrintJson(answer), Status::Ok();
        std::printf("deleted experiment %s\n", id->c_str());
        return Status::Ok();
      };
    });
  }

  // runs
  auto* runs = app.add_subcommand("runs", "List, show and delete runs.");
  runs->require_subcommand(1);
  {
    auto* list = runs->add_subcommand("list", "List the runs of experiments.");
    add_common(list);
    auto experiment_ids = std::make_shared<std::vector<std::string>>();
    auto filter = std::make_shared<std::string>();
    auto order_by = std::make_shared<std::vector<std::string>>();
    auto max_results = std::make_shared<int>(100);
    list->add_option("--experiment-id", *experiment_ids, "Experiment id (repeatable)")->required();
    list->add_option("--filter", *filter, "MLflow filter, e.g. \"metrics.rmse < 1 and params.alpha = '0.5'\"");
    list->add_option("--order-by", *order_by, "e.g. \"metrics.rmse ASC\" (repeatable)");
    list->add_option("--max-results", *max_results, "How many runs")->check(CLI::Range(1, 50000))->capture_default_str();
    list->callback([&action, settings, experiment_ids, filter, order_by, max_results] {
      action = [=]() -> Status {
        json body = {{"experiment_ids", *experiment_ids}, {"max_results", *max_results}};
        if (!filter->empty()) body["filter"] = *filter;
        if (!order_by->empty()) body["order_by"] = *order_by;
        LATHE_ASSIGN_OR_RETURN(auto answer, Call(*settings, "POST", kApi + "runs/search", body));
        json found = answer.value("runs", json::array());
        if (settings->json) return PrintJson(found), Status::Ok();
        std::vector<std::vector<std::string>> rows;
        for (const auto& run : found) {
          const auto& info = run["info"];
          rows.push_back({Text(info["run_id"]), Text(info["run_name"]), Text(info["experiment_id"]),
                          Text(info["status"]), FormatTime(info["start_time"])});
        }
        PrintTable({"RUN ID", "NAME", "EXPERIMENT", "STATUS", "STARTED (UTC)"}, rows);
        return Status::Ok();
      };
    });

    auto* get = runs->add_subcommand("get", "Show a run with its params, latest metrics and tags.");
    add_common(get);
    auto run_id = std::make_shared<std::string>();
    get->add_option("run_id", *run_id, "Run id")->required();
    get->callback([&action, settings, run_id] {
      action = [settings, run_id]() -> Status {
        LATHE_ASSIGN_OR_RETURN(auto answer, Call(*settings, "GET", kApi + "runs/get" + Query({{"run_id", *run_id}})));
        if (settings->json) return PrintJson(answer["run"]), Status::Ok();
        const auto& info = answer["run"]["info"];
        const auto& data = answer["run"]["data"];
        std::printf("run %s (%s)\nexperiment %s, status %s, started %s UTC\nartifacts %s\n", Text(info["run_id"]).c_str(),
                    Text(info["run_name"]).c_str(), Text(info["experiment_id"]).c_str(), Text(info["status"]).c_str(),
                    FormatTime(info["start_time"]).c_str(), Text(info["artifact_uri"]).c_str());
        std::vector<std::vector<std::string>> rows;
        for (const auto& p : data.value("params", json::array())) rows.push_back({"param", Text(p["key"]), Text(p["value"]), ""});
        for (const auto& m : data.value("metrics", json::array())) {
          rows.push_back({"metric", Text(m["key"]), Text(m["value"]), Text(m["step"])});
        }
        for (const auto& t : data.value("tags", json::array())) rows.push_back({"tag", Text(t["key"]), Text(t["value"]), ""});
        std::printf("\n");
        PrintTable({"KIND", "KEY", "VALUE", "STEP"}, rows);
        return Status::Ok();
      };
    });

    auto* remove = runs->add_subcommand("delete", "Delete a run (restorable until gc).");
    add_common(remove);
    auto delete_id = std::make_shared<std::string>();
    remove->add_option("run_id", *delete_id, "Run id")->required();
    remove->callback([&action, settings, delete_id] {
      action = [settings, delete_id]() -> Status {
        LATHE_ASSIGN_OR_RETURN(auto answer, Call(*settings, "POST", kApi + "runs/delete", {{"run_id", *delete_id}}));
        if (settings->json) return PrintJson(answer), Status::Ok();
        std::printf("deleted run %s\n", delete_id->c_str());
        return Status::Ok();
      };
    });
  }

  // models
  auto* models = app.add_subcommand("models", "Registered models and aliases; serve, package, log and deploy model packages.");
  models->require_subcommand(1);
  {
    auto* list = models->add_subcommand("list", "List registered models.");
    add_common(list);
    auto filter = std::make_shared<std::string>();
    list->add_option("--filter", *filter, "e.g. \"name LIKE 'churn%'\"");
    list->callback([&action, settings, filter] {
      action = [settings, filter]() -> Status {
        json all = json::array();
        std::string token;
        do {
          LATHE_ASSIGN_OR_RETURN(auto page, Call(*settings, "GET", kApi + "registered-models/search" +
                                                                       Query({{"filter", *filter},
                                                                              {"max_results", "1000"},
                                                                              {"page_token", token}})));
          for (auto& model : page.value("registered_models", json::array())) all.push_back(model);
          token = page.value("next_page_token", "");
        } while (!token.empty());
        if (settings->json) return PrintJson(all), Status::Ok();
        std::vector<std::vector<std::string>> rows;
        for (const auto& model : all) {
          std::string aliases;
          for (const auto& alias : model.value("aliases", json::array())) {
            aliases += (aliases.empty() ? "" : ", ") + Text(alias["alias"]) + "=v" + Text(alias["version"]);
          }
          std::string latest;
          for (const auto& version : model.value("latest_versions", json::array())) {
            latest += (latest.empty() ? "" : ", ") + Text(version["current_stage"]) + ":v" + Text(version["version"]);
          }
          rows.push_back({Text(model["name"]), latest, aliases, FormatTime(model["last_updated_timestamp"])});
        }
        PrintTable({"NAME", "LATEST VERSIONS", "ALIASES", "UPDATED (UTC)"}, rows);
        return Status::Ok();
      };
    });

    auto* get = models->add_subcommand("get", "Show a registered model and its versions.");
    add_common(get);
    auto name = std::make_shared<std::string>();
    get->add_option("name", *name, "Registered model name")->required();
    get->callback([&action, settings, name] {
      action = [settings, name]() -> Status {
        LATHE_ASSIGN_OR_RETURN(auto model, Call(*settings, "GET", kApi + "registered-models/get" + Query({{"name", *name}})));
        // The search grammar has no escapes: quote with whichever quote the name does not contain.
        if (name->find('\'') != std::string::npos && name->find('"') != std::string::npos) {
          return Status::InvalidParameter("a model name with both ' and \" cannot be searched for its versions");
        }
        char quote = name->find('\'') == std::string::npos ? '\'' : '"';
        std::string filter = "name = " + std::string(1, quote) + *name + std::string(1, quote);
        LATHE_ASSIGN_OR_RETURN(auto versions, Call(*settings, "GET", kApi + "model-versions/search" +
                                                                          Query({{"filter", filter}})));
        if (settings->json) {
          return PrintJson({{"registered_model", model["registered_model"]},
                            {"model_versions", versions.value("model_versions", json::array())}}),
                 Status::Ok();
        }
        const auto& m = model["registered_model"];
        std::printf("model %s\n%s\n\n", Text(m["name"]).c_str(), Text(m.value("description", json(""))).c_str());
        std::vector<std::vector<std::string>> rows;
        for (const auto& v : versions.value("model_versions", json::array())) {
          std::string aliases;
          for (const auto& alias : v.value("aliases", json::array())) aliases += (aliases.empty() ? "" : ", ") + Text(alias);
          rows.push_back({Text(v["version"]), Text(v["current_stage"]), aliases, Text(v.value("run_id", json(""))),
                          Text(v["source"])});
        }
        PrintTable({"VERSION", "STAGE", "ALIASES", "RUN", "SOURCE"}, rows);
        return Status::Ok();
      };
    });

    auto* set_alias = models->add_subcommand("set-alias", "Point an alias of a model at a version.");
    add_common(set_alias);
    auto alias_model = std::make_shared<std::string>();
    auto alias = std::make_shared<std::string>();
    auto version = std::make_shared<std::string>();
    set_alias->add_option("name", *alias_model, "Registered model name")->required();
    set_alias->add_option("alias", *alias, "Alias, e.g. champion")->required();
    set_alias->add_option("version", *version, "Model version")->required();
    set_alias->callback([&action, settings, alias_model, alias, version] {
      action = [=]() -> Status {
        LATHE_ASSIGN_OR_RETURN(auto answer, Call(*settings, "POST", kApi + "registered-models/alias",
                                                 {{"name", *alias_model}, {"alias", *alias}, {"version", *version}}));
        if (settings->json) return PrintJson(answer), Status::Ok();
        std::printf("%s@%s -> version %s\n", alias_model->c_str(), alias->c_str(), version->c_str());
        return Status::Ok();
      };
    });
  }

  // audit
  auto* audit = app.add_subcommand("audit", "Show who changed what (newest first).");
  add_common(audit);
  auto actor = std::make_shared<std::string>();
  auto audit_action = std::make_shared<std::string>();
  auto object_id = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(100);
  audit->add_option("--actor", *actor, "Only this actor");
  audit->add_option("--action", *audit_action, "Only this action, e.g. runs/delete");
  audit->add_option("--object-id", *object_id, "Only this object (run id, experiment id, model name)");
  audit->add_option("--limit", *limit, "How many entries")->check(CLI::Range(1, 10000))->capture_default_str();
  audit->callback([&action, settings, actor, audit_action, object_id, limit] {
    action = [=]() -> Status {
      LATHE_ASSIGN_OR_RETURN(auto answer, Call(*settings, "GET", "/api/lathe/audit" +
                                                                     Query({{"actor", *actor},
                                                                            {"action", *audit_action},
                                                                            {"object_id", *object_id},
                                                                            {"limit", std::to_string(*limit)}})));
      if (settings->json) return PrintJson(answer["entries"]), Status::Ok();
      std::vector<std::vector<std::string>> rows;
      for (const auto& e : answer["entries"]) {
        rows.push_back({FormatTime(e["time"]), Text(e["actor"]), Text(e["action"]),
                        Text(e["object_type"]) + " " + Text(e["object_id"]), Text(e["request_id"])});
      }
      PrintTable({"TIME (UTC)", "ACTOR", "ACTION", "OBJECT", "REQUEST ID"}, rows);
      return Status::Ok();
    };
  });
}

}  // namespace lathe::cli
