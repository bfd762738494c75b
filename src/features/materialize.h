// Materialisation: the latest feature values per entity, computed by the views' SQL in DuckDB and
// written to the online store in one run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "features/definitions.h"
#include "storage/duckdb.h"
#include "features/online_store.h"

namespace lathe::features {

// The earliest time the feature store handles, 0001-01-01T00:00:00Z in microseconds: where a
// view's first incremental run starts.
inline constexpr int64_t kBeginningOfTime = -62135596800000000;

struct MaterializeRequest {
  std::vector<std::string> views;  // empty: every feature view
  int64_t start_micros = 0;        // ignored when incremental
  int64_t end_micros = 0;
  // Each view starts where its last committed run ended (or at the beginning of its data).
  bool incremental = false;
};

struct ViewMaterialization {
  std::string view;
  int64_t start_micros = 0;
  int64_t end_micros = 0;
  int64_t rows = 0;
};

// (views done, views in all, rows of the current view so far).
using MaterializeProgress = std::function<void(size_t, size_t, int64_t)>;

// Writes every requested view in one online store run; the sources must be registered in `db`.
Result<std::vector<ViewMaterialization>> Materialize(const FeatureRepo& repo, const std::string& repo_hash, DuckDb& db,
                                                     OnlineStore& store, const MaterializeRequest& request,
                                                     const MaterializeProgress& progress = {});

// "2024-01-02", "2024-01-02T03:04:05", with an optional zone ("Z", "+02:00") -> microseconds UTC.
Result<int64_t> ParseTimestamp(DuckDb& db, const std::string& text);

}  // namespace lathe::features
