// Where served models come from: model URIs resolved to a local package directory, and the alias
// moves a deployment of `models:/name@alias` follows.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace lathe::storage {
class Store;
}
namespace lathe::artifacts {
class LocalArtifactStore;
}

namespace lathe::serving {

// A model URI taken apart: a local path, `runs:/<run id>/<path>`, `models:/<name>/<version>` or
// `models:/<name>@<alias>`.
struct ModelUri {
  enum class Kind { kPath, kRun, kRegistryVersion, kRegistryAlias };
  Kind kind = Kind::kPath;
  std::string text;      // the URI as given
  std::string path;      // kPath: the directory; kRun: the path inside the run's artifacts
  std::string run_id;    // kRun
  std::string name;      // registry kinds
  int64_t version = 0;   // kRegistryVersion
  std::string alias;     // kRegistryAlias
};
Result<ModelUri> ParseModelUri(const std::string& text);

struct ResolvedModel {
  std::string uri;                  // as given
  std::string registered_name;      // registry kinds: the registered model's name
  std::string version;              // registry kinds: the version number; otherwise "1"
  std::filesystem::path directory;  // the local package directory
};

struct AliasChange {
  int64_t id = 0;
  std::string name;
  std::string alias;
};

class ModelSource {
 public:
  virtual ~ModelSource() = default;
  // Finds the package for `uri` (downloading it first when the source is remote).
  virtual Result<ResolvedModel> Resolve(const ModelUri& uri) = 0;
  // Alias moves recorded after `after_id`, oldest first; empty when the source has no registry.
  virtual Result<std::vector<AliasChange>> AliasChangesAfter(int64_t after_id) = 0;
  // The id of the latest alias move, so that a new watcher starts from now.
  virtual Result<int64_t> LatestAliasChangeId() = 0;
};

// Local paths only: registry and run URIs are refused with a message saying what to use instead.
std::unique_ptr<ModelSource> MakePathModelSource();

// Inside `lathe server`: resolves runs:/ and models:/ URIs through the store and the server's own
// artifact directory. Local paths are refused: any API client can deploy.
std::unique_ptr<ModelSource> MakeStoreModelSource(storage::Store& store, const artifacts::LocalArtifactStore& artifacts);

}  // namespace lathe::serving
