// Root of the CLI: global options, subcommand dispatch, error reporting.
#include "cli/cli.h"

#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/version.h"

namespace lathe::cli {

int Main(int argc, char** argv) {
  CLI::App app{"Lathe: experiment tracking, model registry, serving, a feature store and monitoring in one binary.", "lathe"};
  app.set_version_flag("--version", std::string(kVersion));
  app.require_subcommand(1);
  Action action;
  AddServerCommand(app, action);
  AddGcCommand(app, action);
  AddClientCommands(app, action);
  AddServingCommands(app, action);
  AddFeatureCommands(app, action);
  AddMonitorCommands(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  if (!action) return 0;
  Status status = action();
  spdlog::shutdown();  // flushes buffered log lines before the process says anything else
  if (!status.ok()) {
    std::fprintf(stderr, "lathe: %s\n", status.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace lathe::cli
