#include "monitoring/monitor_service.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/ids.h"
#include "monitoring/column_types.h"
#include "monitoring/html_report.h"
#include "monitoring/performance.h"
#include "storage/duckdb.h"

namespace lathe::monitoring {
namespace {

using nlohmann::json;
using storage::Cell;
using storage::DuckDb;
using storage::SqlIdentifier;
using storage::SqlString;

constexpr int64_t kForever = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxLabelsPerPost = 100000;
constexpr const char* kMetaColumns[] = {"prediction_id", "request_id", "deployment", "model",
                                        "model_version", "timestamp_ms", "latency_ms"};
constexpr const char* kLabelColumn = "lathe_label";

bool IsMeta(const std::string& column) {
  return std::find(std::begin(kMetaColumns), std::end(kMetaColumns), column) != std::end(kMetaColumns);
}
bool IsOutput(const std::string& column) { return column.rfind("output_", 0) == 0; }

using ColumnTypes = std::vector<std::pair<std::string, std::string>>;

Result<ColumnTypes> Describe(DuckDb& db, const std::string& relation) {
  LATHE_ASSIGN_OR_RETURN(auto described, db.Query("DESCRIBE SELECT * FROM " + relation));
  ColumnTypes columns;
  for (const auto& row : described.rows) columns.emplace_back(std::get<std::string>(row[0]), std::get<std::string>(row[1]));
  return columns;
}

std::optional<std::string> TypeOf(const ColumnTypes& columns, const std::string& name) {
  for (const auto& [column, type] : columns) {
    if (column == name) return type;
  }
  return std::nullopt;
}

// Every column's kind (ColumnKinds), in the columns' order as people read them.
Result<nlohmann::ordered_json> ReferenceKinds(DuckDb& db, const std::string& relation, const std::map<std::string, ColumnKind>& given) {
  LATHE_ASSIGN_OR_RETURN(auto columns, Describe(db, relation));
  for (const auto& [column, kind] : given) {
    if (!TypeOf(columns, column)) return Status::InvalidParameter(fmt::format("the reference data has no column '{}' to give a kind", column));
  }
  LATHE_ASSIGN_OR_RETURN(auto kinds, ColumnKinds(db, relation, columns, given));
  auto out = nlohmann::ordered_json::object();
  for (const auto& [column, type] : columns) {
    if (auto found = kinds.find(column); found != kinds.end()) out[column] = ColumnKindName(found->second);
  }
  return out;
}

// The kinds a registered reference stores (older references store none).
std::map<std::string, ColumnKind> StoredKinds(const std::string& text) {
  std::map<std::string, ColumnKind> kinds;
  auto parsed = json::parse(text, nullptr, false);
  if (!parsed.is_object()) return kinds;
  for (const auto& [column, name] : parsed.items()) {
    if (!name.is_string()) continue;
    if (auto kind = ParseColumnKind(name.get<std::string>())) kinds[column] = *kind;
  }
  return kinds;
}

int64_t CountOf(DuckDb& db, const std::string& sql) {
  auto result = db.Query(sql);
  if (!result.ok() || result->rows.empty()) return 0;
  const auto& cell = result->rows[0][0];
  return std::holds_alternative<int64_t>(cell) ? std::get<int64_t>(cell) : 0;
}

// The current value of a column as the reference stores it: a float log value whose reference is
// an integer column becomes that integer (or null when it has a fraction), so that "1" and "1.0"
// are one category.
std::string AlignedTo(const std::string& expression, const std::string& current_type,
                      const std::optional<std::string>& reference_type) {
  if (reference_type && IsIntegerType(*reference_type) && IsFloatType(current_type)) {
    return fmt::format("CASE WHEN {0} = round({0}) THEN TRY_CAST({0} AS BIGINT) END", expression);
  }
  return expression;
}

bool ValidDeploymentName(const std::string& name) {
  return !name.empty() && name.size() <= 256 && name.front() != '.' && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos;
}

json FiniteOrNull(double value) { return std::isfinite(value) ? json(value) : json(); }

void AddPerformance(const ClassificationMetrics& metrics, Evaluation& evaluation) {
  json out = {{"task", "classification"},
              {"rows", metrics.rows},
              {"labels", metrics.labels},
              {"confusion_matrix", metrics.confusion},
              {"accuracy", metrics.accuracy},
              {"precision_macro", metrics.precision_macro},
              {"recall_macro", metrics.recall_macro},
              {"f1_macro", metrics.f1_macro},
              {"precision_weighted", metrics.precision_weighted},
              {"recall_weighted", metrics.recall_weighted},
              {"f1_weighted", metrics.f1_weighted}};
  if (metrics.roc_auc) out["roc_auc"] = FiniteOrNull(*metrics.roc_auc);
  if (metrics.log_loss) out["log_loss"] = FiniteOrNull(*metrics.log_loss);
  for (const char* name : {"accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted",
                           "f1_weighted", "roc_auc", "log_loss"}) {
    if (out.contains(name) && out[name].is_number()) evaluation.metrics[name] = out[name].get<double>();
  }
  evaluation.performance = std::move(out);
}

void AddPerformance(const RegressionMetrics& metrics, Evaluation& evaluation) {
  json out = {{"task", "regression"}, {"rows", metrics.rows}, {"mae", FiniteOrNull(metrics.mae)}, {"rmse", FiniteOrNull(metrics.rmse)},
              {"mape", FiniteOrNull(metrics.mape)}, {"r2", FiniteOrNull(metrics.r2)}};
  for (const char* name : {"mae", "rmse", "mape", "r2"}) {
    if (out[name].is_number()) evaluation.metrics[name] = out[name].get<double>();
  }
  evaluation.performance = std::move(out);
}

Status ComputePerformance(DuckDb& db, const MonitorSpec& spec, const std::string& prediction, const ColumnTypes& columns,
                          Evaluation& evaluation) {
  const std::string labeled = fmt::format("FROM window_labeled WHERE {} IS NOT NULL AND {} IS NOT NULL", kLabelColumn,
                                          SqlIdentifier(prediction));
  if (spec.task == Task::kRegression) {
    std::vector<double> truth, predicted;
    int64_t unparsable = 0;
    LATHE_RETURN_IF_ERROR(db.ForEachRow(
        fmt::format("SELECT TRY_CAST({} AS DOUBLE), TRY_CAST({} AS DOUBLE) {}", kLabelColumn, SqlIdentifier(prediction), labeled),
        {"label", "prediction"}, [&](const std::vector<Cell>& row) {
          if (!std::holds_alternative<double>(row[0]) || !std::holds_alternative<double>(row[1])) {
            ++unparsable;
            return Status::Ok();
          }
          truth.push_back(std::get<double>(row[0]));
          predicted.push_back(std::get<double>(row[1]));
          return Status::Ok();
        }));
    if (truth.empty()) return Status::InvalidParameter("no labeled row has a numeric label and prediction");
    LATHE_ASSIGN_OR_RETURN(auto metrics, RegressionPerformance(truth, predicted));
    AddPerformance(metrics, evaluation);
    evaluation.performance["non_numeric_rows"] = unparsable;
    return Status::Ok();
  }
  int64_t width = 0;
  if (!spec.probabilities.empty()) {
    if (!TypeOf(columns, spec.probabilities)) {
      return Status::InvalidParameter(fmt::format("the log has no probabilities column '{}'", spec.probabilities));
    }
    width = CountOf(db, fmt::format("SELECT max(len({})) FROM window_labeled", SqlIdentifier(spec.probabilities)));
  }
  std::string select = fmt::format("SELECT {}, {}", kLabelColumn, SqlIdentifier(prediction));
  std::vector<std::string> names = {"label", "prediction"};
  for (int64_t k = 1; k <= width; ++k) {
    select += fmt::format(", CAST({}[{}] AS DOUBLE)", SqlIdentifier(spec.probabilities), k);
    names.push_back(fmt::format("p{}", k));
  }
  std::vector<std::string> truth, predicted;
  std::vector<std::vector<double>> probabilities;
  LATHE_RETURN_IF_ERROR(db.ForEachRow(select + " " + labeled, names, [&](const std::vector<Cell>& row) {
    truth.push_back(LabelText(row[0]));
    predicted.push_back(LabelText(row[1]));
    if (width > 0) {
      std::vector<double> p;
      for (int64_t k = 0; k < width; ++k) {
        p.push_back(std::holds_alternative<double>(row[2 + k]) ? std::get<double>(row[2 + k]) : std::nan(""));
      }
      probabilities.push_back(std::move(p));
    }
    return Status::Ok();
  }));
  if (truth.empty()) return Status::InvalidParameter("no labeled row has a prediction");
  LATHE_ASSIGN_OR_RETURN(auto metrics, ClassificationPerformance(truth, predicted, width > 0 ? &probabilities : nullptr));
  AddPerformance(metrics, evaluation);
  return Status::Ok();
}

}  // namespace

Result<int64_t> ParseTimestamp(const std::string& what, const std::string& text) {
  if (!text.empty() && text.size() <= 15 && text.find_first_not_of("0123456789") == std::string::npos) return std::stoll(text);
  LATHE_ASSIGN_OR_RETURN(auto db, DuckDb::Open());
  auto parsed = db->Query(fmt::format("SELECT epoch_ms(TRY_CAST({} AS TIMESTAMPTZ))", SqlString(text)));
  if (!parsed.ok() || parsed->rows.empty() || !std::holds_alternative<int64_t>(parsed->rows[0][0])) {
    return Status::InvalidParameter(
        fmt::format("{} must be Unix milliseconds or an ISO-8601 time such as 2026-12-02T15:00:00Z, not '{}'", what, text));
  }
  return std::get<int64_t>(parsed->rows[0][0]);
}

json ToJson(const Evaluation& evaluation) {
  json out = {{"monitor", evaluation.monitor},
              {"deployment", evaluation.deployment},
              {"status", evaluation.status},
              {"window_start", FormatIsoUtcMillis(evaluation.window_start)},
              {"window_end", FormatIsoUtcMillis(evaluation.window_end)},
              {"window_start_ms", evaluation.window_start},
              {"window_end_ms", evaluation.window_end},
              {"rows", evaluation.rows},
              {"labeled_rows", evaluation.labeled_rows}};
  if (!evaluation.message.empty()) out["message"] = evaluation.message;
  if (!evaluation.reference.empty()) out["reference"] = evaluation.reference;
  if (evaluation.drift) out["drift"] = ToJson(*evaluation.drift);
  if (!evaluation.drift_error.empty()) out["drift_error"] = evaluation.drift_error;
  if (evaluation.integrity) out["integrity"] = ToJson(*evaluation.integrity);
  if (!evaluation.integrity_error.empty()) out["integrity_error"] = evaluation.integrity_error;
  if (!evaluation.performance.is_null()) out["performance"] = evaluation.performance;
  if (!evaluation.performance_error.empty()) out["performance_error"] = evaluation.performance_error;
  json metrics = json::object();
  for (const auto& [name, value] : evaluation.metrics) metrics[name] = FiniteOrNull(value);
  out["metrics"] = std::move(metrics);
  out["alerts_fired"] = evaluation.alerts_fired;
  return out;
}

MonitorService::MonitorService(storage::Store& store, PredictionLog* log, MonitoringConfig config,
                               MonitorServiceOptions options, RollbackAction rollback)
    : store_(store), log_(log), config_(std::move(config)), options_(std::move(options)), labels_(options_.layout.labels()) {
  actions_ = std::make_unique<ActionRunner>(
      config_.webhooks, config_.commands,
      [rollback](const AlertContext& context) -> Status {
        if (!rollback) return Status::InvalidState("rollback is not available in this process");
        return rollback(context.deployment);
      },
      [this](const DeliveryRecord& record) { RecordDelivery(record); });
}

MonitorService::~MonitorService() { Stop(); }

void MonitorService::Start() {
  bool scheduled = std::any_of(config_.monitors.begin(), config_.monitors.end(),
                               [](const auto& entry) { return entry.second.schedule_ms > 0; });
  if (scheduled && !scheduler_.joinable()) scheduler_ = std::thread([this] { Schedule(); });
}

void MonitorService::Stop() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  if (actions_) actions_->WaitIdle();
}

