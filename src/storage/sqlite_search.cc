// Builds the SQLite queries behind runs/search, experiments/search and the registry searches.
#include "core/json_dump.h"
#include "storage/sqlite_search.h"

#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace lathe::storage {
namespace {

// Appends `column <op> ?` for a text comparison, binding the value.
void TextComparison(const std::string& column, const FilterClause& clause, SqlQuery& query, std::string& out) {
  switch (clause.comparator) {
    case Comparator::kLike:
      out += column + " GLOB ?";
      query.bindings.emplace_back(LikeToGlob(std::get<std::string>(clause.value)));
      return;
    case Comparator::kILike:
      out += column + " LIKE ?";
      query.bindings.emplace_back(std::get<std::string>(clause.value));
      return;
    case Comparator::kIn:
    case Comparator::kNotIn:
      out += column + (clause.comparator == Comparator::kIn ? " IN" : " NOT IN") + " (SELECT value FROM json_each(?))";
      query.bindings.emplace_back(DumpJson(nlohmann::json(std::get<std::vector<std::string>>(clause.value))));
      return;
    default:
      out += column + " " + std::string(ComparatorSymbol(clause.comparator)) + " ?";
      query.bindings.emplace_back(std::get<std::string>(clause.value));
  }
}

void NumericComparison(const std::string& column, const FilterClause& clause, SqlQuery& query, std::string& out) {
  out += column + " " + std::string(ComparatorSymbol(clause.comparator)) + " ?";
  query.bindings.emplace_back(std::get<double>(clause.value));
}

std::string LifecycleCondition(ViewType view, const std::string& column) {
  switch (view) {
    case ViewType::kActiveOnly: return column + " = 'active'";
    case ViewType::kDeletedOnly: return column + " = 'deleted'";
    case ViewType::kAll: return column + " IN ('active', 'deleted')";
  }
  return "1";
}

void AppendPaging(int64_t max_results, int64_t offset, SqlQuery& query) {
  query.sql += " LIMIT ? OFFSET ?";
  query.bindings.emplace_back(max_results);
  query.bindings.emplace_back(offset);
}

// One filter clause on a run. Side-table clauses are correlated EXISTS probes of the table's
// (run_uuid, key) primary key: cheap per candidate run, whatever the clause's selectivity.
Status RunClauseSql(const FilterClause& clause, SqlQuery& query, std::string& out) {
  switch (clause.entity) {
    case Entity::kMetric: {
      out += "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = runs.run_uuid AND m.key = ? AND ";
      query.bindings.emplace_back(clause.key);
      // A NaN differs from every number and compares true with none.
      if (clause.comparator == Comparator::kNe) {
        out += "(m.is_nan = 1 OR m.value != ?))";
        query.bindings.emplace_back(std::get<double>(clause.value));
      } else {
        out += "m.is_nan = 0 AND ";
        NumericComparison("m.value", clause, query, out);
        out += ")";
      }
      return Status::Ok();
    }
    case Entity::kParam:
    case Entity::kTag: {
      out += fmt::format("EXISTS (SELECT 1 FROM {} p WHERE p.run_uuid = runs.run_uuid AND p.key = ? AND ",
                         clause.entity == Entity::kParam ? "params" : "tags");
      query.bindings.emplace_back(clause.key);
      TextComparison("p.value", clause, query, out);
      out += ")";
      return Status::Ok();
    }
    case Entity::kDataset: {
      if (clause.key == "context") {
        out += "runs.run_uuid IN (SELECT run_uuid FROM run_input_tags WHERE key = 'mlflow.data.context' AND ";
        TextComparison("value", clause, query, out);
      } else {
        out += "runs.run_uuid IN (SELECT i.run_uuid FROM run_inputs i JOIN datasets d ON d.dataset_uuid = "
               "i.dataset_uuid WHERE ";
        TextComparison("d." + clause.key, clause, query, out);
      }
      out += ")";
      return Status::Ok();
    }
    case Entity::kAttribute: {
      static const std::map<std::string, std::string> kColumns = {
          {"run_id", "runs.run_uuid"},        {"run_name", "runs.name"},        {"user_id", "runs.user_id"},
          {"status", "runs.status"},          {"artifact_uri", "runs.artifact_uri"},
          {"start_time", "runs.start_time"},  {"end_time", "runs.end_time"}};
      auto column = kColumns.find(clause.key);
      if (column == kColumns.end()) return Status::InvalidParameter("Invalid attribute key '" + clause.key + "'");
      if (std::holds_alternative<double>(clause.value)) {
        NumericComparison(column->second, clause, query, out);
      } else {
        TextComparison(column->second, clause, query, out);
      }
      return Status::Ok();
    }
  }
  return Status::Ok();
}

// The clause whose (key, value) index should produce the candidate runs: an equality on a param
// or tag (usually the most selective), else a metric comparison, else none (scan the
// experiments' runs). SQLite keeps no statistics here, so it cannot tell on its own.
const FilterClause* DrivingClause(const std::vector<FilterClause>& filter) {
  for (const auto& clause : filter) {
    if ((clause.entity == Entity::kParam || clause.entity == Entity::kTag) && clause.comparator == Comparator::kEq) {
      return &clause;
    }
  }
  for (const auto& clause : filter) {
    if (clause.entity == Entity::kMetric && clause.comparator != Comparator::kNe) return &clause;
  }
  return nullptr;
}

// Appends ORDER BY for the given clauses over `columns`, then each tie-breaker whose column the
// clauses did not already order by.
Status AppendOrderBy(const std::vector<OrderClause>& order_by, const std::map<std::string, std::string>& columns,
                     const std::vector<std::pair<std::string, std::string>>& tie_breakers, SqlQuery& query) {
  std::string order;
  std::set<std::string> ordered;
  for (const auto& clause : order_by) {
    auto column = columns.find(clause.key);
    if (column == columns.end()) return Status::InvalidParameter("Invalid order_by key '" + clause.key + "'");
    if (!order.empty()) order += ", ";
    order += column->second + (clause.ascending ? " ASC" : " DESC");
    ordered.insert(clause.key);
  }
  for (const auto& [key, term] : tie_breakers) {
    if (ordered.contains(key)) continue;
    if (!order.empty()) order += ", ";
    order += term;
  }
  query.sql += " ORDER BY " + order;
  return Status::Ok();
}

}  // namespace

