// Renders the monitoring report as one HTML page: every chart is inline SVG drawn here, so the
// page opens offline, from a mail attachment or a CI artifact, exactly as it was written.
#include "monitoring/html_report.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "core/json_dump.h"

namespace lathe::monitoring {
namespace {

using nlohmann::json;

// The policy forbids scripts and every fetch, so a value that slipped through unescaped still
// could not run code or reach the network when the page is opened.
constexpr std::string_view kHead = R"html(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
)html";

constexpr std::string_view kStyle = R"css(<style>
:root{--ref:#6f86b0;--cur:#e8743b;--bad:#b42318;--badbg:#fdecea;--warnbg:#fff6dc;--ok:#1e7b45;--line:#d8dde6;--muted:#5b6472}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px;font:14px/1.45 "DejaVu Sans",system-ui,sans-serif;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:0 0 4px;overflow-wrap:anywhere}
.subtitle,.meta{color:var(--muted);margin:0}
.meta{font-size:12px}
.banner{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.stat{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:140px}
.stat span{color:var(--muted);font-size:12px}
.stat b{display:block;font-size:20px}
.stat.bad{background:var(--badbg);border-color:#f3b8b1;color:var(--bad)}
.stat.good{background:#e8f5ee;border-color:#b6dfc6;color:var(--ok)}
table{border-collapse:collapse;width:100%;margin:4px 0 8px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
td:first-child{overflow-wrap:anywhere}
th{background:#f4f6f9;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.drift td,tr.failed td{background:var(--badbg)}
tr.untested td{background:var(--warnbg)}
.bad{color:var(--bad);font-weight:700}
.good{color:var(--ok)}
.warn{color:#8a5a00;font-weight:700}
.unit{color:var(--muted);font-size:11px}
.swatch{display:inline-block;width:11px;height:11px;margin:0 4px 0 12px;vertical-align:-1px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:14px}
.cards.small{grid-template-columns:repeat(auto-fill,minmax(380px,1fr))}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.card.drift{border-color:#f3b8b1;box-shadow:inset 4px 0 0 var(--bad)}
svg{display:block;margin:4px 0}
svg text{font-size:11px;fill:var(--muted)}
.r{fill:var(--ref);background:var(--ref)}
.c{fill:var(--cur);background:var(--cur)}
.axis{stroke:#9aa3b0;stroke-width:1}
.grid{stroke:#e6e9ef;stroke-width:1}
.line{fill:none;stroke:var(--cur);stroke-width:2}
table.confusion{width:auto}
table.confusion td{text-align:right;min-width:56px}
</style>
)css";

constexpr size_t kMaxTextBytes = 300;     // one value in a table cell
constexpr size_t kMaxLabelBytes = 28;     // an axis label inside a chart
constexpr size_t kMaxListItems = 10;      // the items of an array shown in one cell

// At most `max_bytes` of `text`, cut on a UTF-8 character boundary, with "…" when cut.
std::string Truncate(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "…";
}

std::string Escaped(std::string_view text, size_t max_bytes = kMaxTextBytes) { return HtmlEscape(Truncate(text, max_bytes)); }

// "-1234567" as "-1,234,567".
std::string Grouped(std::string_view integer) {
  const bool negative = !integer.empty() && integer[0] == '-';
  std::string_view digits = integer.substr(negative ? 1 : 0);
  std::string out = negative ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string Count(int64_t count) { return Grouped(std::to_string(count)); }

std::string Percent(double share) {
  if (!std::isfinite(share)) return FormatNumber(share);
  const double percent = share * 100;
  if (percent == 0) return "0%";
  if (std::fabs(percent) >= 10) return fmt::format("{:.0f}%", percent);
  if (std::fabs(percent) >= 1) return fmt::format("{:.1f}%", percent);
  return fmt::format("{:.2g}%", percent);
}

// SVG coordinates: one decimal is below a pixel's width and keeps the page small.
std::string Px(double value) { return fmt::format("{:.1f}", value); }

std::string TestName(const std::string& test) {
  if (test == "ks") return "Kolmogorov–Smirnov";
  if (test == "chisquare") return "chi-square";
  if (test == "z") return "z-test";
  if (test == "wasserstein") return "Wasserstein (normed)";
  if (test == "jensenshannon") return "Jensen–Shannon";
  if (test == "psi") return "PSI";
  if (test == "kl_div") return "KL divergence";
  return test;
}

std::string KindName(const std::optional<ColumnKind>& kind) {
  if (!kind) return "";
  return std::string(ColumnKindName(*kind));
}

double Share(int64_t count, int64_t total) { return total > 0 ? static_cast<double>(count) / static_cast<double>(total) : 0.0; }

int64_t Sum(const std::vector<int64_t>& counts) {
  int64_t total = 0;
  for (int64_t count : counts) total += count;
  return total;
}

// A JSON value of a caller's section as cell content (escaped): long text cut, arrays as a short
// list, objects as compact JSON.
std::string JsonCell(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "";
    case json::value_t::boolean:
      return value.get<bool>() ? "yes" : "no";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return Grouped(value.dump());
    case json::value_t::number_float:
      return FormatNumber(value.get<double>());
    case json::value_t::string:
      return Escaped(value.get_ref<const std::string&>());
    case json::value_t::array: {
      std::string out;
      size_t shown = 0;
      for (const auto& item : value) {
        if (shown == kMaxListItems) break;
        if (shown++ > 0) out += ", ";
        out += JsonCell(item);
      }
      if (value.size() > shown) out += fmt::format(" … ({} more)", value.size() - shown);
      return out;
    }
    default:
      return Escaped(DumpJson(value));
  }
}

std::optional<double> JsonNumber(const json& value) {
  if (!value.is_number()) return std::nullopt;
  return value.get<double>();
}

// ---- validation of the caller's sections ------------------------------------------------------

const json* IntegrityChecks(const json& integrity) {
  if (integrity.is_array()) return &integrity;
  if (integrity.is_object() && integrity.contains("checks") && integrity["checks"].is_array()) return &integrity["checks"];
  return nullptr;
}

Status ValidateSections(const HtmlReportInputs& inputs) {
  if (!inputs.integrity.is_null()) {
    const json* checks = IntegrityChecks(inputs.integrity);
    if (checks == nullptr) {
      return Status::InvalidParameter("integrity must be an array of checks or an object with a \"checks\" array");
    }
    for (size_t i = 0; i < checks->size(); ++i) {
      if (!(*checks)[i].is_object()) return Status::InvalidParameter(fmt::format("integrity check {} is not an object", i));
    }
  }
  if (!inputs.performance.is_null()) {
    if (!inputs.performance.is_object()) return Status::InvalidParameter("performance must be an object of metric name to number");
    if (inputs.performance.contains("confusion_matrix")) {
      const json& matrix = inputs.performance["confusion_matrix"];
      const json* labels = inputs.performance.contains("labels") ? &inputs.performance["labels"] : nullptr;
      if (!matrix.is_array() || matrix.empty()) {
        return Status::InvalidParameter("performance.confusion_matrix must be a non-empty array of rows");
      }
      for (size_t i = 0; i < matrix.size(); ++i) {
        if (!matrix[i].is_array() || matrix[i].size() != matrix.size()) {
          return Status::InvalidParameter(
              fmt::format("performance.confusion_matrix row {} must be an array of {} counts", i, matrix.size()));
        }
        for (const auto& cell : matrix[i]) {
          if (!cell.is_number()) {
            return Status::InvalidParameter(fmt::format("performance.confusion_matrix row {} holds a value that is not a number", i));
          }
        }
      }
      if (labels != nullptr && (!labels->is_array() || labels->size() != matrix.size())) {
        return Status::InvalidParameter(
            fmt::format("performance.labels must be an array of {} labels, one per confusion_matrix row", matrix.size()));
      }
    }
  }
  if (!inputs.performance_over_time.is_null()) {
    if (!inputs.performance_over_time.is_array()) {
      return Status::InvalidParameter("performance_over_time must be an array of {window_start, metrics} objects");
    }
    for (size_t i = 0; i < inputs.performance_over_time.size(); ++i) {
      const json& window = inputs.performance_over_time[i];
      if (!window.is_object() || !window.contains("metrics") || !window["metrics"].is_object()) {
        return Status::InvalidParameter(fmt::format("performance_over_time entry {} has no \"metrics\" object", i));
      }
    }
  }
  return Status::Ok();
}

// ---- charts ------------------------------------------------------------------------------------

constexpr double kChartWidth = 540;

// Reference and current side by side in each shared bin, as shares of each side's values so that
// samples of different sizes compare.
void NumericalHistogramSvg(std::string& out, const ColumnHistogram& histogram) {
  constexpr double kLeft = 46, kRight = 12, kTop = 10, kBottom = 24, kHeight = 180;
  const double plot_width = kChartWidth - kLeft - kRight, plot_height = kHeight - kTop - kBottom;
  const size_t bins = histogram.reference_counts.size();
  const int64_t reference_total = Sum(histogram.reference_counts), current_total = Sum(histogram.current_counts);
  double top = 0;
  for (size_t i = 0; i < bins; ++i) {
    top = std::max({top, Share(histogram.reference_counts[i], reference_total), Share(histogram.current_counts[i], current_total)});
  }
  if (top == 0) top = 1;
  const double base = kTop + plot_height, bin_width = plot_width / static_cast<double>(std::max<size_t>(bins, 1));
  fmt::format_to(std::back_inserter(out), R"(<svg width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img">)", kChartWidth, kHeight);
  for (double fraction : {0.5, 1.0}) {
    const double y = base - fraction * plot_height;
    fmt::format_to(std::back_inserter(out), R"(<line class="grid" x1="{0}" x2="{1}" y1="{2}" y2="{2}"/><text x="{3}" y="{4}" text-anchor="end">{5}</text>)",
                   kLeft, kLeft + plot_width, Px(y), kLeft - 4, Px(y + 4), Percent(top * fraction));
  }
  fmt::format_to(std::back_inserter(out), R"(<text x="{}" y="{}" text-anchor="end">0%</text>)", kLeft - 4, Px(base + 4));
  for (size_t i = 0; i < bins; ++i) {
    const double reference_share = Share(histogram.reference_counts[i], reference_total);
    const double current_share = Share(histogram.current_counts[i], current_total);
    const double x = kLeft + static_cast<double>(i) * bin_width;
    fmt::format_to(std::back_inserter(out), "<g><title>[{}, {}{}: reference {} ({}), current {} ({})</title>",
                   HtmlEscape(FormatNumber(histogram.edges[i])), HtmlEscape(FormatNumber(histogram.edges[i + 1])), i + 1 == bins ? "]" : ")",
                   Percent(reference_share), Count(histogram.reference_counts[i]), Percent(current_share),
                   Count(histogram.current_counts[i]));
    for (auto [share, offset, css] : {std::tuple{reference_share, 0.08, "r"}, std::tuple{current_share, 0.5, "c"}}) {
      const double height = share / top * plot_height;
      if (height <= 0) continue;
      fmt::format_to(std::back_inserter(out), R"(<rect class="{}" x="{}" y="{}" width="{}" height="{}"/>)", css,
                     Px(x + bin_width * offset), Px(base - height), Px(bin_width * 0.42), Px(height));
    }
    out += "</g>";
  }
  fmt::format_to(std::back_inserter(out), R"(<line class="axis" x1="{0}" x2="{1}" y1="{2}" y2="{2}"/>)", kLeft, kLeft + plot_width, Px(base));
  // The outer edges and the middle one: enough to read the range without crowding the axis.
  const size_t middle = bins / 2;
  for (auto [edge, anchor] : {std::pair{size_t{0}, "start"}, std::pair{middle, "middle"}, std::pair{bins, "end"}}) {
    if (anchor == std::string_view("middle") && (middle == 0 || middle == bins)) continue;
    fmt::format_to(std::back_inserter(out), R"(<text x="{}" y="{}" text-anchor="{}">{}</text>)",
                   Px(kLeft + static_cast<double>(edge) * bin_width), Px(base + 15), anchor, HtmlEscape(FormatNumber(histogram.edges[edge])));
  }
  out += "</svg>";
}

// One row per category (largest first, then "other"): reference above current, as shares.
void CategoricalHistogramSvg(std::string& out, const ColumnHistogram& histogram) {
  constexpr double kLeft = 170, kRight = 84, kTop = 6, kRow = 24, kBar = 9;
  const double plot_width = kChartWidth - kLeft - kRight;
  std::vector<std::tuple<std::string, int64_t, int64_t, bool>> rows;
  for (size_t i = 0; i < histogram.categories.size(); ++i) {
    rows.emplace_back(histogram.categories[i], histogram.reference_counts[i], histogram.current_counts[i], false);
  }
  if (histogram.other_categories > 0) {
    rows.emplace_back(fmt::format("other ({} categories)", Count(histogram.other_categories)), histogram.reference_other,
                      histogram.current_other, true);
  }
  const int64_t reference_total = Sum(histogram.reference_counts) + histogram.reference_other;
  const int64_t current_total = Sum(histogram.current_counts) + histogram.current_other;
  double top = 0;
  for (const auto& [label, reference, current, other] : rows) {
    top = std::max({top, Share(reference, reference_total), Share(current, current_total)});
  }
  if (top == 0) top = 1;
  const double height = kTop + kRow * static_cast<double>(rows.size()) + 20;
  fmt::format_to(std::back_inserter(out), R"(<svg width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img">)", kChartWidth, height);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& [label, reference, current, other] = rows[i];
    const double y = kTop + kRow * static_cast<double>(i);
    const double reference_share = Share(reference, reference_total), current_share = Share(current, current_total);
    fmt::format_to(std::back_inserter(out), "<g><title>{}: reference {} ({}), current {} ({})</title>", Escaped(label, 120),
                   Percent(reference_share), Count(reference), Percent(current_share), Count(current));
    fmt::format_to(std::back_inserter(out), R"(<text x="{}" y="{}" text-anchor="end"{}>{}</text>)", kLeft - 6, Px(y + 15),
                   other ? R"( font-style="italic")" : "", Escaped(label, kMaxLabelBytes));
    for (auto [share, offset, css] : {std::tuple{reference_share, 2.0, "r"}, std::tuple{current_share, 2.0 + kBar, "c"}}) {
      const double width = share / top * plot_width;
      if (width > 0) {
        fmt::format_to(std::back_inserter(out), R"(<rect class="{}" x="{}" y="{}" width="{}" height="{}"/>)", css, kLeft, Px(y + offset),
                       Px(width), kBar);
      }
    }
    fmt::format_to(std::back_inserter(out), R"(<text x="{}" y="{}">{} / {}</text></g>)",
                   Px(kLeft + std::max(reference_share, current_share) / top * plot_width + 4), Px(y + 15), Percent(reference_share),
                   Percent(current_share));
  }
  const double base = kTop + kRow * static_cast<double>(rows.size());
  fmt::format_to(std::back_inserter(out),
                 R"(<line class="axis" x1="{0}" x2="{0}" y1="{1}" y2="{2}"/><text x="{0}" y="{3}">0%</text><text x="{4}" y="{3}" text-anchor="end">{5}</text></svg>)",
                 kLeft, kTop, Px(base), Px(base + 14), kLeft + plot_width, Percent(top));
}

// A metric across windows: a line through the windows that have a number (gaps where one has
// none), a dot with its value at each.
void LineChartSvg(std::string& out, const std::vector<std::string>& windows, const std::vector<std::optional<double>>& values) {
  constexpr double kWidth = 350, kHeight = 150, kLeft = 52, kRight = 14, kTop = 10, kBottom = 24;
  const double plot_width = kWidth - kLeft - kRight, plot_height = kHeight - kTop - kBottom;
  double low = INFINITY, high = -INFINITY;
  for (const auto& value : values) {
    if (!value || !std::isfinite(*value)) continue;
    low = std::min(low, *value);
    high = std::max(high, *value);
  }
  fmt::format_to(std::back_inserter(out), R"(<svg width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img">)", kWidth, kHeight);
  if (low > high) {
    fmt::format_to(std::back_inserter(out), R"(<text x="{}" y="{}">no values</text></svg>)", kLeft, kTop + 20);
    return;
  }
  if (low == high) {
    const double pad = low == 0 ? 0.5 : std::fabs(low) * 0.05;
    low -= pad;
    high += pad;
  }
  const size_t n = values.size();
  auto x_of = [&](size_t i) { return n == 1 ? kLeft + plot_width / 2 : kLeft + plot_width * static_cast<double>(i) / static_cast<double>(n - 1); };
  auto y_of = [&](double v) { return kTop + plot_height * (high - v) / (high - low); };
  for (auto [value, y] : {std::pair{high, kTop}, std::pair{low, kTop + plot_height}}) {
    fmt::format_to(std::back_inserter(out), R"(<line class="grid" x1="{0}" x2="{1}" y1="{2}" y2="{2}"/><text x="{3}" y="{4}" text-anchor="end">{5}</text>)",
                   kLeft, kLeft + plot_width, Px(y), kLeft - 4, Px(y + 4), HtmlEscape(FormatNumber(value)));
  }
  std::string points;
  auto flush = [&] {
    if (!points.empty()) fmt::format_to(std::back_inserter(out), R"(<polyline class="line" points="{}"/>)", points);
    points.clear();
  };
  for (size_t i = 0; i < n; ++i) {
    if (!values[i] || !std::isfinite(*values[i])) {
      flush();
      continue;
    }
    if (!points.empty()) points += ' ';
    points += Px(x_of(i)) + "," + Px(y_of(*values[i]));
  }
  flush();
  for (size_t i = 0; i < n; ++i) {
    if (!values[i] || !std::isfinite(*values[i])) continue;
    fmt::format_to(std::back_inserter(out), R"(<circle class="c" cx="{}" cy="{}" r="3"><title>{}: {}</title></circle>)", Px(x_of(i)),
                   Px(y_of(*values[i])), Escaped(windows[i], 120), HtmlEscape(FormatNumber(*values[i])));
  }
  const double base = kTop + plot_height;
  fmt::format_to(std::back_inserter(out), R"(<text x="{}" y="{}">{}</text>)", kLeft, Px(base + 16), Escaped(windows.front(), kMaxLabelBytes));
  if (n > 1) {
    fmt::format_to(std::back_inserter(out), R"(<text x="{}" y="{}" text-anchor="end">{}</text>)", kLeft + plot_width, Px(base + 16),
                   Escaped(windows.back(), kMaxLabelBytes));
  }
  out += "</svg>";
}

// ---- sections ----------------------------------------------------------------------------------

void DriftSummary(std::string& out, const DriftReport& drift) {
  const int64_t untested = static_cast<int64_t>(drift.columns.size()) - drift.tested;
  out += R"(<section class="banner">)";
  fmt::format_to(std::back_inserter(out), R"(<div class="stat {}"><span>Dataset drift</span><b>{}</b></div>)",
                 drift.dataset_drift ? "bad" : "good", drift.dataset_drift ? "Detected" : "Not detected");
  fmt::format_to(std::back_inserter(out), R"(<div class="stat"><span>Columns drifted</span><b>{} of {}</b><span>{} of the tested columns</span></div>)",
                 Count(drift.drifted), Count(drift.tested), Percent(Share(drift.drifted, drift.tested)));
  if (untested > 0) {
    fmt::format_to(std::back_inserter(out), R"(<div class="stat"><span>Columns not tested</span><b class="warn">{}</b></div>)", Count(untested));
  }
  fmt::format_to(std::back_inserter(out), R"(<div class="stat"><span>Reference rows</span><b>{}</b></div><div class="stat"><span>Current rows</span><b>{}</b></div>)",
                 Count(drift.reference_rows), Count(drift.current_rows));
  out += "</section>\n";
}

void DriftTable(std::string& out, const DriftReport& drift) {
  out += R"(<h2 id="drift">Data drift per column</h2>
<table class="drift-table"><thead><tr><th>Column</th><th>Kind</th><th>Test</th><th>Statistic</th><th>Threshold</th><th>Verdict</th><th>Values tested<br><span class="unit">reference / current</span></th><th>Dropped<br><span class="unit">reference / current</span></th></tr></thead><tbody>
)";
  for (const auto& column : drift.columns) {
    if (!column.drift) {
      fmt::format_to(std::back_inserter(out), R"(<tr class="untested"><td>{}</td><td>{}</td><td colspan="3">{}</td><td class="warn">Not tested</td><td colspan="2"></td></tr>)",
                     Escaped(column.column), KindName(column.kind), Escaped(column.error));
      out += '\n';
      continue;
    }
    const auto& result = *column.drift;
    fmt::format_to(std::back_inserter(out),
                   R"(<tr class="{}"><td>{}</td><td>{}</td><td>{}</td><td class="num">{} <span class="unit">{}</span></td><td class="num">{}</td><td class="{}">{}</td><td class="num">{} / {}</td><td class="num">{} / {}</td></tr>)",
                   result.drifted ? "drift" : "ok", Escaped(column.column), KindName(column.kind), HtmlEscape(TestName(result.test)),
                   HtmlEscape(FormatNumber(result.statistic)), result.is_p_value ? "p-value" : "distance", HtmlEscape(FormatNumber(result.threshold)),
                   result.drifted ? "bad" : "good", result.drifted ? "Drift" : "No drift", Count(result.reference_size),
                   Count(result.current_size), Count(result.dropped_reference), Count(result.dropped_current));
    out += '\n';
  }
  out += "</tbody></table>\n";
}

void SchemaSection(std::string& out, const DriftReport& drift) {
  out += R"(<h2 id="schema">Columns of one side only</h2>)";
  if (drift.missing_in_current.empty() && drift.unexpected_in_current.empty()) {
    out += R"(<p class="meta">Both sides have the same columns.</p>)";
    return;
  }
  out += R"(<table style="width:auto"><tbody>)";
  for (auto [names, label] : {std::pair{&drift.missing_in_current, "Missing in current"}, std::pair{&drift.unexpected_in_current, "Unexpected in current"}}) {
    if (names->empty()) continue;
    std::string joined;
    for (const auto& name : *names) joined += (joined.empty() ? "" : ", ") + Escaped(name);
    fmt::format_to(std::back_inserter(out), R"(<tr><th>{} ({})</th><td>{}</td></tr>)", label, names->size(), joined);
  }
  out += "</tbody></table>\n";
}

void Distributions(std::string& out, const DriftReport& drift) {
  out += R"(<h2 id="distributions">Distributions</h2>
<p class="meta"><span class="swatch r"></span>reference<span class="swatch c"></span>current — the share of each side's tested values per bin or category (hover a bar for its counts)</p>
<div class="cards">
)";
  for (const auto& column : drift.columns) {
    const bool drifted = column.drift && column.drift->drifted;
    fmt::format_to(std::back_inserter(out), R"(<div class="card{}"><h3>{} )", drifted ? " drift" : "", Escaped(column.column));
    if (column.drift) {
      fmt::format_to(std::back_inserter(out), R"(<span class="{}">{}</span></h3><p class="meta">{} · {} {} {} (threshold {})</p>)",
                     drifted ? "bad" : "good", drifted ? "Drift" : "No drift", KindName(column.kind), HtmlEscape(TestName(column.drift->test)),
                     column.drift->is_p_value ? "p-value" : "distance", HtmlEscape(FormatNumber(column.drift->statistic)),
                     HtmlEscape(FormatNumber(column.drift->threshold)));
    } else {
      fmt::format_to(std::back_inserter(out), R"(<span class="warn">Not tested</span></h3><p class="meta">{}</p>)", Escaped(column.error));
    }
    if (column.histogram) {
      if (!column.histogram->edges.empty()) {
        NumericalHistogramSvg(out, *column.histogram);
      } else {
        CategoricalHistogramSvg(out, *column.histogram);
      }
    } else {
      out += R"(<p class="meta">No values to show.</p>)";
    }
    if (column.drift) {
      fmt::format_to(std::back_inserter(out), R"(<p class="meta">reference {} values ({} dropped) · current {} values ({} dropped)</p>)",
                     Count(column.drift->reference_size), Count(column.drift->dropped_reference), Count(column.drift->current_size),
                     Count(column.drift->dropped_current));
    }
    out += "</div>\n";
  }
  out += "</div>\n";
}

void IntegritySection(std::string& out, const json& integrity) {
  out += R"(<h2 id="integrity">Data integrity</h2>)";
  if (integrity.is_object()) {
    out += R"(<section class="banner">)";
    for (const auto& [key, value] : integrity.items()) {
      if (key == "checks" || value.is_structured()) continue;
      fmt::format_to(std::back_inserter(out), R"(<div class="stat"><span>{}</span><b>{}</b></div>)", Escaped(key, 80),
                     key.find("share") != std::string::npos && value.is_number() ? Percent(value.get<double>()) : JsonCell(value));
    }
    out += "</section>";
  }
  const json& checks = *IntegrityChecks(integrity);
  if (checks.empty()) {
    out += R"(<p class="meta">No checks.</p>)";
    return;
  }
  // The documented keys first in a fixed order, then whatever else the checks carry.
  std::vector<std::string> keys;
  for (const char* known : {"check", "column", "violations", "share", "failed", "examples", "detail", "error"}) {
    if (std::any_of(checks.begin(), checks.end(), [&](const json& check) { return check.contains(known); })) keys.push_back(known);
  }
  for (const auto& check : checks) {
    for (const auto& [key, value] : check.items()) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
  }
  out += "<table><thead><tr>";
  for (const auto& key : keys) fmt::format_to(std::back_inserter(out), "<th>{}</th>", Escaped(key, 80));
  out += "</tr></thead><tbody>\n";
  for (const auto& check : checks) {
    const bool failed = check.value("failed", json()).is_boolean() && check["failed"].get<bool>();
    const bool errored = check.contains("error") && !check["error"].is_null() && check["error"] != "";
    fmt::format_to(std::back_inserter(out), R"(<tr class="{}">)", failed ? "failed" : errored ? "untested" : "ok");
    for (const auto& key : keys) {
      if (!check.contains(key)) {
        out += "<td></td>";
        continue;
      }
      const json& value = check[key];
      if (key == "failed" && value.is_boolean()) {
        fmt::format_to(std::back_inserter(out), R"(<td class="{}">{}</td>)", failed ? "bad" : "good", failed ? "Failed" : "Passed");
      } else if (key == "share" && value.is_number()) {
        fmt::format_to(std::back_inserter(out), R"(<td class="num">{}</td>)", Percent(value.get<double>()));
      } else {
        fmt::format_to(std::back_inserter(out), R"(<td{}>{}</td>)", value.is_number() ? R"( class="num")" : key == "error" ? R"( class="warn")" : "",
                       JsonCell(value));
      }
    }
    out += "</tr>\n";
  }
  out += "</tbody></table>\n";
}

void PerformanceSection(std::string& out, const json& performance) {
  out += R"(<h2 id="performance">Model performance</h2>)";
  const bool has_matrix = performance.contains("confusion_matrix");
  out += "<table style=\"width:auto\"><thead><tr><th>Metric</th><th>Value</th></tr></thead><tbody>\n";
  for (const auto& [key, value] : performance.items()) {
    if (has_matrix && (key == "confusion_matrix" || key == "labels")) continue;
    fmt::format_to(std::back_inserter(out), R"(<tr><td>{}</td><td{}>{}</td></tr>)", Escaped(key, 80), value.is_number() ? R"( class="num")" : "",
                   JsonCell(value));
    out += '\n';
  }
  out += "</tbody></table>\n";
  if (!has_matrix) return;
  const json& matrix = performance["confusion_matrix"];
  std::vector<std::string> labels;
  for (size_t i = 0; i < matrix.size(); ++i) {
    labels.push_back(performance.contains("labels") ? JsonCell(performance["labels"][i]) : std::to_string(i));
  }
  double largest = 0;
  for (const auto& row : matrix) {
    for (const auto& cell : row) largest = std::max(largest, cell.get<double>());
  }
  out += R"(<h3>Confusion matrix</h3><table class="confusion"><thead><tr><th>true \ predicted</th>)";
  for (const auto& label : labels) fmt::format_to(std::back_inserter(out), "<th>{}</th>", label);
  out += "</tr></thead><tbody>\n";
  for (size_t i = 0; i < matrix.size(); ++i) {
    fmt::format_to(std::back_inserter(out), "<tr><th>{}</th>", labels[i]);
    for (const auto& cell : matrix[i]) {
      const double value = cell.get<double>();
      // The shade grows with the count, as in a heat map.
      fmt::format_to(std::back_inserter(out), R"~(<td style="background:rgba(232,116,59,{:.2f})">{}</td>)~", largest > 0 ? 0.08 + 0.6 * value / largest : 0.0,
                     JsonCell(cell));
    }
    out += "</tr>\n";
  }
  out += "</tbody></table>\n";
}

void PerformanceOverTimeSection(std::string& out, const json& windows) {
  out += R"(<h2 id="performance-over-time">Performance over time</h2>)";
  if (windows.empty()) {
    out += R"(<p class="meta">No windows.</p>)";
    return;
  }
  std::vector<std::string> starts;
  std::vector<std::string> metrics;
  for (const auto& window : windows) {
    const json start = window.value("window_start", json());
    starts.push_back(start.is_string() ? start.get<std::string>() : start.is_number() ? FormatNumber(start.get<double>()) : DumpJson(start));
    for (const auto& [name, value] : window["metrics"].items()) {
      if (std::find(metrics.begin(), metrics.end(), name) == metrics.end()) metrics.push_back(name);
    }
  }
  out += R"(<div class="cards small">)";
  for (const auto& metric : metrics) {
    std::vector<std::optional<double>> values;
    for (const auto& window : windows) values.push_back(JsonNumber(window["metrics"].value(metric, json())));
    fmt::format_to(std::back_inserter(out), R"(<div class="card"><h3>{}</h3>)", Escaped(metric, 80));
    LineChartSvg(out, starts, values);
    out += "</div>\n";
  }
  out += "</div>\n";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\t':
      case '\n': out += ch; break;
      default:
        // Control characters are parse errors in HTML and invisible anyway.
        out += (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F) ? ' ' : ch;
    }
  }
  return out;
}

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "n/a";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return "0";  // also -0
  const double magnitude = std::fabs(value);
  if (magnitude < 1e15 && (magnitude >= 1e4 || value == std::trunc(value))) return Grouped(fmt::format("{:.0f}", value));
  std::string text = fmt::format("{:.4g}", value);
  const size_t exponent = text.find('e');
  if (exponent == std::string::npos) return text;
  std::string digits = text.substr(exponent + 2);
  digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size() - 1));
  return text.substr(0, exponent) + "e" + (text[exponent + 1] == '-' ? "-" : "") + digits;
}

Result<std::string> RenderHtmlReport(const HtmlReportInputs& inputs) {
  LATHE_RETURN_IF_ERROR(ValidateSections(inputs));
  const std::string title = inputs.title.empty() ? "Lathe monitoring report" : inputs.title;
  std::string out(kHead);
  fmt::format_to(std::back_inserter(out), "<title>{}</title>\n", Escaped(title));
  out += kStyle;
  fmt::format_to(std::back_inserter(out), "</head><body>\n<header><h1>{}</h1>", Escaped(title));
  if (!inputs.subtitle.empty()) fmt::format_to(std::back_inserter(out), R"(<p class="subtitle">{}</p>)", HtmlEscape(inputs.subtitle));
  out += "</header>\n";
  if (inputs.drift != nullptr) {
    DriftSummary(out, *inputs.drift);
    DriftTable(out, *inputs.drift);
    SchemaSection(out, *inputs.drift);
  }
  if (!inputs.integrity.is_null()) IntegritySection(out, inputs.integrity);
  if (!inputs.performance.is_null()) PerformanceSection(out, inputs.performance);
  if (!inputs.performance_over_time.is_null()) PerformanceOverTimeSection(out, inputs.performance_over_time);
  if (inputs.drift != nullptr) Distributions(out, *inputs.drift);
  out += "</body></html>\n";
  return out;
}

}  // namespace lathe::monitoring
