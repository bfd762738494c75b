// Applied feature repository versions in the metadata store, and the checks an apply must pass.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "features/definitions.h"
#include "storage/store.h"

namespace lathe::features {

// The source type of a training set logged as a run input (MLflow log-inputs); its source is
// {"feature_repo_hash": "...", "features": ["view:feature", ...]}.
inline constexpr const char* kTrainingSetSourceType = "lathe-features";

struct AppliedRepo {
  FeatureRepo repo;
  std::string hash;
  int64_t version = 0;
};

Result<std::optional<AppliedRepo>> LoadAppliedRepo(storage::Store& store);

struct ApplyOutcome {
  int64_t version = 0;
  std::string hash;
  bool changed = false;
  std::vector<std::string> changes;  // DiffRepos against the previous version
};

// Stores `repo` (validated, with `hash`) as the next version unless it equals the latest. Refuses
// a change that removes a feature, or changes its type, that a registered model version was
// trained on (through a training set logged with its run), unless `allow_breaking`.
// `dry_run` reports what would happen and writes nothing.
Result<ApplyOutcome> ApplyRepo(storage::Store& store, const storage::WriteContext& context, const FeatureRepo& repo,
                               const std::string& hash, bool dry_run, bool allow_breaking);

// The dataset that records a training set as a run input.
storage::DatasetInput TrainingSetInput(const std::string& name, const std::string& repo_hash,
                                       const std::vector<FeatureRef>& features);

}  // namespace lathe::features
