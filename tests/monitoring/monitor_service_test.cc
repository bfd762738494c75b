// The monitor service over a real prediction log, label files and SQLite store: a classification
// monitor with probabilities computes scikit-learn's numbers from logged rows and late labels; an
// empty window is "no data"; results form a time series; alerts respect for-windows.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <functional>
#include <map>
#include <random>

#include "monitoring/monitor_service.h"
#include "python_reference.h"
#include "storage/store.h"

namespace lathe::monitoring {
namespace {

using testing::ExpectClose;
using testing::RunPythonJson;
using testing::ScratchDir;

constexpr int64_t kHour = 3600000;
constexpr int64_t kStart = 1'800'000'000'000 / kHour * kHour;  // an hour boundary in 2027

models::Tensor Column(const std::string& name, std::vector<double> values, int64_t width = 1) {
  models::Tensor tensor;
  tensor.name = name;
  tensor.shape = {static_cast<int64_t>(values.size()) / width};
  if (width > 1) tensor.shape.push_back(width);
  tensor.numbers = std::move(values);
  return tensor;
}

class MonitorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::SqliteStoreOptions options;
    options.path = (dir_.path() / "lathe.db").string();
    auto store = storage::OpenSqliteStore(options);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    PredictionLogOptions log_options;
    log_options.root = layout_.predictions();
    auto log = PredictionLog::Open(log_options);
    ASSERT_TRUE(log.ok()) << log.status().message();
    log_ = std::move(*log);
  }

  std::unique_ptr<MonitorService> Service(const std::string& yaml) {
    auto config = ParseMonitoringConfig(yaml, "monitoring.yaml");
    EXPECT_TRUE(config.ok()) << config.status().message();
    return std::make_unique<MonitorService>(*store_, log_.get(), *config, MonitorServiceOptions{layout_, "test"}, nullptr);
  }

  // Requests r0, r1, ... a second apart from kStart, one logged row each: inputs(r) and an output.
  void LogRequests(int requests, const std::function<std::vector<models::Tensor>(int)>& inputs) {
    for (int request = 0; request < requests; ++request) {
      PredictionEvent event;
      event.deployment = "churn";
      event.request_id = "r" + std::to_string(request);
      event.timestamp_ms = kStart + request * 1000;
      event.prediction_ids = {event.request_id};
      event.AddInputs(inputs(request));
      event.AddOutputs({Column("y", {1.0})});
      ASSERT_TRUE(log_->Append(std::move(event)));
    }
  }

  ScratchDir dir_;
  MonitoringLayout layout_{dir_.path() / "monitoring"};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<PredictionLog> log_;
};