std::string LikeToGlob(std::string_view like) {
  std::string glob;
  for (char c : like) {
    switch (c) {
      case '%': glob += '*'; break;
      case '_': glob += '?'; break;
      case '*': glob += "[*]"; break;
      case '?': glob += "[?]"; break;
      case '[': glob += "[[]"; break;
      default: glob += c;
    }
  }
  return glob;
}

Result<SqlQuery> BuildRunSearchSql(const RunSearch& search) {
  SqlQuery query;
  std::string joins;
  std::string order;
  // Ordering by a metric, param or tag joins its row once; runs without it sort last, and NaN
  // metrics after every number, in either direction (as MLflow does).
  int join_index = 0;
  for (const auto& clause : search.order_by) {
    std::string direction = clause.ascending ? "ASC" : "DESC";
    if (!order.empty()) order += ", ";
    if (clause.entity == Entity::kAttribute) {
      static const std::map<std::string, std::string> kColumns = {
          {"run_id", "runs.run_uuid"},     {"run_name", "runs.name"},           {"user_id", "runs.user_id"},
          {"status", "runs.status"},       {"artifact_uri", "runs.artifact_uri"}, {"start_time", "runs.start_time"},
          {"end_time", "runs.end_time"},   {"experiment_id", "runs.experiment_id"},
          {"lifecycle_stage", "runs.lifecycle_stage"}};
      auto column = kColumns.find(clause.key);
      if (column == kColumns.end()) return Status::InvalidParameter("Invalid order_by attribute '" + clause.key + "'");
      order += fmt::format("({} IS NULL), {} {}", column->second, column->second, direction);
      continue;
    }
    std::string alias = fmt::format("o{}", join_index++);
    std::string table = clause.entity == Entity::kMetric ? "latest_metrics" : clause.entity == Entity::kParam ? "params" : "tags";
    joins += fmt::format(" LEFT JOIN {} AS {} ON {}.run_uuid = runs.run_uuid AND {}.key = ?", table, alias, alias, alias);
    query.bindings.emplace_back(clause.key);
    if (clause.entity == Entity::kMetric) {
      order += fmt::format("CASE WHEN {0}.run_uuid IS NULL THEN 2 WHEN {0}.is_nan THEN 1 ELSE 0 END, {0}.value {1}",
                           alias, direction);
    } else {
      order += fmt::format("({0}.run_uuid IS NULL), {0}.value {1}", alias, direction);
    }
  }
  // The driving clause's table comes first (CROSS JOIN fixes the order); its conditions are
  // bound before the joins' keys because they appear first in the SQL text.
  const FilterClause* driving = DrivingClause(search.filter);
  std::string from = "runs";
  std::vector<SqlValue> driving_bindings;
  if (driving != nullptr) {
    SqlQuery driving_query;
    std::string condition;
    if (driving->entity == Entity::kMetric) {
      from = "latest_metrics AS d CROSS JOIN runs ON runs.run_uuid = d.run_uuid";
      condition = "d.key = ? AND d.is_nan = 0 AND ";
      driving_query.bindings.emplace_back(driving->key);
      NumericComparison("d.value", *driving, driving_query, condition);
    } else {
      from = std::string(driving->entity == Entity::kParam ? "params" : "tags") +
             " AS d CROSS JOIN runs ON runs.run_uuid = d.run_uuid AND d.key = ? AND d.value = ?";
      driving_query.bindings.emplace_back(driving->key);
      driving_query.bindings.emplace_back(std::get<std::string>(driving->value));
    }
    if (!condition.empty()) from += " AND " + condition;
    driving_bindings = std::move(driving_query.bindings);
  }
  query.bindings.insert(query.bindings.begin(), driving_bindings.begin(), driving_bindings.end());
  query.sql = "SELECT runs.run_uuid FROM " + from + joins +
              " WHERE runs.experiment_id IN (SELECT value FROM json_each(?))";
  query.bindings.emplace_back(DumpJson(nlohmann::json(search.experiment_ids)));
  query.sql += " AND " + LifecycleCondition(search.view, "runs.lifecycle_stage");
  for (const auto& clause : search.filter) {
    if (&clause == driving) continue;
    query.sql += " AND ";
    LATHE_RETURN_IF_ERROR(RunClauseSql(clause, query, query.sql));
  }
  query.sql += " ORDER BY " + (order.empty() ? std::string() : order + ", ") + "runs.start_time DESC, runs.run_uuid";
  AppendPaging(search.max_results, search.offset, query);
  return query;
}

