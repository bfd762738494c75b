// Offline retrieval: point-in-time correct training sets, executed in DuckDB.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "features/definitions.h"
#include "storage/duckdb.h"

namespace lathe::features {

struct HistoricalRequest {
  std::vector<FeatureRef> features;
  // The entity rows: a CSV, Parquet or JSON file, or (when empty) a DuckDB table named
  // `entity_table` that the caller created.
  std::string entities_path;
  std::string entity_table;
  std::string timestamp_column = "event_timestamp";
  // Without entity rows: every entity at each of its source events in [start, end].
  std::optional<int64_t> start_micros;
  std::optional<int64_t> end_micros;
  bool full_feature_names = false;
};

// Loads the entity rows and returns the query of the training set: the entity rows' own columns,
// in input order, then one column per feature. The sources must be registered in `db`.
Result<std::string> PrepareHistorical(const FeatureRepo& repo, DuckDb& db, const HistoricalRequest& request);

// Writes the training set to `out` (CSV, Parquet or JSON by extension) atomically, recording the
// repository hash (Parquet key-value metadata; a <out>.meta.json beside a CSV or JSON file).
// Returns the number of rows written.
Result<int64_t> WriteHistorical(const FeatureRepo& repo, DuckDb& db, const HistoricalRequest& request,
                                const std::string& out, const std::string& repo_hash);

}  // namespace lathe::features