TEST_F(MonitorServiceTest, ClassificationPerformanceFromLoggedRowsAndLateLabelsMatchesSklearn) {
  auto service = Service(R"(
monitors:
  churn:
    window: 1h
    task: classification
    prediction: output_label
    probabilities: output_probabilities
)");
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> uniform(0, 1);
  nlohmann::json truth = nlohmann::json::array(), predicted = nlohmann::json::array(), probabilities = nlohmann::json::array();
  std::vector<Label> labels;
  for (int request = 0; request < 40; ++request) {
    PredictionEvent event;
    event.deployment = "churn";
    event.request_id = "r" + std::to_string(request);
    event.timestamp_ms = kStart + request * 1000;
    std::vector<double> x, label, proba;
    for (int row = 0; row < 5; ++row) {
      const double p = uniform(rng);
      x.push_back(uniform(rng));
      label.push_back(p > 0.5 ? 1 : 0);
      proba.push_back(1 - p);
      proba.push_back(p);
      event.prediction_ids.push_back(event.request_id + "-" + std::to_string(row));
      if ((request + row) % 4 == 0) continue;  // not every prediction gets its label
      const int actual = uniform(rng) < p ? 1 : 0;
      labels.push_back({event.prediction_ids.back(), std::to_string(actual)});
      truth.push_back(actual);
      predicted.push_back(label.back());
      probabilities.push_back(p);
    }
    event.AddInputs({Column("x", x)});
    event.AddOutputs({Column("label", label), Column("probabilities", proba, 2)});
    ASSERT_TRUE(log_->Append(std::move(event)));
  }
  auto posted = service->PostLabels("churn", labels);
  ASSERT_TRUE(posted.ok()) << posted.status().message();
  EXPECT_EQ((*posted)["unknown"], 0);

  auto evaluation = service->Evaluate("churn", kStart + kHour);
  ASSERT_TRUE(evaluation.ok()) << evaluation.status().message();
  EXPECT_EQ(evaluation->status, "ok");
  EXPECT_EQ(evaluation->rows, 200);
  EXPECT_EQ(evaluation->labeled_rows, static_cast<int64_t>(labels.size()));
  ASSERT_TRUE(evaluation->performance.is_object()) << evaluation->performance_error;
  auto expected = RunPythonJson(R"(
import json, sys
from sklearn import metrics
case = json.load(open(sys.argv[1]))
y, p, proba = case["truth"], case["predicted"], case["probabilities"]
print(json.dumps({"accuracy": metrics.accuracy_score(y, p), "f1_macro": metrics.f1_score(y, p, average="macro"),
                  "precision_weighted": metrics.precision_score(y, p, average="weighted"),
                  "roc_auc": metrics.roc_auc_score(y, proba), "log_loss": metrics.log_loss(y, proba)}))
)",
                                {{"truth", truth}, {"predicted", predicted}, {"probabilities", probabilities}});
  for (const auto& [name, value] : expected.items()) {
    ExpectClose(evaluation->metrics.at(name), value, name);
    ExpectClose(evaluation->performance.at(name).get<double>(), value, name);
  }
  // No reference registered: drift says why; integrity still runs on the window itself.
  EXPECT_NE(evaluation->drift_error.find("no reference data"), std::string::npos);
  EXPECT_TRUE(evaluation->integrity.has_value()) << evaluation->integrity_error;
}

TEST_F(MonitorServiceTest, EmptyWindowsAreNoDataAndResultsFormATimeSeries) {
  auto service = Service(R"(
monitors:
  churn:
    window: 1h
    alerts:
      - {name: busy, when: rows >= 1, for: 2, cooldown: 0s}
)");
  for (int hour = 0; hour < 4; ++hour) {
    if (hour == 1) continue;  // an hour without traffic
    PredictionEvent event;
    event.deployment = "churn";
    event.request_id = "h" + std::to_string(hour);
    event.timestamp_ms = kStart + hour * kHour + 10;
    event.prediction_ids = {event.request_id};
    event.AddInputs({Column("x", {1.0})});
    event.AddOutputs({Column("y", {2.0})});
    ASSERT_TRUE(log_->Append(std::move(event)));
  }
  std::vector<std::vector<std::string>> fired;
  for (int hour = 0; hour < 3; ++hour) {
    auto evaluation = service->Evaluate("churn", kStart + (hour + 1) * kHour);
    ASSERT_TRUE(evaluation.ok()) << evaluation.status().message();
    EXPECT_EQ(evaluation->status, hour == 1 ? "no_data" : "ok");
    fired.push_back(evaluation->alerts_fired);
  }
  // rows >= 1 for 2 windows does not hold yet: the empty hour breaks the streak.
  EXPECT_EQ(fired, (std::vector<std::vector<std::string>>{{}, {}, {}}));
  // Evaluating the third hour again is still one window, not two.
  EXPECT_EQ(service->Evaluate("churn", kStart + 3 * kHour)->alerts_fired, std::vector<std::string>{});
  auto fourth = service->Evaluate("churn", kStart + 4 * kHour);  // two busy hours in a row now
  ASSERT_TRUE(fourth.ok());
  EXPECT_EQ(fourth->alerts_fired, std::vector<std::string>{"busy"});

  auto results = service->Results("churn", 0, kStart + 10 * kHour, 100);
  ASSERT_TRUE(results.ok());
  const auto& series = (*results)["results"];
  ASSERT_EQ(series.size(), 4u);  // the re-evaluated window replaced its earlier result
  EXPECT_EQ(series[1]["status"], "no_data");
  EXPECT_EQ(series[1]["metrics"], nlohmann::json({{"rows", 0}}));
  EXPECT_EQ(series[0]["window_start_ms"], kStart);
  EXPECT_EQ(service->Evaluate("nope", std::nullopt).status().code(), ErrorCode::kResourceDoesNotExist);
}

