// The point-in-time join, following Feast's semantics: for an entity row at T, each view takes its
// latest source row for that entity with T - ttl <= event time <= T, ties on the event time going
// to the latest created time. DuckDB's ASOF LEFT JOIN finds the latest row at or before T; the TTL
// then nulls values that are too old, which is the same as bounding the search below.
#include "features/offline.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace lathe::features {

namespace {

struct Column {
  std::string name;
  std::string type;
};

Result<std::vector<Column>> DescribeTable(DuckDb& db, const std::string& table) {
  LATHE_ASSIGN_OR_RETURN(auto result, db.Query("DESCRIBE " + SqlIdentifier(table)));
  std::vector<Column> columns;
  for (const auto& row : result.rows) columns.push_back({std::get<std::string>(row[0]), std::get<std::string>(row[1])});
  return columns;
}

// Case-insensitive, as DuckDB resolves the names in the generated SQL.
const Column* Find(const std::vector<Column>& columns, const std::string& name) {
  for (const auto& column : columns) {
    if (column.name.size() == name.size() &&
        std::equal(column.name.begin(), column.name.end(), name.begin(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); })) {
      return &column;
    }
  }
  return nullptr;
}

// A feature the join must produce, requested or needed by an on-demand feature.
struct Joined {
  FeatureRef ref;
  std::string column;  // internal column name
};

}  // namespace

