#include "features/materialize.h"

#include <fmt/format.h>

#include "core/ids.h"

namespace lathe::features {

Result<int64_t> ParseTimestamp(DuckDb& db, const std::string& text) {
  auto parsed = db.Query("SELECT epoch_us(CAST(" + SqlString(text) + " AS TIMESTAMPTZ))");
  if (!parsed.ok()) {
    return Status::InvalidParameter(fmt::format("invalid timestamp '{}': expected e.g. 2024-01-31 or 2024-01-31T12:00:00Z", text));
  }
  return std::get<int64_t>(parsed->rows.at(0).at(0));
}

Result<std::vector<ViewMaterialization>> Materialize(const FeatureRepo& repo, const std::string& repo_hash, DuckDb& db,
                                                     OnlineStore& store, const MaterializeRequest& request,
                                                     const MaterializeProgress& progress) {
  std::vector<const FeatureView*> views;
  if (request.views.empty()) {
    for (const auto& view : repo.views) views.push_back(&view);
  } else {
    for (const auto& name : request.views) {
      const FeatureView* view = repo.FindView(name);
      if (!view) return Status::NotFound(fmt::format("unknown feature view '{}'", name));
      views.push_back(view);
    }
  }
  if (views.empty()) return Status::InvalidParameter("the repository has no feature views to materialise");
  if (!request.incremental && request.start_micros > request.end_micros) {
    return Status::InvalidParameter("the start of the range is after its end");
  }

  std::string run_id = NewUuidHex();
  LATHE_ASSIGN_OR_RETURN(auto run, store.BeginRun(run_id));
  std::vector<ViewMaterialization> report;
  for (size_t v = 0; v < views.size(); ++v) {
    const FeatureView& view = *views[v];
    ViewMaterialization done{view.name, request.start_micros, request.end_micros, 0};
    if (request.incremental) {
      LATHE_ASSIGN_OR_RETURN(auto state, store.GetViewState(view.name));
      done.start_micros = state ? state->materialized_until_micros : kBeginningOfTime;
      if (done.start_micros > done.end_micros) done.start_micros = done.end_micros;
    }
    auto keys = repo.JoinKeys(view);
    std::string partition, not_null, payload;
    for (const auto& key : keys) {
      partition += (partition.empty() ? "" : ", ") + SqlIdentifier(key.name);
      not_null += SqlIdentifier(key.name) + " IS NOT NULL AND ";
    }
    for (const auto& feature : view.features) {
      payload += fmt::format("{}{} := {}", payload.empty() ? "" : ", ", SqlIdentifier(feature.name), SqlIdentifier(feature.name));
    }
    // The window features see every source row; only the rows in range are candidates.
    std::string sql = fmt::format(
        "SELECT {} AS __key, epoch_us(__event_ts) AS __micros, CAST(to_json(struct_pack({})) AS VARCHAR) AS __payload "
        "FROM ({}) WHERE {}__event_ts BETWEEN CAST(make_timestamp(CAST({} AS BIGINT)) AS TIMESTAMPTZ) AND CAST(make_timestamp(CAST({} AS BIGINT)) AS TIMESTAMPTZ) "
        "QUALIFY row_number() OVER (PARTITION BY {} ORDER BY __event_ts DESC, {}) = 1",
        EntityKeySql(keys), payload, ViewRowsSql(repo, view), not_null, done.start_micros, done.end_micros, partition,
        TieBreakSql(repo, view));
    std::vector<OnlineRow> batch;
    batch.reserve(4096);
    auto flush = [&]() -> Status {
      LATHE_RETURN_IF_ERROR(run->Write(view.name, batch));
      done.rows += static_cast<int64_t>(batch.size());
      batch.clear();
      if (progress) progress(v, views.size(), done.rows);
      return Status::Ok();
    };
    Status status = db.ForEachRow(sql, {"__key", "__micros", "__payload"}, [&](const std::vector<Cell>& row) -> Status {
      batch.push_back({std::get<std::string>(row[0]), std::get<int64_t>(row[1]), std::get<std::string>(row[2])});
      return batch.size() == 4096 ? flush() : Status::Ok();
    });
    if (status.ok()) status = flush();
    if (!status.ok()) return Status(status.code(), fmt::format("feature view '{}': {}", view.name, status.message()));
    LATHE_ASSIGN_OR_RETURN(auto previous, store.GetViewState(view.name));
    ViewState state{repo_hash, run_id, std::max(done.end_micros, previous ? previous->materialized_until_micros : done.end_micros), 0};
    LATHE_RETURN_IF_ERROR(run->SetViewState(view.name, state));
    report.push_back(done);
    if (progress) progress(v + 1, views.size(), done.rows);
  }
  LATHE_RETURN_IF_ERROR(run->Commit());
  return report;
}

}  // namespace lathe::features