const MonitorSpec* MonitorService::FindByDeployment(const std::string& deployment) const {
  for (const auto& [name, spec] : config_.monitors) {
    if (spec.deployment == deployment) return &spec;
  }
  return nullptr;
}

Result<Evaluation> MonitorService::Evaluate(const std::string& monitor, std::optional<int64_t> window_end,
                                            bool store_result) {
  auto found = config_.monitors.find(monitor);
  if (found == config_.monitors.end()) {
    std::string names;
    for (const auto& [name, spec] : config_.monitors) names += (names.empty() ? "" : ", ") + name;
    return Status::NotFound(fmt::format("no monitor '{}' (configured: {})", monitor, names.empty() ? "none" : names));
  }
  const MonitorSpec& spec = found->second;
  const int64_t now = NowMillis();
  const bool sliding = spec.last_rows > 0;
  int64_t end = window_end.value_or(sliding ? now : now / spec.window_ms * spec.window_ms);
  int64_t start = sliding ? 0 : end - spec.window_ms;
  if (log_) {
    Status flushed = log_->Flush();
    if (!flushed.ok()) spdlog::warn("prediction log flush before evaluating {}: {}", monitor, flushed.message());
  }
  LATHE_ASSIGN_OR_RETURN(auto evaluation, EvaluateWindow(spec, start, end, sliding));
  if (store_result) {
    json metrics = json::object();
    for (const auto& [name, value] : evaluation.metrics) metrics[name] = FiniteOrNull(value);
    LATHE_RETURN_IF_ERROR(store_.SaveMonitorResult({spec.name, evaluation.window_start, evaluation.window_end, now,
                                                    evaluation.status, metrics.dump(), ToJson(evaluation).dump()}));
    RunAlerts(spec, evaluation);
  }
  return evaluation;
}

