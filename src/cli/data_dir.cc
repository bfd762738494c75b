#include "cli/data_dir.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

namespace lathe::cli {

Result<std::unique_ptr<storage::Store>> OpenStore(const DataDirLayout& layout, storage::Durability durability) {
  std::error_code error;
  std::filesystem::create_directories(layout.root, error);
  if (error) return Status::InvalidParameter(fmt::format("cannot create data directory {}: {}", layout.root.string(), error.message()));
  storage::SqliteStoreOptions options;
  options.path = layout.database().string();
  options.durability = durability;
  options.reader_connections = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  options.default_artifact_root = "mlflow-artifacts:";
  return storage::OpenSqliteStore(options);
}

}  // namespace lathe::cli
