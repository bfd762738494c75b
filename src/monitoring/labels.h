// Ground truth: labels that arrive after the predictions they belong to, keyed by prediction id.
// Appended durably (one fsync per batch) to newline-delimited JSON files per deployment, one file
// per process, so that replicas never share a writer; the newest label of an id wins.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "storage/duckdb.h"

namespace lathe::monitoring {

struct Label {
  std::string prediction_id;
  std::string value;  // text; numbers in their shortest form ("1", "0.25")
};

class LabelLog {
 public:
  explicit LabelLog(std::filesystem::path root) : root_(std::move(root)) {}
  // Durable when it returns.
  Status Append(const std::string& deployment, const std::vector<Label>& labels, int64_t received_ms);

 private:
  std::filesystem::path root_;
  std::mutex mutex_;
};

// A relation (prediction_id VARCHAR, label VARCHAR) of the newest label per prediction id; empty
// when the deployment has none.
std::string LabelsSql(const std::filesystem::path& root, const std::string& deployment);

// The ids among `ids` that no row of the relation `predictions` (with a prediction_id column) has.
Result<std::vector<std::string>> UnknownPredictionIds(storage::DuckDb& db, const std::string& predictions,
                                                      const std::vector<std::string>& ids);

// A cell's canonical text for labels and class predictions: integral numbers without a fraction,
// others in their shortest round-trip form, booleans as true/false.
std::string LabelText(const storage::Cell& cell);

}  // namespace lathe::monitoring