Result<Evaluation> MonitorService::EvaluateWindow(const MonitorSpec& spec, int64_t window_start, int64_t window_end,
                                                  bool sliding) {
  Evaluation evaluation;
  evaluation.monitor = spec.name;
  evaluation.deployment = spec.deployment;
  evaluation.window_start = window_start;
  evaluation.window_end = window_end;
  LATHE_ASSIGN_OR_RETURN(auto db, DuckDb::Open());
  LATHE_ASSIGN_OR_RETURN(auto log_sql, PredictionLogSql(options_.layout.predictions(), spec.deployment, window_start,
                                                        sliding ? window_end + 1 : window_end));
  const std::string rows_sql =
      sliding ? fmt::format("(SELECT * FROM {} ORDER BY timestamp_ms DESC LIMIT {})", log_sql, spec.last_rows) : log_sql;
  LATHE_RETURN_IF_ERROR(db->Exec("CREATE TEMP TABLE window_rows AS SELECT * FROM " + rows_sql));
  evaluation.rows = CountOf(*db, "SELECT count(*) FROM window_rows");
  evaluation.metrics["rows"] = static_cast<double>(evaluation.rows);
  if (evaluation.rows == 0) {
    evaluation.status = "no_data";
    evaluation.message = fmt::format("no predictions of deployment '{}' were logged in this window", spec.deployment);
    return evaluation;
  }
  if (sliding) evaluation.window_start = CountOf(*db, "SELECT min(timestamp_ms) FROM window_rows");

  LATHE_RETURN_IF_ERROR(db->Exec(fmt::format(
      "CREATE TEMP TABLE window_labeled AS SELECT w.*, l.label AS {} FROM window_rows w LEFT JOIN {} l "
      "ON CAST(w.prediction_id AS VARCHAR) = l.prediction_id",
      kLabelColumn, LabelsSql(options_.layout.labels(), spec.deployment))));
  evaluation.labeled_rows = CountOf(*db, fmt::format("SELECT count({}) FROM window_labeled", kLabelColumn));
  evaluation.metrics["labeled_rows"] = static_cast<double>(evaluation.labeled_rows);
  evaluation.metrics["label_share"] = static_cast<double>(evaluation.labeled_rows) / static_cast<double>(evaluation.rows);

  LATHE_ASSIGN_OR_RETURN(auto current_columns, Describe(*db, "window_rows"));
  std::string prediction = spec.prediction;
  if (prediction.empty()) {
    for (const auto& [column, type] : current_columns) {
      if (IsOutput(column)) {
        prediction = column;
        break;
      }
    }
  }

  // Reference data: the monitor's file, else the deployment's registered reference.
  std::optional<ColumnTypes> reference_columns;
  std::map<std::string, ColumnKind> reference_kinds;  // the registered reference's; the monitor's own win
  std::string reference_path = spec.reference;
  if (reference_path.empty()) {
    LATHE_ASSIGN_OR_RETURN(auto registered, store_.GetMonitorReference(spec.deployment));
    if (registered) {
      reference_path = registered->path;
      evaluation.reference = fmt::format("version {} ({})", registered->version, registered->source);
      reference_kinds = StoredKinds(registered->kinds);
    }
  } else {
    evaluation.reference = reference_path;
  }
  if (reference_path.empty()) {
    evaluation.drift_error = fmt::format(
        "deployment '{}' has no reference data: register it with `lathe monitor reference` or set 'reference' in the monitor",
        spec.deployment);
  } else {
    Status loaded = LoadFile(*db, "reference_data", reference_path, "reference");
    if (loaded.ok()) {
      LATHE_ASSIGN_OR_RETURN(reference_columns, Describe(*db, "reference_data"));
    } else {
      evaluation.drift_error = loaded.message();
    }
  }

  if (reference_columns) {
    std::vector<std::string> select;
    for (const auto& [column, type] : current_columns) {
      if (IsMeta(column) || IsOutput(column) || column == spec.target || column == spec.reference_prediction) continue;
      select.push_back(fmt::format("{} AS {}", AlignedTo(SqlIdentifier(column), type, TypeOf(*reference_columns, column)),
                                   SqlIdentifier(column)));
    }
    if (!prediction.empty() && TypeOf(*reference_columns, spec.reference_prediction)) {
      if (auto type = TypeOf(current_columns, prediction)) {
        select.push_back(fmt::format("{} AS {}",
                                     AlignedTo(SqlIdentifier(prediction), *type, TypeOf(*reference_columns, spec.reference_prediction)),
                                     SqlIdentifier(spec.reference_prediction)));
      }
    }
    if (evaluation.labeled_rows > 0) {
      if (auto target_type = TypeOf(*reference_columns, spec.target)) {
        const bool numeric = IsIntegerType(*target_type) || IsFloatType(*target_type);
        const std::string label = numeric ? fmt::format("TRY_CAST({} AS DOUBLE)", kLabelColumn) : kLabelColumn;
        select.push_back(fmt::format("{} AS {}", AlignedTo(label, numeric ? "DOUBLE" : "VARCHAR", target_type),
                                     SqlIdentifier(spec.target)));
      }
    }
    std::string list;
    for (const auto& item : select) list += (list.empty() ? "" : ", ") + item;
    Status viewed = db->Exec("CREATE TEMP VIEW current_data AS SELECT " + (list.empty() ? std::string("NULL AS lathe_none") : list) +
                             " FROM window_labeled");
    if (!viewed.ok()) {
      evaluation.drift_error = viewed.message();
    } else {
      DriftReportOptions drift_options = spec.drift;
      drift_options.kinds.insert(reference_kinds.begin(), reference_kinds.end());
      if (drift_options.columns.empty()) {
        // The target drifts only once labels are in; the prediction only when the log has one.
        for (const auto& [column, type] : *reference_columns) {
          if (column == spec.target && evaluation.labeled_rows == 0) continue;
          if (column == spec.reference_prediction && prediction.empty()) continue;
          drift_options.columns.push_back(column);
        }
      }
      auto drift = DriftReportForTables(*db, "reference_data", "current_data", drift_options);
      if (drift.ok()) {
        evaluation.drift = std::move(*drift);
        const auto& report = *evaluation.drift;
        evaluation.metrics["drift_share"] =
            report.tested ? static_cast<double>(report.drifted) / static_cast<double>(report.tested) : 0.0;
        evaluation.metrics["dataset_drift"] = report.dataset_drift ? 1 : 0;
        evaluation.metrics["columns_drifted"] = static_cast<double>(report.drifted);
        for (const auto& column : report.columns) {
          if (!column.drift) continue;
          evaluation.metrics["drift." + column.column] = column.drift->drifted ? 1 : 0;
          evaluation.metrics["drift." + column.column + ".value"] = column.drift->statistic;
        }
      } else {
        evaluation.drift_error = drift.status().message();
      }
    }
  }

  IntegrityOptions integrity_options = spec.integrity;
  integrity_options.kinds.insert(reference_kinds.begin(), reference_kinds.end());
  integrity_options.id_column = "request_id";
  for (const auto& [column, type] : current_columns) {
    if (IsMeta(column) || IsOutput(column)) integrity_options.ignore_columns.push_back(column);
  }
  std::string integrity_reference = "window_rows";
  if (reference_columns) {
    std::string excluded;
    for (const auto& column : {spec.target, spec.reference_prediction}) {
      if (TypeOf(*reference_columns, column)) excluded += (excluded.empty() ? "" : ", ") + SqlIdentifier(column);
    }
    integrity_reference = excluded.empty() ? "reference_data" : fmt::format("(SELECT * EXCLUDE ({}) FROM reference_data)", excluded);
  }
  // The drift report read the same rows (current_data is window_rows joined to labels unique per
  // prediction id; the reference loses only the target and prediction columns, which integrity
  // leaves out). A column current_data casts differs in type, and CheckIntegrity then ignores
  // that column's facts.
  auto integrity = CheckIntegrity(*db, integrity_reference, "window_rows", integrity_options,
                                  evaluation.drift ? &*evaluation.drift : nullptr);
  if (integrity.ok()) {
    evaluation.integrity = std::move(*integrity);
    const auto& report = *evaluation.integrity;
    evaluation.metrics["integrity_violation_share"] = report.violation_share;
    evaluation.metrics["integrity_violations"] = static_cast<double>(report.rows_with_violation);
    evaluation.metrics["integrity_failed_checks"] = static_cast<double>(report.failed);
    for (const auto& check : report.checks) {
      if (check.check != "rule" || !check.error.empty()) continue;
      evaluation.metrics["rule." + check.column + ".violations"] = static_cast<double>(check.violations);
      evaluation.metrics["rule." + check.column + ".share"] = check.share;
    }
  } else {
    evaluation.integrity_error = integrity.status().message();
  }

  if (spec.task != Task::kNone && evaluation.labeled_rows > 0) {
    if (prediction.empty()) {
      evaluation.performance_error = "the log has no prediction column (output_*)";
    } else {
      Status computed = ComputePerformance(*db, spec, prediction, current_columns, evaluation);
      if (!computed.ok()) evaluation.performance_error = computed.message();
    }
  }
  return evaluation;
}

