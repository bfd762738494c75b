// Online retrieval: feature values for a batch of entities from the online store, with on-demand
// features computed from request data by the same SQL expressions as offline.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "features/definitions.h"
#include "storage/duckdb.h"
#include "features/online_store.h"

namespace lathe::features {

inline constexpr size_t kMaxOnlineRows = 10000;

// One column of an online answer: the join key or feature `name`, and per entity row the value as
// JSON text, its status and its event time (empty: none).
struct OnlineColumn {
  std::string name;
  std::vector<std::string> values;
  std::vector<const char*> statuses;
  std::vector<std::string> timestamps;
};

struct OnlineResult {
  std::vector<OnlineColumn> columns;  // the join keys, then the requested features in order
  std::string repo_hash;
  std::vector<std::string> mismatched_views;  // materialised by another version than expected
};

// The answer as the REST API sends it (see OnlineFeatures::Get), written straight to text.
std::string ToText(const OnlineResult& result);
nlohmann::json ToJson(const OnlineResult& result);

class OnlineFeatures {
 public:
  OnlineFeatures(FeatureRepo repo, std::string repo_hash, std::shared_ptr<OnlineStore> store);

  // Answers {"features": ["view:feature", ...], "entities": {"key": [v, ...]}, "request_data":
  // {"field": [v, ...]}, "feature_repo_hash": "..."} (the last two optional) with
  // {"metadata": {"feature_names": [...]}, "results": [{"values", "statuses", "event_timestamps"}]}:
  // the join keys first, then the features in request order. When views were materialised by
  // another repository version than the expected one, metadata.materialized_by_other_version
  // lists them (and a warning is logged).
  Result<nlohmann::json> Get(const nlohmann::json& request);
  // The same answer, before it is serialised.
  Result<OnlineResult> Read(const nlohmann::json& request);

  const FeatureRepo& repo() const { return repo_; }
  const std::string& repo_hash() const { return repo_hash_; }
  OnlineStore& store() { return *store_; }

 private:
  Result<std::unique_ptr<DuckDb>> TakeDuckDb();
  void ReturnDuckDb(std::unique_ptr<DuckDb> db);

  FeatureRepo repo_;
  std::string repo_hash_;
  std::shared_ptr<OnlineStore> store_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<DuckDb>> duckdb_pool_;
};

// Microseconds since the epoch as "2024-01-31T12:00:00.000001Z".
std::string FormatTimestamp(int64_t micros);

}  // namespace lathe::features
