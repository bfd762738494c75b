// The HTML report and the per-column histograms behind it: histograms against numpy and pandas,
// the page's escaping, sections, self-containment, and its size on a million rows.
#include "monitoring/html_report.h"

#include "monitoring/python_reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "monitoring/drift_report.h"
#include "storage/duckdb.h"

namespace lathe::monitoring {
namespace {

using nlohmann::json;
using testing::ExpectClose;
using testing::RunPythonJson;
using testing::ScratchDir;

constexpr const char* kOddName = "weird <b>&\"name'";

size_t Occurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

// The HTML between the card of `column` (escaped) and the next card.
std::string CardOf(const std::string& html, const std::string& escaped_column) {
  const size_t start = html.find("<div class=\"card");
  size_t at = html.find("<h3>" + escaped_column + " ", start);
  if (at == std::string::npos) return "";
  const size_t end = html.find("<div class=\"card", at);
  return html.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// Reference and current CSV files: `x` drifts, the oddly named column does not, `city` has 40
// categories and a new frequent one in current, `empty` holds no values, `gone` and `new` exist
// on one side only.
class HtmlReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 random(11);
    std::normal_distribution<double> normal;
    std::string reference = fmt::format("x,\"{}\",city,empty,gone\n", "weird <b>&\"\"name'");
    std::string current = fmt::format("x,\"{}\",city,empty,new\n", "weird <b>&\"\"name'");
    for (int i = 0; i < 600; ++i) {
      // A skewed choice of 40 cities, so that the top 20 are well defined.
      const int city = static_cast<int>(std::floor(40 * std::pow(std::uniform_real_distribution<double>()(random), 2)));
      reference += fmt::format("{:.17g},{:.17g},city-{},,1\n", normal(random), 5 + normal(random), city);
    }
    for (int i = 0; i < 500; ++i) {
      const int city = static_cast<int>(std::floor(40 * std::pow(std::uniform_real_distribution<double>()(random), 2)));
      const std::string x = i == 3 ? "" : fmt::format("{:.17g}", 1 + normal(random));
      current += fmt::format("{},{:.17g},{},,2\n", x, 5 + normal(random), i % 4 == 0 ? "new-city" : fmt::format("city-{}", city));
    }
    reference_path_ = dir_.Write("reference.csv", reference).string();
    current_path_ = dir_.Write("current.csv", current).string();
    auto report = DriftReportForFiles(reference_path_, current_path_);
    ASSERT_TRUE(report.ok()) << report.status().message();
    report_ = *report;
  }

  const ColumnReport& Column(const std::string& name) const {
    for (const auto& column : report_.columns) {
      if (column.column == name) return column;
    }
    throw std::runtime_error("no column " + name);
  }