void MonitorService::RunAlerts(const MonitorSpec& spec, Evaluation& evaluation) {
  for (const auto& rule : spec.alerts) {
    auto recent = store_.ListMonitorResults(spec.name, 0, kForever, rule.for_windows);
    if (!recent.ok()) {
      spdlog::warn("monitor {}: cannot read results for alert {}: {}", spec.name, rule.name, recent.status().message());
      continue;
    }
    std::vector<std::map<std::string, double>> windows;
    for (const auto& result : *recent) {
      std::map<std::string, double> metrics;
      auto parsed = json::parse(result.metrics, nullptr, false);
      if (parsed.is_object()) {
        for (const auto& [name, value] : parsed.items()) {
          if (value.is_number()) metrics[name] = value.get<double>();
        }
      }
      windows.push_back(std::move(metrics));
    }
    if (!RuleBreached(rule, windows)) continue;
    const int64_t now = NowMillis();
    auto history = store_.ListMonitorAlerts(spec.name, 1000);
    if (history.ok()) {
      auto last = std::find_if(history->begin(), history->end(), [&](const auto& alert) { return alert.rule == rule.name; });
      if (last != history->end() && !CooldownElapsed(rule, last->fired_at, now)) {
        spdlog::info("monitor {}: alert {} holds but is cooling down (fired {} ms ago)", spec.name, rule.name, now - last->fired_at);
        continue;
      }
    }
    AlertContext context;
    context.alert_id = NewUuidHex();
    context.monitor = spec.name;
    context.deployment = spec.deployment;
    context.rule = rule.name;
    context.metric = rule.metric;
    context.value = windows.back().at(rule.metric);
    context.threshold = rule.threshold;
    context.window_start_ms = evaluation.window_start;
    context.window_end_ms = evaluation.window_end;
    context.fired_at_ms = now;
    context.result = ToJson(evaluation);
    storage::MonitorAlert alert{context.alert_id, spec.name,         rule.name,     now, evaluation.window_start,
                                evaluation.window_end, rule.metric, context.value, rule.threshold,
                                json(rule.actions).dump(), "[]"};
    Status recorded = store_.RecordMonitorAlert({"lathe-monitor", "", "monitor/alert"}, alert);
    if (!recorded.ok()) {
      spdlog::error("monitor {}: cannot record alert {}: {}", spec.name, rule.name, recorded.message());
      continue;
    }
    spdlog::warn("monitor {}: alert {} fired: {} = {} ({} {})", spec.name, rule.name, rule.metric, context.value, rule.op,
                 rule.threshold);
    evaluation.alerts_fired.push_back(rule.name);
    actions_->Dispatch(context, rule.actions);
  }
}