// A registered reference stores every column's kind, inferred or given; evaluations take them,
// and a monitor's own kinds win over them.
TEST_F(MonitorServiceTest, ReferenceKindsAreInferredStoredAndOverridable) {
  auto service = Service(R"(
monitors:
  churn:
    window: 1h
    kinds: {n: numerical}
)");
  std::string csv = "x,n,day,note\n";
  for (int i = 0; i < 60; ++i) csv += fmt::format("{}.5,{},2026-01-{:02d},note {}\n", i, i % 3, i % 28 + 1, i);
  const auto file = dir_.Write("reference.csv", csv).string();
  const storage::WriteContext context{"test", "", "monitor/reference"};
  auto bad = service->RegisterReference(context, "churn", file, "test", {{"nope", ColumnKind::kText}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "the reference data has no column 'nope' to give a kind");
  auto saved = service->RegisterReference(context, "churn", file, "test", {{"note", ColumnKind::kText}, {"x", ColumnKind::kCategorical}});
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  EXPECT_EQ(nlohmann::json::parse(saved->kinds),
            nlohmann::json({{"x", "categorical"}, {"n", "categorical"}, {"day", "datetime"}, {"note", "text"}}));
  auto stored = store_->GetMonitorReference("churn");
  ASSERT_TRUE(stored.ok() && *stored);
  EXPECT_EQ((*stored)->kinds, saved->kinds);

  LogRequests(30, [](int request) {
    return std::vector<models::Tensor>{Column("x", {request + 0.5}), Column("n", {static_cast<double>(request % 3)})};
  });
  auto evaluation = service->Evaluate("churn", kStart + kHour);
  ASSERT_TRUE(evaluation.ok()) << evaluation.status().message();
  ASSERT_TRUE(evaluation->drift.has_value()) << evaluation->drift_error;
  std::map<std::string, std::optional<ColumnKind>> kinds;
  for (const auto& column : evaluation->drift->columns) kinds[column.column] = column.kind;
  EXPECT_EQ(kinds.at("x"), ColumnKind::kCategorical) << "the reference's given kind";
  EXPECT_EQ(kinds.at("n"), ColumnKind::kNumerical) << "the monitor's kind wins";
}

// Integrity in an evaluation takes the drift report's counts; they are those of the window.
TEST_F(MonitorServiceTest, IntegrityOfAWindowUsesTheDriftCounts) {
  auto service = Service(R"(
monitors:
  churn:
    window: 1h
)");
  std::string csv = "x\n";
  for (int i = 0; i < 60; ++i) csv += fmt::format("{}.5\n", i);
  const storage::WriteContext context{"test", "", "monitor/reference"};
  ASSERT_TRUE(service->RegisterReference(context, "churn", dir_.Write("reference.csv", csv).string(), "test").ok());
  LogRequests(30, [](int request) { return std::vector<models::Tensor>{Column("x", {request * 3 + 0.5})}; });
  auto evaluation = service->Evaluate("churn", kStart + kHour);
  ASSERT_TRUE(evaluation.ok()) << evaluation.status().message();
  ASSERT_TRUE(evaluation->drift && evaluation->integrity) << evaluation->drift_error << evaluation->integrity_error;
  ASSERT_EQ(evaluation->drift->columns.size(), 1u);
  ASSERT_TRUE(evaluation->drift->columns[0].facts && evaluation->drift->columns[0].facts->range);
  EXPECT_EQ(evaluation->drift->columns[0].facts->current_type, "DOUBLE");
  for (const auto& check : evaluation->integrity->checks) {
    if (check.check == "range" && check.column == "x") {
      EXPECT_EQ(check.violations, 10);  // 3r + 0.5 > 59.5 for r = 20 .. 29
      EXPECT_EQ(check.examples.front(), "r20");
    }
    if (check.check == "null_share" && check.column == "x") EXPECT_EQ(check.violations, 0);
  }
  EXPECT_EQ(evaluation->integrity->rows_with_violation, 10);
}

}  // namespace
}  // namespace lathe::monitoring