  ScratchDir dir_;
  std::string reference_path_, current_path_;
  DriftReport report_;
};

TEST(HtmlEscapeTest, EscapesMarkupQuotesAndControlCharacters) {
  EXPECT_EQ(HtmlEscape("<a href=\"x\">Tom & Jerry's</a>"), "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape(std::string("a\x01" "b\tc\nd\x7f", 8)), "a b\tc\nd ");
  EXPECT_EQ(HtmlEscape("naïve café"), "naïve café");
}

TEST(FormatNumberTest, Compact) {
  EXPECT_EQ(FormatNumber(0), "0");
  EXPECT_EQ(FormatNumber(-0.0), "0");
  EXPECT_EQ(FormatNumber(1), "1");
  EXPECT_EQ(FormatNumber(1234567), "1,234,567");
  EXPECT_EQ(FormatNumber(-2500000), "-2,500,000");
  EXPECT_EQ(FormatNumber(12345.678), "12,346");
  EXPECT_EQ(FormatNumber(0.05), "0.05");
  EXPECT_EQ(FormatNumber(0.123456), "0.1235");
  EXPECT_EQ(FormatNumber(3.14159), "3.142");
  EXPECT_EQ(FormatNumber(1.5e-7), "1.5e-7");
  EXPECT_EQ(FormatNumber(-2.25e-12), "-2.25e-12");
  EXPECT_EQ(FormatNumber(1e20), "1e20");
  EXPECT_EQ(FormatNumber(std::nan("")), "n/a");
  EXPECT_EQ(FormatNumber(-INFINITY), "-inf");
}

TEST_F(HtmlReportTest, NumericalHistogramIsNumpysOnSharedSturgesEdges) {
  for (const std::string column : {"x", kOddName}) {
    const auto& histogram = Column(column).histogram;
    ASSERT_TRUE(histogram.has_value()) << column;
    auto expected = RunPythonJson(R"py(
import json, sys
import numpy as np, pandas as pd
case = json.load(open(sys.argv[1]))
ref = pd.read_csv(case["reference"])[case["column"]].dropna().to_numpy()
cur = pd.read_csv(case["current"])[case["column"]].dropna().to_numpy()
edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
print(json.dumps({"edges": edges.tolist(), "reference": np.histogram(ref, edges)[0].tolist(),
                  "current": np.histogram(cur, edges)[0].tolist()}))
)py",
                                  {{"reference", reference_path_}, {"current", current_path_}, {"column", column}});
    ASSERT_EQ(histogram->edges.size(), expected["edges"].size()) << column;
    for (size_t i = 0; i < histogram->edges.size(); ++i) ExpectClose(histogram->edges[i], expected["edges"][i], column + " edge");
    EXPECT_EQ(json(histogram->reference_counts), expected["reference"]) << column;
    EXPECT_EQ(json(histogram->current_counts), expected["current"]) << column;
  }
  // The JSON report carries the same, and the empty cell of x in current is not counted.
  auto x = ToJson(report_)["columns"][0];
  ASSERT_EQ(x["column"], "x");
  EXPECT_EQ(x["histogram"]["edges"].size(), x["histogram"]["reference"].size() + 1);
  int64_t counted = 0;
  for (const auto& count : x["histogram"]["current"]) counted += count.get<int64_t>();
  EXPECT_EQ(counted, 499);
}

TEST_F(HtmlReportTest, CategoricalHistogramKeepsTopCategoriesByShareAndFoldsTheRest) {
  const auto& histogram = Column("city").histogram;
  ASSERT_TRUE(histogram.has_value());
  EXPECT_TRUE(histogram->edges.empty());
  auto expected = RunPythonJson(R"py(
import json, sys
import pandas as pd
case = json.load(open(sys.argv[1]))
ref = pd.read_csv(case["reference"])["city"].dropna()
cur = pd.read_csv(case["current"])["city"].dropna()
share = ref.value_counts(normalize=True).add(cur.value_counts(normalize=True), fill_value=0)
ranked = sorted(share.index, key=lambda c: (-share[c], c))
top, rest = ranked[:20], ranked[20:]
rc, cc = ref.value_counts(), cur.value_counts()
print(json.dumps({"categories": top, "reference": [int(rc.get(c, 0)) for c in top],
                  "current": [int(cc.get(c, 0)) for c in top], "other_categories": len(rest),
                  "reference_other": int(sum(rc.get(c, 0) for c in rest)),
                  "current_other": int(sum(cc.get(c, 0) for c in rest))}))
)py",
                                {{"reference", reference_path_}, {"current", current_path_}});
  EXPECT_EQ(json(histogram->categories), expected["categories"]);
  EXPECT_EQ(json(histogram->reference_counts), expected["reference"]);
  EXPECT_EQ(json(histogram->current_counts), expected["current"]);
  EXPECT_EQ(histogram->other_categories, expected["other_categories"].get<int64_t>());
  EXPECT_EQ(histogram->reference_other, expected["reference_other"].get<int64_t>());
  EXPECT_EQ(histogram->current_other, expected["current_other"].get<int64_t>());
  // A quarter of current and absent from the reference: among the categories shown.
  ASSERT_NE(std::find(histogram->categories.begin(), histogram->categories.end(), "new-city"), histogram->categories.end());
  EXPECT_EQ(ToJson(report_)["columns"][2]["histogram"]["other"]["categories"], expected["other_categories"]);
}