void MonitorService::RecordDelivery(const DeliveryRecord& record) {
  json delivery = {{"action", record.action},
                   {"ok", record.ok},
                   {"attempts", record.attempts},
                   {"detail", record.detail},
                   {"finished_at", FormatIsoUtcMillis(record.finished_at_ms)}};
  Status saved = store_.AddMonitorAlertDelivery(record.alert_id, delivery.dump());
  if (!saved.ok()) spdlog::error("cannot record delivery of alert {}: {}", record.alert_id, saved.message());
  if (!record.ok) spdlog::warn("alert {}: action {} failed after {} attempt(s): {}", record.alert_id, record.action, record.attempts,
                               record.detail);
}

void MonitorService::Schedule() {
  std::map<std::string, int64_t> next_due;
  std::unique_lock lock(wake_mutex_);
  while (!stopping_) {
    lock.unlock();
    const int64_t now = NowMillis();
    for (const auto& [name, spec] : config_.monitors) {
      if (stopping_) break;
      if (spec.schedule_ms <= 0 || now < next_due[name]) continue;
      next_due[name] = now + spec.schedule_ms;
      // Renewed by its holder at every tick and outliving a slow evaluation, so that one replica
      // evaluates a monitor while it lives, and another takes over within a minute of its end.
      auto leased = store_.AcquireMonitorLease(name, options_.holder, now, std::max<int64_t>(2 * spec.schedule_ms, 60000));
      if (!leased.ok() || !*leased) continue;
      std::optional<int64_t> end;
      if (spec.last_rows == 0) {
        end = now / spec.window_ms * spec.window_ms;
        auto done = store_.ListMonitorResults(name, *end - spec.window_ms, *end - spec.window_ms + 1, 1);
        if (done.ok() && !done->empty()) continue;
      }
      auto evaluated = Evaluate(name, end);
      if (!evaluated.ok()) spdlog::error("monitor {}: evaluation failed: {}", name, evaluated.status().message());
    }
    lock.lock();
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_.load(); });
  }
}

