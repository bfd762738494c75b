// Registration of each group of subcommands on the root CLI11 app (internal to the cli module).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/status.h"

namespace lathe::cli {

// A subcommand's action; the returned Status becomes the exit code and the error line.
using Action = std::function<Status()>;

// Each Add* registers subcommands and stores the action to run when one of them was chosen.
void AddServerCommand(CLI::App& app, Action& action);
void AddGcCommand(CLI::App& app, Action& action);
void AddClientCommands(CLI::App& app, Action& action);
// `models serve|predict|package|log`, `deploy`, `undeploy`, `deployments`; after AddClientCommands
// (they join its `models` command).
void AddServingCommands(CLI::App& app, Action& action);
// `features apply|plan|historical|materialize|materialize-incremental|online|verify|versions`.
void AddFeatureCommands(CLI::App& app, Action& action);
// `monitor report|export|labels|reference|evaluate|alerts`.
void AddMonitorCommands(CLI::App& app, Action& action);
// The subcommands of `monitor` beyond the offline report (monitor_data_commands.cc).
void AddMonitorDataCommands(CLI::App& monitor, Action& action);

// Calls a Lathe server's REST API; an error answer becomes a Status carrying the server's message.
Result<nlohmann::json> CallServer(const std::string& tracking_uri, const std::string& method,
                                  const std::string& target, const nlohmann::json& body = nullptr);
// $LATHE_TRACKING_URI, else http://127.0.0.1:5000.
std::string DefaultTrackingUri();
// Prints rows under headers with each column as wide as its widest cell.
void PrintTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

// Fills options that were given neither on the command line nor in the environment from the
// YAML config file (`--config`, $LATHE_CONFIG, or ./lathe.yaml when present): flags > env > file.
Status ApplyConfigFile(CLI::App& command, const std::string& explicit_path);

}  // namespace lathe::cli
