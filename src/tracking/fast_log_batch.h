// A simdjson fast path for the body of runs/log-batch, the hottest request of the tracking API.
#pragma once

#include <optional>
#include <string>

#include "storage/store.h"

namespace lathe::tracking {

struct ParsedLogBatch {
  std::string run_id;
  storage::LogBatch batch;
};

// Parses a well-formed log-batch body: an object of run_id/run_uuid, metrics, params and tags
// with the JSON types MLflow's client sends. Anything else (a string-typed number, an unknown
// field, malformed JSON) gives nullopt, and the caller takes the general path, which names the
// problem. Values are not validated here. May grow `body`'s capacity for simdjson's padding.
std::optional<ParsedLogBatch> ParseLogBatchFast(std::string& body);

}  // namespace lathe::tracking