Result<json> MonitorService::Results(const std::string& monitor, int64_t from, int64_t to, int64_t limit) {
  if (!config_.monitors.count(monitor)) return Status::NotFound(fmt::format("no monitor '{}'", monitor));
  LATHE_ASSIGN_OR_RETURN(auto results, store_.ListMonitorResults(monitor, from, to, limit));
  json out = json::array();
  for (const auto& result : results) {
    out.push_back({{"window_start", FormatIsoUtcMillis(result.window_start)},
                   {"window_end", FormatIsoUtcMillis(result.window_end)},
                   {"window_start_ms", result.window_start},
                   {"window_end_ms", result.window_end},
                   {"evaluated_at", FormatIsoUtcMillis(result.evaluated_at)},
                   {"status", result.status},
                   {"metrics", json::parse(result.metrics, nullptr, false)}});
  }
  return json{{"monitor", monitor}, {"results", std::move(out)}};
}

Result<json> MonitorService::Alerts(const std::string& monitor, int64_t limit) {
  if (!monitor.empty() && !config_.monitors.count(monitor)) return Status::NotFound(fmt::format("no monitor '{}'", monitor));
  LATHE_ASSIGN_OR_RETURN(auto alerts, store_.ListMonitorAlerts(monitor, limit));
  json out = json::array();
  for (const auto& alert : alerts) {
    out.push_back({{"id", alert.id},
                   {"monitor", alert.monitor},
                   {"rule", alert.rule},
                   {"fired_at", FormatIsoUtcMillis(alert.fired_at)},
                   {"window_start", FormatIsoUtcMillis(alert.window_start)},
                   {"window_end", FormatIsoUtcMillis(alert.window_end)},
                   {"metric", alert.metric},
                   {"value", alert.value},
                   {"threshold", alert.threshold},
                   {"actions", json::parse(alert.actions, nullptr, false)},
                   {"deliveries", json::parse(alert.deliveries, nullptr, false)}});
  }
  return json{{"alerts", std::move(out)}};
}

