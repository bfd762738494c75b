// Monitoring's part of the SQLite store: results, leases, alerts and reference data.
#include <fmt/format.h>

#include "core/clock.h"
#include "storage/sqlite_store.h"

namespace lathe::storage {
namespace {

// Results, leases and deliveries are the monitor's own bookkeeping, not user actions: no audit row.
const WriteContext kMonitorContext{"lathe-monitor", "", "monitor/evaluate"};

MonitorAlert ReadAlert(SqliteStatement& select) {
  return MonitorAlert{select.Text(0),  select.Text(1),   select.Text(2),   select.Int64(3),
                      select.Int64(4), select.Int64(5),  select.Text(6),   select.IsNull(7) ? 0.0 : select.Double(7),
                      select.IsNull(8) ? 0.0 : select.Double(8), select.Text(9), select.Text(10)};
}

Result<std::optional<MonitorReference>> LatestReference(SqliteConnection& db, const std::string& deployment) {
  LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(
      "SELECT deployment, version, path, source, rows, kinds, created_at, actor FROM monitor_references "
      "WHERE deployment = ? ORDER BY version DESC LIMIT 1"));
  select->Bind({deployment});
  LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
  if (!row) return std::optional<MonitorReference>();
  return std::optional<MonitorReference>(MonitorReference{select->Text(0), select->Int64(1), select->Text(2), select->Text(3),
                                                          select->Int64(4), select->Text(5), select->Int64(6), select->Text(7)});
}

}  // namespace

Status SqliteStore::SaveMonitorResult(const MonitorResult& result) {
  return Write(kMonitorContext, [&](WriteTx& tx) -> Status {
    LATHE_ASSIGN_OR_RETURN(auto* insert, tx.db().Prepare(
        "INSERT OR REPLACE INTO monitor_results(monitor, window_start, window_end, evaluated_at, status, metrics, result) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"));
    insert->Bind({result.monitor, result.window_start, result.window_end, result.evaluated_at, result.status, result.metrics,
                  result.result});
    return insert->Run();
  });
}

Result<std::vector<MonitorResult>> SqliteStore::ListMonitorResults(const std::string& monitor, int64_t from, int64_t to,
                                                                   int64_t limit) {
  return Read<std::vector<MonitorResult>>([&](SqliteConnection& db) -> Result<std::vector<MonitorResult>> {
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(
        "SELECT monitor, window_start, window_end, evaluated_at, status, metrics, result FROM ("
        "  SELECT * FROM monitor_results WHERE monitor = ? AND window_start >= ? AND window_start < ? "
        "  ORDER BY window_start DESC, window_end DESC LIMIT ?) ORDER BY window_start, window_end"));
    select->Bind({monitor, from, to, limit});
    std::vector<MonitorResult> results;
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      results.push_back({select->Text(0), select->Int64(1), select->Int64(2), select->Int64(3), select->Text(4),
                         select->Text(5), select->Text(6)});
    }
    return results;
  });
}

Result<bool> SqliteStore::AcquireMonitorLease(const std::string& monitor, const std::string& holder, int64_t now,
                                              int64_t ttl) {
  bool acquired = false;
  LATHE_RETURN_IF_ERROR(Write(kMonitorContext, [&](WriteTx& tx) -> Status {
    LATHE_ASSIGN_OR_RETURN(auto* upsert, tx.db().Prepare(
        "INSERT INTO monitor_leases(monitor, holder, expires_at) VALUES (?1, ?2, ?3 + ?4) "
        "ON CONFLICT(monitor) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
        "WHERE monitor_leases.expires_at <= ?3 OR monitor_leases.holder = excluded.holder"));
    upsert->Bind({monitor, holder, now, ttl});
    LATHE_RETURN_IF_ERROR(upsert->Run());
    acquired = tx.db().Changes() > 0;
    return Status::Ok();
  }));
  return acquired;
}

