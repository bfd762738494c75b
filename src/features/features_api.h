// The feature store inside `lathe server`: online reads, training sets over REST, and the applied
// repository. Follows the latest applied version without a restart.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "core/api.h"
#include "features/online.h"
#include "storage/store.h"

namespace lathe::features {

class FeatureService {
 public:
  FeatureService(storage::Store& store, std::filesystem::path data_dir);

  // The online reader of the latest applied version (checked at most once a second); NotFound
  // when nothing was applied.
  Result<std::shared_ptr<OnlineFeatures>> Online();
  storage::Store& store() { return store_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }

 private:
  storage::Store& store_;
  std::filesystem::path data_dir_;
  std::mutex mutex_;
  std::shared_ptr<OnlineFeatures> online_;
  std::shared_ptr<OnlineStore> online_store_;
  std::string online_store_uri_;
  std::chrono::steady_clock::time_point checked_at_{};
};

// POST /api/lathe/features/online, POST /api/lathe/features/historical,
// GET /api/lathe/features/repository, GET /api/lathe/features/versions.
std::vector<Route> FeatureRoutes(FeatureService& service);

}  // namespace lathe::features