TEST_F(HtmlReportTest, PageShowsEveryColumnEscapedWithHistograms) {
  HtmlReportInputs inputs;
  inputs.drift = &report_;
  inputs.title = "Drift <of> \"weekly\" & more";
  inputs.subtitle = "reference a&b.csv";
  auto html = RenderHtmlReport(inputs);
  ASSERT_TRUE(html.ok()) << html.status().message();
  const std::string escaped = "weird &lt;b&gt;&amp;&quot;name&#39;";
  EXPECT_EQ(html->find(kOddName), std::string::npos);
  EXPECT_EQ(html->find("weird <b>"), std::string::npos);
  EXPECT_NE(html->find("<td>" + escaped + "</td>"), std::string::npos);
  EXPECT_NE(html->find("<h1>Drift &lt;of&gt; &quot;weekly&quot; &amp; more</h1>"), std::string::npos);
  EXPECT_NE(html->find("reference a&amp;b.csv"), std::string::npos);

  // The drift table: x drifted (highlighted), the odd column not, empty not tested with its reason.
  EXPECT_NE(html->find("<tr class=\"drift\"><td>x</td><td>numerical</td><td>Kolmogorov–Smirnov</td>"), std::string::npos);
  EXPECT_NE(html->find("<tr class=\"ok\"><td>" + escaped + "</td>"), std::string::npos);
  EXPECT_NE(html->find("<tr class=\"untested\"><td>empty</td><td>categorical</td><td colspan=\"3\">the reference has no values in this column</td>"),
            std::string::npos);
  EXPECT_NE(html->find("<td class=\"num\">600 / 499</td><td class=\"num\">0 / 1</td>"), std::string::npos);  // x: tested and dropped
  EXPECT_NE(html->find("Missing in current (1)</th><td>gone</td>"), std::string::npos);
  EXPECT_NE(html->find("Unexpected in current (1)</th><td>new</td>"), std::string::npos);
  EXPECT_NE(html->find("<b>Detected</b>"), std::string::npos);  // x and city drifted of 3 tested

  // One histogram per column with values: bars of both sides, one <g> per bin or category.
  const auto& x = *Column("x").histogram;
  const std::string x_card = CardOf(*html, "x");
  EXPECT_EQ(Occurrences(x_card, "<svg"), 1u);
  EXPECT_EQ(Occurrences(x_card, "<g>"), x.reference_counts.size());
  EXPECT_GT(Occurrences(x_card, "<rect class=\"r\""), 3u);
  EXPECT_GT(Occurrences(x_card, "<rect class=\"c\""), 3u);
  const std::string city_card = CardOf(*html, "city");
  EXPECT_EQ(Occurrences(city_card, "<g>"), kMaxHistogramCategories + 1);
  EXPECT_NE(city_card.find(fmt::format("other ({} categories)", Column("city").histogram->other_categories)), std::string::npos);
  EXPECT_NE(CardOf(*html, escaped).find("<svg"), std::string::npos);
  const std::string empty_card = CardOf(*html, "empty");
  EXPECT_NE(empty_card.find("Not tested"), std::string::npos);
  EXPECT_NE(empty_card.find("No values to show."), std::string::npos);
}

