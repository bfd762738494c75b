// The online store: the latest feature values per entity, written by materialisation runs and read
// on the serving path. SQLite (embedded, default) and Redis implementations.
//
// Contract: a run's writes become visible all at once on Commit(); until then readers see the
// previous run's values, and a run that fails or is aborted leaves them untouched. A value is only
// replaced by one whose event time is equal or newer. Reads are thread-safe and never block on a
// run in progress.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace lathe::features {

// One entity's values for one feature view: `payload` is a JSON object {feature: value}.
struct OnlineRow {
  std::string entity_key;  // EncodeEntityKey() of the join key values
  int64_t event_micros = 0;  // the event time of the source row, microseconds since the epoch (UTC)
  std::string payload;
};

// What the store knows about a view's last committed materialisation.
struct ViewState {
  std::string repo_hash;              // the feature repository version that computed the values
  std::string run_id;
  int64_t materialized_until_micros = 0;  // the run's end; materialize-incremental starts here
  int64_t committed_at_millis = 0;
};

// Bytes a store may leave free after a payload's text (capacity beyond size), so that a JSON
// parser needing that padding (simdjson) can read it without a copy.
inline constexpr size_t kPayloadPadding = 64;

struct OnlineValue {
  bool found = false;
  int64_t event_micros = 0;
  std::string payload;
};

// A materialisation run in progress. Not thread-safe: one writer per run.
class OnlineWriteRun {
 public:
  virtual ~OnlineWriteRun() = default;
  // Upserts rows of `view` (may be called many times per view).
  virtual Status Write(const std::string& view, std::span<const OnlineRow> rows) = 0;
  // Records the view's state, made visible with the values on Commit().
  virtual Status SetViewState(const std::string& view, const ViewState& state) = 0;
  // Makes every write and state of this run visible atomically.
  virtual Status Commit() = 0;
};

class OnlineStore {
 public:
  virtual ~OnlineStore() = default;
  // Starts a run; destroying it without Commit() discards its writes.
  virtual Result<std::unique_ptr<OnlineWriteRun>> BeginRun(const std::string& run_id) = 0;
  // Looks up `keys` of `view`; out[i] answers keys[i].
  virtual Status Read(const std::string& view, std::span<const std::string> keys,
                      std::vector<OnlineValue>& out) = 0;
  virtual Result<std::optional<ViewState>> GetViewState(const std::string& view) = 0;
  // "sqlite:<path>" or "redis://host:port/db", for messages.
  virtual std::string Describe() const = 0;
};

// `uri`: "sqlite" (the file <data_dir>/features/online.db), "sqlite:///abs/path.db", or
// "redis://host[:port][/db]". `project` namespaces Redis keys.
Result<std::unique_ptr<OnlineStore>> OpenOnlineStore(const std::string& uri, const std::filesystem::path& data_dir,
                                                     const std::string& project);

Result<std::unique_ptr<OnlineStore>> OpenSqliteOnlineStore(const std::filesystem::path& path);
Result<std::unique_ptr<OnlineStore>> OpenRedisOnlineStore(const std::string& host, int port, int database,
                                                          const std::string& project);

}  // namespace lathe::features