Result<std::string> MonitorService::HtmlReport(const std::string& monitor, std::optional<int64_t> window_end) {
  LATHE_ASSIGN_OR_RETURN(auto evaluation, Evaluate(monitor, window_end, /*store_result=*/false));
  LATHE_ASSIGN_OR_RETURN(auto history, store_.ListMonitorResults(monitor, 0, kForever, 500));
  HtmlReportInputs inputs;
  inputs.title = fmt::format("Monitor {} (deployment {})", monitor, evaluation.deployment);
  inputs.subtitle = fmt::format("window {} to {}: {} rows, {} labeled; reference: {}", FormatIsoUtcMillis(evaluation.window_start),
                                FormatIsoUtcMillis(evaluation.window_end), evaluation.rows, evaluation.labeled_rows,
                                evaluation.reference.empty() ? "none" : evaluation.reference);
  if (evaluation.drift) inputs.drift = &*evaluation.drift;
  if (evaluation.integrity) inputs.integrity = ToJson(*evaluation.integrity)["checks"];
  inputs.performance = evaluation.performance;
  json over_time = json::array();
  for (const auto& result : history) {
    over_time.push_back({{"window_start", FormatIsoUtcMillis(result.window_start)}, {"metrics", json::parse(result.metrics, nullptr, false)}});
  }
  inputs.performance_over_time = std::move(over_time);
  return RenderHtmlReport(inputs);
}