TEST_F(HtmlReportTest, PageIsSelfContained) {
  HtmlReportInputs inputs;
  inputs.drift = &report_;
  inputs.integrity = json::array({{{"check", "range"}, {"column", "x"}, {"failed", true}}});
  inputs.performance = {{"accuracy", 0.5}};
  inputs.performance_over_time = json::array({{{"window_start", "2024-01-01"}, {"metrics", {{"accuracy", 0.5}}}}});
  auto html = RenderHtmlReport(inputs);
  ASSERT_TRUE(html.ok());
  for (const char* reference : {"<script", "http://", "https://", "src=", "href=", "url(", "@import", "<link", "<img", "<iframe", "onload="}) {
    EXPECT_EQ(html->find(reference), std::string::npos) << reference;
  }
  EXPECT_NE(html->find("Content-Security-Policy\" content=\"default-src 'none'"), std::string::npos);
  EXPECT_EQ(html->rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(Occurrences(*html, "<svg"), Occurrences(*html, "</svg>"));
}

TEST_F(HtmlReportTest, OptionalSections) {
  HtmlReportInputs inputs;
  inputs.integrity = {{"current_rows", 1000},
                      {"violation_share", 0.0123},
                      {"checks",
                       {{{"check", "range"}, {"column", "age<>"}, {"violations", 12}, {"share", 0.012}, {"failed", true},
                         {"examples", {"r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12"}},
                         {"detail", "[0, 120]"}},
                        {{"check", "rule"}, {"column", "bad_rule"}, {"violations", 0}, {"failed", false}, {"error", "no such column: q"}},
                        {{"check", "null_share"}, {"column", "x"}, {"violations", 0}, {"failed", false}, {"owner", "data team"}}}}};
  inputs.performance = {{"accuracy", 0.875}, {"f1_macro", 0.8123456}, {"rows", 1000},
                        {"labels", {"cat", "dog"}}, {"confusion_matrix", {{40, 10}, {5, 45}}}};
  inputs.performance_over_time = json::array();
  for (int week = 0; week < 6; ++week) {
    json metrics = {{"accuracy", 0.9 - 0.02 * week}};
    if (week != 2) metrics["rmse"] = 1.0 + week;
    inputs.performance_over_time.push_back({{"window_start", fmt::format("2024-W{:02}", 1 + week)}, {"metrics", metrics}});
  }
  auto html = RenderHtmlReport(inputs);
  ASSERT_TRUE(html.ok()) << html.status().message();
  EXPECT_EQ(html->find("Data drift per column"), std::string::npos);  // no drift given
  EXPECT_NE(html->find("<span>violation_share</span><b>1.2%</b>"), std::string::npos);
  EXPECT_NE(html->find("<th>check</th><th>column</th><th>violations</th><th>share</th><th>failed</th><th>examples</th><th>detail</th><th>error</th><th>owner</th>"),
            std::string::npos);
  EXPECT_NE(html->find("<tr class=\"failed\"><td>range</td><td>age&lt;&gt;</td><td class=\"num\">12</td><td class=\"num\">1.2%</td><td class=\"bad\">Failed</td>"
                       "<td>r1, r2, r3, r4, r5, r6, r7, r8, r9, r10 … (2 more)</td>"),
            std::string::npos);
  EXPECT_NE(html->find("<tr class=\"untested\"><td>rule</td>"), std::string::npos);
  EXPECT_NE(html->find("<td class=\"warn\">no such column: q</td>"), std::string::npos);
  EXPECT_NE(html->find("<td>f1_macro</td><td class=\"num\">0.8123</td>"), std::string::npos);
  EXPECT_EQ(html->find("<td>labels</td>"), std::string::npos);
  EXPECT_NE(html->find("<tr><th>cat</th><td style=\"background:rgba(232,116,59,0.61)\">40</td>"), std::string::npos);
  // One chart per metric; rmse has a gap at week 2, so two line pieces.
  EXPECT_NE(html->find("<h3>accuracy</h3><svg"), std::string::npos);
  EXPECT_NE(html->find("<h3>rmse</h3><svg"), std::string::npos);
  EXPECT_EQ(Occurrences(*html, "<polyline"), 3u);
  EXPECT_EQ(Occurrences(*html, "<circle"), 11u);
  EXPECT_NE(html->find("<title>2024-W04: 4</title>"), std::string::npos);
}

TEST(HtmlReportInputsTest, SectionsOfTheWrongShapeAreErrors) {
  auto message = [](HtmlReportInputs inputs) {
    auto html = RenderHtmlReport(inputs);
    EXPECT_FALSE(html.ok());
    return html.ok() ? std::string() : html.status().message();
  };
  HtmlReportInputs inputs;
  inputs.integrity = 5;
  EXPECT_EQ(message(inputs), "integrity must be an array of checks or an object with a \"checks\" array");
  inputs.integrity = json::array({json::object(), "range"});
  EXPECT_EQ(message(inputs), "integrity check 1 is not an object");
  inputs = {};
  inputs.performance = json::array();
  EXPECT_EQ(message(inputs), "performance must be an object of metric name to number");
  inputs.performance = {{"confusion_matrix", {{1, 2}, {3}}}};
  EXPECT_EQ(message(inputs), "performance.confusion_matrix row 1 must be an array of 2 counts");
  inputs.performance = {{"confusion_matrix", {{1, "2"}, {3, 4}}}};
  EXPECT_EQ(message(inputs), "performance.confusion_matrix row 0 holds a value that is not a number");
  inputs.performance = {{"confusion_matrix", {{1, 2}, {3, 4}}}, {"labels", {"a"}}};
  EXPECT_EQ(message(inputs), "performance.labels must be an array of 2 labels, one per confusion_matrix row");
  inputs = {};
  inputs.performance_over_time = json::array({{{"window_start", "w1"}, {"metrics", {{"a", 1}}}}, {{"window_start", "w2"}}});
  EXPECT_EQ(message(inputs), "performance_over_time entry 1 has no \"metrics\" object");
}

// Under AddressSanitizer the million-row drift report takes minutes; the page's size does not
// depend on the row count, which the Release build checks at the issue's million rows.
#if defined(__SANITIZE_ADDRESS__)
constexpr int64_t kSizeTestRows = 100000;
constexpr const char* kOtherIds = "other (99,980 categories)";
#else
constexpr int64_t kSizeTestRows = 1000000;
constexpr const char* kOtherIds = "other (999,980 categories)";
#endif

// A million rows by 25 columns of every kind, including one category per row: the page holds
// aggregates only, so it stays far below 2 MB.
TEST(HtmlReportSizeTest, MillionRowsStayBelowTwoMegabytes) {
  ScratchDir dir;
  auto db = storage::DuckDb::Open();
  ASSERT_TRUE(db.ok());
  std::string columns;
  for (int k = 0; k < 14; ++k) columns += fmt::format("(hash(i * 31 + {0}) % 1000003) / 1000.0 + {0} * shift AS num_{0}, ", k);
  for (int k = 0; k < 5; ++k) columns += fmt::format("'cat-' || ((hash(i + {0}) % 50) + shift * 3) AS cat_{0}, ", k);
  for (int k = 0; k < 3; ++k) columns += fmt::format("CAST(hash(i * 7 + {0}) % 1000 AS BIGINT) AS int_{0}, ", k);
  columns += "CAST(hash(i) % 5 AS INTEGER) AS level, 'id-' || i AS id, CASE WHEN i % 10 = 0 THEN NULL ELSE i / 3.0 END AS sparse";
  for (const auto& [name, shift] : {std::pair{"reference.parquet", 0}, std::pair{"current.parquet", 1}}) {
    ASSERT_TRUE((*db)->Exec(fmt::format("COPY (SELECT {} FROM (SELECT i, {} AS shift FROM range({}) t(i))) TO '{}' (FORMAT parquet)",
                                        columns, shift, kSizeTestRows, (dir.path() / name).string()))
                    .ok());
  }
  const auto started = std::chrono::steady_clock::now();
  auto report = DriftReportForFiles((dir.path() / "reference.parquet").string(), (dir.path() / "current.parquet").string());
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->columns.size(), 25u);
  ASSERT_EQ(report->reference_rows, kSizeTestRows);
  HtmlReportInputs inputs;
  inputs.drift = &*report;
  auto html = RenderHtmlReport(inputs);
  ASSERT_TRUE(html.ok());
  std::printf("%lld x 25: report and page in %.1f s, page %zu bytes\n", static_cast<long long>(kSizeTestRows),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), html->size());
  EXPECT_LE(html->size(), 2u * 1024 * 1024);
  EXPECT_LE(ToJson(*report).dump().size(), 2u * 1024 * 1024);
  for (const auto& column : report->columns) EXPECT_TRUE(column.histogram.has_value()) << column.column;
  EXPECT_EQ(Occurrences(*html, "<svg"), 25u);
  EXPECT_NE(html->find(kOtherIds), std::string::npos);  // one id per row, 20 shown
}

}  // namespace
}  // namespace lathe::monitoring