Status SqliteStore::ReleaseMonitorLease(const std::string& monitor, const std::string& holder) {
  return Write(kMonitorContext, [&](WriteTx& tx) -> Status {
    LATHE_ASSIGN_OR_RETURN(auto* release, tx.db().Prepare("DELETE FROM monitor_leases WHERE monitor = ? AND holder = ?"));
    release->Bind({monitor, holder});
    return release->Run();
  });
}

Status SqliteStore::RecordMonitorAlert(const WriteContext& context, const MonitorAlert& alert) {
  return Write(context, [&](WriteTx& tx) -> Status {
    LATHE_ASSIGN_OR_RETURN(auto* insert, tx.db().Prepare(
        "INSERT INTO monitor_alerts(id, monitor, rule, fired_at, window_start, window_end, metric, value, threshold, "
        "actions, deliveries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    insert->Bind({alert.id, alert.monitor, alert.rule, alert.fired_at, alert.window_start, alert.window_end, alert.metric,
                  alert.value, alert.threshold, alert.actions, alert.deliveries.empty() ? "[]" : alert.deliveries});
    LATHE_RETURN_IF_ERROR(insert->Run());
    return tx.Audit("monitor_alert", alert.id);
  });
}

Status SqliteStore::AddMonitorAlertDelivery(const std::string& alert_id, const std::string& delivery) {
  return Write(kMonitorContext, [&](WriteTx& tx) -> Status {
    LATHE_ASSIGN_OR_RETURN(auto* update, tx.db().Prepare(
        "UPDATE monitor_alerts SET deliveries = json_insert(deliveries, '$[#]', json(?)) WHERE id = ?"));
    update->Bind({delivery, alert_id});
    LATHE_RETURN_IF_ERROR(update->Run());
    if (tx.db().Changes() == 0) return Status::NotFound(fmt::format("no alert {}", alert_id));
    return Status::Ok();
  });
}

Result<std::vector<MonitorAlert>> SqliteStore::ListMonitorAlerts(const std::string& monitor, int64_t limit) {
  return Read<std::vector<MonitorAlert>>([&](SqliteConnection& db) -> Result<std::vector<MonitorAlert>> {
    LATHE_ASSIGN_OR_RETURN(auto* select, db.Prepare(
        "SELECT id, monitor, rule, fired_at, window_start, window_end, metric, value, threshold, actions, deliveries "
        "FROM monitor_alerts WHERE (?1 = '' OR monitor = ?1) ORDER BY fired_at DESC, rowid DESC LIMIT ?2"));
    select->Bind({monitor, limit});
    std::vector<MonitorAlert> alerts;
    for (;;) {
      LATHE_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      alerts.push_back(ReadAlert(*select));
    }
    return alerts;
  });
}

Result<MonitorReference> SqliteStore::SaveMonitorReference(const WriteContext& context, const MonitorReference& reference) {
  MonitorReference saved = reference;
  LATHE_RETURN_IF_ERROR(Write(context, [&](WriteTx& tx) -> Status {
    LATHE_ASSIGN_OR_RETURN(auto latest, LatestReference(tx.db(), reference.deployment));
    saved.version = latest ? latest->version + 1 : 1;
    saved.created_at = NowMillis();
    saved.actor = tx.context().actor;
    LATHE_ASSIGN_OR_RETURN(auto* insert, tx.db().Prepare(
        "INSERT INTO monitor_references(deployment, version, path, source, rows, kinds, created_at, actor) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    insert->Bind({saved.deployment, saved.version, saved.path, saved.source, saved.rows, saved.kinds, saved.created_at,
                  saved.actor});
    LATHE_RETURN_IF_ERROR(insert->Run());
    return tx.Audit("monitor_reference", fmt::format("{}/{}", saved.deployment, saved.version));
  }));
  return saved;
}

Result<std::optional<MonitorReference>> SqliteStore::GetMonitorReference(const std::string& deployment) {
  return Read<std::optional<MonitorReference>>(
      [&](SqliteConnection& db) { return LatestReference(db, deployment); });
}

}  // namespace lathe::storage
