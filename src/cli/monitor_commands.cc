// `lathe monitor report`: drift and integrity offline, on files.
#include <cmath>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "monitoring/drift_report.h"
#include "monitoring/html_report.h"
#include "monitoring/integrity.h"
#include "monitoring/monitor_config.h"

namespace lathe::cli {
namespace {

struct ReportSettings {
  std::string reference;
  std::string current;
  std::string json_out;
  std::string html_out;
  std::string config;
  std::string monitor;
  std::vector<std::string> columns;
  std::vector<std::string> kinds;
};

// The drift and integrity settings of one monitor of a monitoring config: --monitor, or its only one.
Result<monitoring::MonitorSpec> MonitorFromConfig(const ReportSettings& settings) {
  if (settings.config.empty()) {
    if (!settings.monitor.empty()) return Status::InvalidParameter("--monitor needs --config");
    return monitoring::MonitorSpec{};
  }
  LATHE_ASSIGN_OR_RETURN(auto config, monitoring::LoadMonitoringConfig(settings.config));
  if (!settings.monitor.empty()) {
    auto found = config.monitors.find(settings.monitor);
    if (found == config.monitors.end()) {
      return Status::InvalidParameter(fmt::format("{} has no monitor '{}'", settings.config, settings.monitor));
    }
    return found->second;
  }
  if (config.monitors.size() != 1) {
    return Status::InvalidParameter(
        fmt::format("{} has {} monitors: name one with --monitor", settings.config, config.monitors.size()));
  }
  return config.monitors.begin()->second;
}

Status RunReport(const ReportSettings& settings) {
  LATHE_ASSIGN_OR_RETURN(auto spec, MonitorFromConfig(settings));
  LATHE_ASSIGN_OR_RETURN(auto kinds, monitoring::ParseColumnKindList(settings.kinds));
  for (const auto& [column, kind] : kinds) spec.drift.kinds[column] = spec.integrity.kinds[column] = kind;
  monitoring::DriftReportOptions options = spec.drift;
  if (!settings.columns.empty()) options.columns = settings.columns;
  LATHE_ASSIGN_OR_RETURN(auto db, storage::DuckDb::Open());
  LATHE_RETURN_IF_ERROR(monitoring::LoadFile(*db, "lathe_reference", settings.reference, "reference"));
  LATHE_RETURN_IF_ERROR(monitoring::LoadFile(*db, "lathe_current", settings.current, "current"));
  LATHE_ASSIGN_OR_RETURN(auto report, monitoring::DriftReportForTables(*db, "lathe_reference", "lathe_current", options));
  LATHE_ASSIGN_OR_RETURN(auto integrity, monitoring::CheckIntegrity(*db, "lathe_reference", "lathe_current", spec.integrity, &report));
  auto json = monitoring::ToJson(report);
  json["integrity"] = monitoring::ToJson(integrity);
  if (!settings.json_out.empty()) {
    std::ofstream file(settings.json_out, std::ios::trunc);
    file << json.dump(2) << "\n";
    if (!file) return Status::InvalidParameter(fmt::format("cannot write {}", settings.json_out));
  }
  if (!settings.html_out.empty()) {
    monitoring::HtmlReportInputs inputs;
    inputs.drift = &report;
    inputs.integrity = json["integrity"];
    inputs.title = "Data drift report";
    inputs.subtitle = fmt::format("reference {} · current {}", settings.reference, settings.current);
    LATHE_ASSIGN_OR_RETURN(auto html, monitoring::RenderHtmlReport(inputs));
    std::ofstream file(settings.html_out, std::ios::trunc | std::ios::binary);
    file << html;
    if (!file) return Status::InvalidParameter(fmt::format("cannot write {}", settings.html_out));
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& column : report.columns) {
    if (!column.drift) {
      rows.push_back({column.column, column.kind ? std::string(monitoring::ColumnKindName(*column.kind)) : "", "", "", "",
                      "not tested: " + column.error});
      continue;
    }
    const auto& drift = *column.drift;
    rows.push_back({column.column, std::string(monitoring::ColumnKindName(*column.kind)), drift.test,
                    fmt::format("{:.6g}", drift.statistic), fmt::format("{:g}", drift.threshold), drift.drifted ? "DRIFT" : "ok"});
  }
  PrintTable({"COLUMN", "KIND", "TEST", "VALUE", "THRESHOLD", "VERDICT"}, rows);
  for (const auto& column : report.missing_in_current) std::printf("missing in current: %s\n", column.c_str());
  for (const auto& column : report.unexpected_in_current) std::printf("unexpected in current: %s\n", column.c_str());
  std::printf("%lld of %lld column(s) drifted: %s\n", static_cast<long long>(report.drifted), static_cast<long long>(report.tested),
              report.dataset_drift ? "dataset drift" : "no dataset drift");
  std::printf("integrity: %lld failed check(s), %lld of %lld current row(s) with a violation\n",
              static_cast<long long>(integrity.failed), static_cast<long long>(integrity.rows_with_violation),
              static_cast<long long>(integrity.current_rows));
  for (const auto& check : integrity.checks) {
    if (!check.error.empty()) {
      std::printf("  %s %s: error: %s\n", check.check.c_str(), check.column.c_str(), check.error.c_str());
    } else if (check.failed) {
      std::printf("  %s %s: %lld row(s) (%.4g%%)%s%s\n", check.check.c_str(), check.column.c_str(),
                  static_cast<long long>(check.violations), check.share * 100, check.detail.empty() ? "" : ": ",
                  check.detail.c_str());
    }
  }
  return Status::Ok();
}

}  // namespace

void AddMonitorCommands(CLI::App& app, Action& action) {
  auto* monitor = app.add_subcommand("monitor", "Monitoring: drift, integrity, model quality and alerts, offline on files and for a server's deployments.");
  monitor->require_subcommand(1);
  auto settings = std::make_shared<ReportSettings>();
  auto* report = monitor->add_subcommand(
      "report",
      "Data drift of every common column and the integrity checks between a reference and a current file (CSV, Parquet or "
      "JSON).");
  report->add_option("--reference", settings->reference, "The reference data (e.g. the training set)")->required();
  report->add_option("--current", settings->current, "The data to compare with it")->required();
  report->add_option("--json", settings->json_out, "Also write the report as JSON to this file");
  report->add_option("--html", settings->html_out, "Also write the report as one self-contained HTML page to this file");
  report->add_option("--columns", settings->columns, "Only these columns (comma-separated)")->delimiter(',');
  report->add_option("--kind", settings->kinds,
                     "column:kind (numerical, categorical, text or datetime) instead of the inferred or configured kind; "
                     "repeatable");
  report->add_option("--config", settings->config,
                     "A monitoring config (see docs/monitoring.md): its kinds, tests, thresholds and integrity rules");
  report->add_option("--monitor", settings->monitor, "The monitor of --config to take them from (default: its only one)");
  report->callback([&action, settings] { action = [settings] { return RunReport(*settings); }; });
  AddMonitorDataCommands(*monitor, action);
}

}  // namespace lathe::cli