Result<std::string> PrepareHistorical(const FeatureRepo& repo, DuckDb& db, const HistoricalRequest& request) {
  // Which view features to join, and the on-demand views to compute, in dependency order.
  std::vector<Joined> joined;
  std::map<std::string, std::string> column_of;  // "view:feature" -> internal column
  std::vector<const OnDemandView*> on_demand;
  std::function<void(const FeatureRef&)> need = [&](const FeatureRef& ref) {
    if (column_of.count(ref.Name())) return;
    if (const OnDemandView* view = repo.FindOnDemandView(ref.view)) {
      for (const auto& input : view->inputs) need({input.substr(0, input.find(':')), input.substr(input.find(':') + 1)});
      if (std::find(on_demand.begin(), on_demand.end(), view) == on_demand.end()) on_demand.push_back(view);
      for (const auto& feature : view->features) {
        column_of[view->name + ":" + feature.name] = fmt::format("__od{}_{}", on_demand.size() - 1, feature.name);
      }
      return;
    }
    std::string column = fmt::format("__j{}", joined.size());
    joined.push_back({ref, column});
    column_of[ref.Name()] = column;
  };
  for (const auto& ref : request.features) need(ref);

  std::vector<std::string> views;
  for (const auto& item : joined) {
    if (std::find(views.begin(), views.end(), item.ref.view) == views.end()) views.push_back(item.ref.view);
  }

  // The entity rows, in a table whose rowid keeps their input order.
  std::string entity_table = request.entity_table;
  std::string ts_column = request.timestamp_column;
  if (!request.entities_path.empty()) {
    if (!std::filesystem::exists(request.entities_path)) {
      return Status::InvalidParameter(fmt::format("entity file {} does not exist", request.entities_path));
    }
    LATHE_ASSIGN_OR_RETURN(auto reader, ReadFileSql(request.entities_path));
    Status loaded = db.Exec("CREATE OR REPLACE TEMP TABLE __entity_rows AS SELECT * FROM " + reader);
    if (!loaded.ok()) return Status::InvalidParameter(fmt::format("cannot read entity file {}: {}", request.entities_path, loaded.message()));
    entity_table = "__entity_rows";
  } else if (entity_table.empty()) {
    if (!request.start_micros || !request.end_micros) {
      return Status::InvalidParameter("give entity rows, or a time range (start and end)");
    }
    // Every entity at each of its source events in the range; the views must share their keys.
    std::vector<Field> keys;
    std::string unions;
    for (const auto& name : views) {
      const FeatureView& view = *repo.FindView(name);
      auto view_keys = repo.JoinKeys(view);
      if (unions.empty()) {
        keys = view_keys;
      } else if (view_keys.size() != keys.size() ||
                 !std::equal(keys.begin(), keys.end(), view_keys.begin(), [](const Field& a, const Field& b) { return a.name == b.name; })) {
        return Status::InvalidParameter(fmt::format(
            "retrieval over a time range needs views with the same entities; '{}' differs from '{}'", name, views.front()));
      }
      std::string key_list, not_null;
      for (const auto& key : keys) {
        key_list += SqlIdentifier(key.name) + ", ";
        not_null += SqlIdentifier(key.name) + " IS NOT NULL AND ";
      }
      unions += fmt::format("{}SELECT DISTINCT {}__event_ts AS event_timestamp FROM ({}) WHERE {}__event_ts BETWEEN CAST(make_timestamp(CAST({} AS BIGINT)) AS TIMESTAMPTZ) AND CAST(make_timestamp(CAST({} AS BIGINT)) AS TIMESTAMPTZ)",
                            unions.empty() ? "" : " UNION ", key_list, ViewRowsSql(repo, view, {view.features.front().name}), not_null,
                            *request.start_micros, *request.end_micros);
    }
    if (unions.empty()) return Status::InvalidParameter("a time range needs at least one feature of a feature view");
    std::string order;
    for (const auto& key : keys) order += SqlIdentifier(key.name) + ", ";
    LATHE_RETURN_IF_ERROR(db.Exec(fmt::format("CREATE OR REPLACE TEMP TABLE __entity_rows AS SELECT * FROM ({}) ORDER BY {}event_timestamp", unions, order)));
    entity_table = "__entity_rows";
    ts_column = "event_timestamp";
  }
  LATHE_ASSIGN_OR_RETURN(auto columns, DescribeTable(db, entity_table));

  // Entity columns: the timestamp, each view's join keys, each on-demand view's request fields.
  const Column* ts = Find(columns, ts_column);
  if (!ts) return Status::InvalidParameter(fmt::format("the entity rows have no timestamp column '{}'", ts_column));
  std::string ts_kind = FeatureTypeOf(ts->type);
  if (ts_kind != "timestamp" && ts_kind != "date" && ts->type != "VARCHAR") {
    return Status::InvalidParameter(fmt::format("entity column '{}' is {}, not a timestamp", ts_column, ts->type));
  }
  for (const auto& name : views) {
    for (const auto& key : repo.JoinKeys(*repo.FindView(name))) {
      const Column* column = Find(columns, key.name);
      if (!column) {
        return Status::InvalidParameter(fmt::format("the entity rows have no column '{}', the join key of feature view '{}'", key.name, name));
      }
      std::string kind = FeatureTypeOf(column->type);
      if (kind != key.type) {
        return Status::InvalidParameter(fmt::format("entity column '{}' is {}, but join key '{}' of feature view '{}' is {}",
                                                    key.name, column->type, key.name, name, key.type));
      }
    }
  }
  for (const auto* view : on_demand) {
    for (const auto& field : view->request_fields) {
      if (!Find(columns, field.name)) {
        return Status::InvalidParameter(fmt::format("the entity rows have no column '{}', a request field of on-demand view '{}'",
                                                    field.name, view->name));
      }
    }
  }

  std::string sql = "WITH __e AS (SELECT *, " + EntityOrderSql("__entity_ts") + " AS __entity_order FROM (SELECT *, rowid AS __row, CAST(" +
                    SqlIdentifier(ts_column) + " AS TIMESTAMPTZ) AS __entity_ts FROM " + SqlIdentifier(entity_table) + "))";
  for (size_t v = 0; v < views.size(); ++v) {
    const FeatureView& view = *repo.FindView(views[v]);
    std::string partition, not_null;
    for (const auto& key : repo.JoinKeys(view)) {
      partition += SqlIdentifier(key.name) + ", ";
      not_null += SqlIdentifier(key.name) + " IS NOT NULL AND ";
    }
    if (repo.FindSource(view.source)->created_timestamp_field.empty()) {
      // Ties are settled by the join key itself (EventOrderSql): no de-duplication pass.
      sql += fmt::format(", __v{} AS (SELECT *, {} AS __order FROM ({}) WHERE {}__event_ts IS NOT NULL)", v,
                         EventOrderSql(view), ViewRowsSql(repo, view), not_null);
    } else {
      sql += fmt::format(", __v{} AS (SELECT * FROM ({}) WHERE {}__event_ts IS NOT NULL "
                         "QUALIFY row_number() OVER (PARTITION BY {}__event_ts ORDER BY {}) = 1)",
                         v, ViewRowsSql(repo, view), not_null, partition, TieBreakSql(repo, view));
    }
  }
  std::string select = "SELECT __e.*";
  std::string from = " FROM __e";
  for (size_t v = 0; v < views.size(); ++v) {
    const FeatureView& view = *repo.FindView(views[v]);
    std::string on;
    for (const auto& key : repo.JoinKeys(view)) on += fmt::format("__e.{0} = __v{1}.{0} AND ", SqlIdentifier(key.name), v);
    if (repo.FindSource(view.source)->created_timestamp_field.empty()) {
      from += fmt::format(" ASOF LEFT JOIN __v{0} ON {1}__e.__entity_order >= __v{0}.__order", v, on);
    } else {
      from += fmt::format(" ASOF LEFT JOIN __v{0} ON {1}__e.__entity_ts >= __v{0}.__event_ts", v, on);
    }
    for (const auto& item : joined) {
      if (item.ref.view != view.name) continue;
      if (view.ttl_seconds > 0) {
        select += fmt::format(", CASE WHEN __v{0}.__event_ts >= __e.__entity_ts - to_seconds({1}) THEN __v{0}.{2} END AS {3}", v,
                              view.ttl_seconds, SqlIdentifier(item.ref.feature), item.column);
      } else {
        select += fmt::format(", __v{}.{} AS {}", v, SqlIdentifier(item.ref.feature), item.column);
      }
    }
  }
  std::string query = select + from;
  // On-demand features over the joined row: request fields and inputs under their own names.
  for (size_t i = 0; i < on_demand.size(); ++i) {
    const OnDemandView& view = *on_demand[i];
    std::string inputs;
    for (const auto& field : view.request_fields) {
      inputs += fmt::format("{}CAST(__t.{} AS {}) AS {}", inputs.empty() ? "" : ", ", SqlIdentifier(field.name),
                            DuckDbTypeFor(field.type), SqlIdentifier(field.name));
    }
    for (const auto& input : view.inputs) {
      std::string feature = input.substr(input.find(':') + 1);
      inputs += fmt::format("{}__t.{} AS {}", inputs.empty() ? "" : ", ", column_of.at(input), SqlIdentifier(feature));
    }
    std::string computed;
    for (const auto& feature : view.features) {
      computed += fmt::format(", (SELECT CAST(({}) AS {}) FROM (SELECT {})) AS {}", feature.expression, DuckDbTypeFor(feature.type),
                              inputs, column_of.at(view.name + ":" + feature.name));
    }
    query = fmt::format("SELECT __t.*{} FROM ({}) AS __t", computed, query);
  }

  std::string output;
  std::set<std::string> names;
  for (const auto& column : columns) {
    output += (output.empty() ? "" : ", ") + SqlIdentifier(column.name);
    names.insert(column.name);
  }
  for (const auto& ref : request.features) {
    std::string name = request.full_feature_names ? ref.view + "__" + ref.feature : ref.feature;
    if (!names.insert(name).second) {
      return Status::InvalidParameter(fmt::format(
          "output column '{}' would appear twice (an entity column or another view's feature has that name): use full feature names",
          name));
    }
    output += fmt::format(", {} AS {}", column_of.at(ref.Name()), SqlIdentifier(name));
  }
  return fmt::format("{} SELECT {} FROM ({}) ORDER BY __row", sql, output, query);
}

