// `lathe monitor ...`: monitoring from the command line, offline on files.
#include <cmath>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "monitoring/drift_report.h"
#include "monitoring/html_report.h"

namespace lathe::cli {
namespace {

struct ReportSettings {
  std::string reference;
  std::string current;
  std::string json_out;
  std::string html_out;
  std::vector<std::string> columns;
};

Status RunReport(const ReportSettings& settings) {
  monitoring::DriftReportOptions options;
  options.columns = settings.columns;
  LATHE_ASSIGN_OR_RETURN(auto report, monitoring::DriftReportForFiles(settings.reference, settings.current, options));
  auto json = monitoring::ToJson(report);
  if (!settings.json_out.empty()) {
    std::ofstream file(settings.json_out, std::ios::trunc);
    file << json.dump(2) << "\n";
    if (!file) return Status::InvalidParameter(fmt::format("cannot write {}", settings.json_out));
  }
  if (!settings.html_out.empty()) {
    monitoring::HtmlReportInputs inputs;
    inputs.drift = &report;
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
      rows.push_back({column.column, "", "", "", "", "error: " + column.error});
      continue;
    }
    const auto& drift = *column.drift;
    rows.push_back({column.column, *column.kind == monitoring::ColumnKind::kNumerical ? "numerical" : "categorical", drift.test,
                    fmt::format("{:.6g}", drift.statistic), fmt::format("{:g}", drift.threshold), drift.drifted ? "DRIFT" : "ok"});
  }
  PrintTable({"COLUMN", "KIND", "TEST", "VALUE", "THRESHOLD", "VERDICT"}, rows);
  for (const auto& column : report.missing_in_current) std::printf("missing in current: %s\n", column.c_str());
  for (const auto& column : report.unexpected_in_current) std::printf("unexpected in current: %s\n", column.c_str());
  std::printf("%lld of %lld column(s) drifted: %s\n", static_cast<long long>(report.drifted), static_cast<long long>(report.tested),
              report.dataset_drift ? "dataset drift" : "no dataset drift");
  return Status::Ok();
}

}  // namespace

void AddMonitorCommands(CLI::App& app, Action& action) {
  auto* monitor = app.add_subcommand("monitor", "Monitoring: data drift and model quality.");
  monitor->require_subcommand(1);
  auto settings = std::make_shared<ReportSettings>();
  auto* report = monitor->add_subcommand(
      "report", "Data drift of every common column between a reference and a current file (CSV, Parquet or JSON).");
  report->add_option("--reference", settings->reference, "The reference data (e.g. the training set)")->required();
  report->add_option("--current", settings->current, "The data to compare with it")->required();
  report->add_option("--json", settings->json_out, "Also write the report as JSON to this file");
  report->add_option("--html", settings->html_out, "Also write the report as one self-contained HTML page to this file");
  report->add_option("--columns", settings->columns, "Only these columns (comma-separated)")->delimiter(',');
  report->callback([&action, settings] { action = [settings] { return RunReport(*settings); }; });
}

}  // namespace lathe::cli