Result<json> MonitorService::PostLabels(const std::string& deployment, const std::vector<Label>& labels) {
  if (!ValidDeploymentName(deployment)) return Status::InvalidParameter(fmt::format("invalid deployment name '{}'", deployment));
  if (labels.empty()) return Status::InvalidParameter("no labels given");
  if (labels.size() > kMaxLabelsPerPost) {
    return Status::InvalidParameter(fmt::format("{} labels in one batch; the limit is {}", labels.size(), kMaxLabelsPerPost));
  }
  std::vector<std::string> ids;
  ids.reserve(labels.size());
  for (const auto& label : labels) ids.push_back(label.prediction_id);
  if (log_) LATHE_RETURN_IF_ERROR(log_->Flush());
  LATHE_RETURN_IF_ERROR(labels_.Append(deployment, labels, NowMillis()));
  LATHE_ASSIGN_OR_RETURN(auto db, DuckDb::Open());
  LATHE_ASSIGN_OR_RETURN(auto log_sql, PredictionLogSql(options_.layout.predictions(), deployment, 0, kForever));
  LATHE_ASSIGN_OR_RETURN(auto unknown, UnknownPredictionIds(*db, log_sql, ids));
  labels_received_ += labels.size();
  labels_unknown_ += unknown.size();
  json shown = json::array();
  for (size_t i = 0; i < unknown.size() && i < 100; ++i) shown.push_back(unknown[i]);
  return json{{"deployment", deployment},
              {"received", labels.size()},
              {"unknown", unknown.size()},
              {"matched", labels.size() - std::min(labels.size(), unknown.size())},
              {"unknown_ids", std::move(shown)}};
}

Result<storage::MonitorReference> MonitorService::RegisterReference(const storage::WriteContext& context,
                                                                    const std::string& deployment, const std::string& file,
                                                                    const std::string& source,
                                                                    const std::map<std::string, ColumnKind>& kinds) {
  if (!ValidDeploymentName(deployment)) return Status::InvalidParameter(fmt::format("invalid deployment name '{}'", deployment));
  LATHE_ASSIGN_OR_RETURN(auto db, DuckDb::Open());
  LATHE_RETURN_IF_ERROR(LoadFile(*db, "reference_data", file, "reference"));
  const int64_t rows = CountOf(*db, "SELECT count(*) FROM reference_data");
  if (rows == 0) return Status::InvalidParameter(fmt::format("reference file {} has no rows", file));
  LATHE_ASSIGN_OR_RETURN(auto kinds_json, ReferenceKinds(*db, "reference_data", kinds));
  const auto dir = options_.layout.references() / deployment;
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Status::Internal(fmt::format("cannot create {}: {}", dir.string(), error.message()));
  const auto path = dir / (NewUuidHex() + ".parquet");
  const auto temp = dir / (path.filename().string() + ".tmp");
  LATHE_RETURN_IF_ERROR(db->Exec(fmt::format("COPY reference_data TO {} (FORMAT parquet)", SqlString(temp.string()))));
  std::filesystem::rename(temp, path, error);
  if (error) return Status::Internal(fmt::format("cannot move {} into place: {}", path.string(), error.message()));
  storage::MonitorReference reference;
  reference.deployment = deployment;
  reference.path = path.string();
  reference.source = source;
  reference.rows = rows;
  reference.kinds = kinds_json.dump();
  return store_.SaveMonitorReference(context, reference);
}

Result<storage::MonitorReference> MonitorService::Reference(const std::string& deployment) {
  if (!ValidDeploymentName(deployment)) return Status::InvalidParameter(fmt::format("invalid deployment name '{}'", deployment));
  LATHE_ASSIGN_OR_RETURN(auto reference, store_.GetMonitorReference(deployment));
  if (!reference) {
    return Status(ErrorCode::kResourceDoesNotExist,
                  fmt::format("deployment '{}' has no reference data: register it with `lathe monitor reference` or "
                              "PUT /api/lathe/monitor/references/{}",
                              deployment, deployment));
  }
  return std::move(*reference);
}

json MonitorService::Overview() const {
  json monitors = json::array();
  for (const auto& [name, spec] : config_.monitors) {
    json entry = {{"name", name},
                  {"deployment", spec.deployment},
                  {"schedule_ms", spec.schedule_ms},
                  {"alerts", spec.alerts.size()}};
    if (spec.last_rows > 0) entry["last_rows"] = spec.last_rows;
    else entry["window_ms"] = spec.window_ms;
    monitors.push_back(std::move(entry));
  }
  json out = {{"monitors", std::move(monitors)},
              {"labels", {{"received", labels_received_.load()}, {"unknown_prediction_ids", labels_unknown_.load()}}}};
  if (log_) {
    auto stats = log_->stats();
    out["prediction_log"] = {{"enabled", true},
                             {"logged_rows", stats.logged_rows},
                             {"dropped_rows", stats.dropped_rows},
                             {"sampled_out_rows", stats.sampled_out_rows},
                             {"queued_rows", stats.queued_rows},
                             {"invalid_rows", stats.invalid_rows},
                             {"write_errors", stats.write_errors}};
  } else {
    out["prediction_log"] = {{"enabled", false}};
  }
  return out;
}

}  // namespace lathe::monitoring
