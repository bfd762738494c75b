// The data directory that `lathe server` owns and that local commands (gc, features) open too.
#pragma once

#include <filesystem>
#include <memory>

#include "core/status.h"
#include "storage/store.h"

namespace lathe::cli {

struct DataDirLayout {
  std::filesystem::path root;
  std::filesystem::path database() const { return root / "lathe.db"; }
  std::filesystem::path artifacts() const { return root / "artifacts"; }
  // Staged uploads live on the artifacts' filesystem, so finishing one is a rename, but outside
  // the artifact root, so no artifact path can reach a half-written upload.
  std::filesystem::path uploads() const { return root / "uploads"; }
  std::filesystem::path deployments() const { return root / "deployments.json"; }
  std::filesystem::path shadow_log() const { return root / "shadow-predictions.jsonl"; }
  // The prediction log, labels and reference data (see monitoring/monitor_service.h).
  std::filesystem::path monitoring() const { return root / "monitoring"; }
};

// Opens (creating) the metadata store of the data directory.
Result<std::unique_ptr<storage::Store>> OpenStore(const DataDirLayout& layout, storage::Durability durability);

}  // namespace lathe::cli