Result<int64_t> WriteHistorical(const FeatureRepo& repo, DuckDb& db, const HistoricalRequest& request, const std::string& out,
                                const std::string& repo_hash) {
  std::string format = FileFormat(out);
  if (format.empty()) return Status::InvalidParameter(fmt::format("cannot tell the format of {}: use .csv, .parquet or .json", out));
  LATHE_ASSIGN_OR_RETURN(auto query, PrepareHistorical(repo, db, request));
  std::string temporary = out + ".tmp";
  std::string options;
  if (format == "parquet") {
    options = fmt::format("FORMAT PARQUET, KV_METADATA {{'lathe.feature_repo_hash': {}}}", SqlString(repo_hash));
  } else if (format == "csv") {
    options = "FORMAT CSV, HEADER";
  } else {
    options = "FORMAT JSON";
  }
  auto copied = db.Query(fmt::format("COPY ({}) TO {} ({})", query, SqlString(temporary), options));
  if (!copied.ok()) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    return copied.status();
  }
  int64_t rows = copied->rows.empty() ? 0 : std::get<int64_t>(copied->rows[0][0]);
  std::error_code error;
  if (format != "parquet") {
    nlohmann::json meta = {{"feature_repo_hash", repo_hash}, {"rows", rows}, {"features", nlohmann::json::array()}};
    for (const auto& ref : request.features) meta["features"].push_back(ref.Name());
    std::ofstream file(out + ".meta.json", std::ios::trunc);
    file << meta.dump(2) << "\n";
    if (!file) return Status::Internal(fmt::format("cannot write {}.meta.json", out));
  }
  std::filesystem::rename(temporary, out, error);
  if (error) return Status::Internal(fmt::format("cannot move {} to {}: {}", temporary, out, error.message()));
  return rows;
}

}  // namespace lathe::features
