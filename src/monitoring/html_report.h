// The monitoring report as one self-contained HTML page for people: inline CSS and SVG charts, no
// script and nothing fetched from the network, and only aggregates (never rows), so that its size
// does not grow with the number of rows compared.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "monitoring/drift_report.h"

namespace lathe::monitoring {

// Each section appears only when its input is given (non-null pointer, non-null JSON).
struct HtmlReportInputs {
  // Dataset drift summary, the drift table (untested columns with their reason), missing and
  // unexpected columns, and one reference-vs-current histogram per column (ColumnReport::histogram).
  const DriftReport* drift = nullptr;
  // An array of check objects with any of check, column, violations, share, failed, examples,
  // detail, error (further keys are shown too), or an object holding such an array as "checks"
  // beside summary numbers (ToJson(IntegrityReport)). Failed checks and checks with an error are
  // highlighted.
  nlohmann::json integrity;
  // An object of metric name -> number (other values are shown as JSON text); "confusion_matrix",
  // when present, is an array of rows (true label) of counts per predicted label, labelled by the
  // array "labels" beside it when given (as ClassificationMetrics holds them).
  nlohmann::json performance;
  // An array of {"window_start": text or number, "metrics": {name: number or null}}, in time
  // order: one small line chart per metric name.
  nlohmann::json performance_over_time;
  std::string title;     // empty: "Lathe monitoring report"
  std::string subtitle;  // e.g. the files compared and the window
};

// The page. An optional section of the wrong shape (integrity neither an array nor an object with
// a "checks" array, or an entry of it not an object; performance not an object, or a
// confusion_matrix that is not a rectangular array of numbers matching its labels;
// performance_over_time not an array of objects each with a "metrics" object) is an
// InvalidParameter error naming the section and the entry.
Result<std::string> RenderHtmlReport(const HtmlReportInputs& inputs);

// `text` safe inside HTML element content and quoted attribute values: & < > " ' become entities;
// control characters other than tab and newline become spaces.
std::string HtmlEscape(std::string_view text);

// A number as the report shows it: integers below 1e15 whole with thousands separators (also any
// value of magnitude 1e4 or more, rounded), others with 4 significant digits, exponents without
// padding (1.5e-7); "n/a" for NaN, "inf" and "-inf" for infinities.
std::string FormatNumber(double value);

}  // namespace lathe::monitoring