Result<SqlQuery> BuildExperimentSearchSql(const ExperimentSearch& search) {
  SqlQuery query;
  query.sql = "SELECT experiments.experiment_id FROM experiments WHERE " +
              LifecycleCondition(search.view, "experiments.lifecycle_stage");
  for (const auto& clause : search.filter) {
    query.sql += " AND ";
    if (clause.entity == Entity::kTag) {
      query.sql += "experiments.experiment_id IN (SELECT experiment_id FROM experiment_tags WHERE key = ? AND ";
      query.bindings.emplace_back(clause.key);
      TextComparison("value", clause, query, query.sql);
      query.sql += ")";
    } else if (std::holds_alternative<double>(clause.value)) {
      NumericComparison("experiments." + clause.key, clause, query, query.sql);
    } else {
      TextComparison("experiments." + clause.key, clause, query, query.sql);
    }
  }
  std::string order;
  bool has_id = false;
  for (const auto& clause : search.order_by) {
    if (!order.empty()) order += ", ";
    order += fmt::format("experiments.{} {}", clause.key, clause.ascending ? "ASC" : "DESC");
    has_id = has_id || clause.key == "experiment_id";
  }
  if (search.order_by.empty()) {
    order = "experiments.creation_time DESC, experiments.experiment_id ASC";
  } else if (!has_id) {
    order += ", experiments.experiment_id DESC";
  }
  query.sql += " ORDER BY " + order;
  AppendPaging(search.max_results, search.offset, query);
  return query;
}

Result<SqlQuery> BuildRegisteredModelSearchSql(const RegisteredModelSearch& search) {
  SqlQuery query;
  query.sql = "SELECT registered_models.name FROM registered_models WHERE 1";
  for (const auto& clause : search.filter) {
    query.sql += " AND ";
    if (clause.entity == Entity::kTag) {
      query.sql += "registered_models.name IN (SELECT name FROM registered_model_tags WHERE key = ? AND ";
      query.bindings.emplace_back(clause.key);
      TextComparison("value", clause, query, query.sql);
      query.sql += ")";
    } else {
      TextComparison("registered_models.name", clause, query, query.sql);
    }
  }
  static const std::map<std::string, std::string> kColumns = {
      {"name", "registered_models.name"},
      {"creation_timestamp", "registered_models.creation_time"},
      {"last_updated_timestamp", "registered_models.last_updated_time"}};
  LATHE_RETURN_IF_ERROR(AppendOrderBy(search.order_by, kColumns, {{"name", "registered_models.name ASC"}}, query));
  AppendPaging(search.max_results, search.offset, query);
  return query;
}

Result<SqlQuery> BuildModelVersionSearchSql(const ModelVersionSearch& search) {
  SqlQuery query;
  query.sql = "SELECT model_versions.name, model_versions.version FROM model_versions WHERE 1";
  static const std::map<std::string, std::string> kColumns = {
      {"name", "model_versions.name"},
      {"run_id", "model_versions.run_id"},
      {"source_path", "model_versions.source"},
      {"version_number", "model_versions.version"},
      {"creation_timestamp", "model_versions.creation_time"},
      {"last_updated_timestamp", "model_versions.last_updated_time"}};
  for (const auto& clause : search.filter) {
    query.sql += " AND ";
    if (clause.entity == Entity::kTag) {
      query.sql += "(model_versions.name, model_versions.version) IN (SELECT name, version FROM model_version_tags "
                   "WHERE key = ? AND ";
      query.bindings.emplace_back(clause.key);
      TextComparison("value", clause, query, query.sql);
      query.sql += ")";
      continue;
    }
    auto column = kColumns.find(clause.key);
    if (column == kColumns.end()) return Status::InvalidParameter("Invalid attribute key '" + clause.key + "'");
    if (std::holds_alternative<double>(clause.value)) {
      NumericComparison(column->second, clause, query, query.sql);
    } else {
      TextComparison(column->second, clause, query, query.sql);
    }
  }
  LATHE_RETURN_IF_ERROR(AppendOrderBy(
      search.order_by, kColumns,
      {{"name", "model_versions.name ASC"}, {"version_number", "model_versions.version DESC"}}, query));
  AppendPaging(search.max_results, search.offset, query);
  return query;
}

}  // namespace lathe::storage
