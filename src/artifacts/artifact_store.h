// The artifact store: run and model files on the local filesystem under one root directory, with
// every client-supplied path checked so that nothing outside the root can be read or written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace lathe::artifacts {

struct FileInfo {
  std::string path;  // the entry's name, relative to the listed directory (MLflow's proxied listing)
  bool is_dir = false;
  int64_t file_size = 0;  // meaningless for directories, which MLflow lists without a size
};

class LocalArtifactStore {
 public:
  // Creates the root when it is missing; a root that cannot be created makes every later call fail.
  explicit LocalArtifactStore(std::filesystem::path root);

  // The absolute path for a store-relative artifact path ("" is the root; one trailing '/' is
  // ignored). INVALID_PARAMETER_VALUE for absolute paths, empty, "." or ".." components,
  // backslashes, '#', NUL bytes, a leading drive letter or '~', paths over 4096 bytes, the store's
  // own staging names, and paths that reach outside the root through a symbolic link.
  Result<std::filesystem::path> Resolve(std::string_view relative_path) const;

  // Moves a finished file into place atomically (rename; copy then rename across filesystems),
  // creating parent directories, and syncs file and directories before returning. An existing
  // file is replaced; an existing directory of that name is an INVALID_PARAMETER_VALUE.
  Status Put(std::string_view relative_path, const std::filesystem::path& staged_file);
  Status PutBytes(std::string_view relative_path, std::string_view bytes);
  // The path of a regular file: RESOURCE_DOES_NOT_EXIST when absent, INVALID_PARAMETER_VALUE for
  // a directory.
  Result<std::filesystem::path> Get(std::string_view relative_path) const;
  // Immediate children sorted by name. A missing directory, or a file, lists as empty (as MLflow).
  Result<std::vector<FileInfo>> List(std::string_view relative_dir) const;
  // Removes a file or a whole directory. Removing nothing succeeds, as in MLflow, so that clients
  // deleting a run's artifacts need not know whether it logged any. The root cannot be removed.
  Status Delete(std::string_view relative_path);
  // For garbage collection: removes a directory tree (or file) if present and returns the bytes
  // of the regular files it held; 0 when absent.
  Result<uint64_t> DeleteTree(std::string_view relative_dir);

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

// The store-relative path (without trailing '/') of a run's artifact URI:
// `mlflow-artifacts:/1/abc/artifacts`, the same with an authority (`mlflow-artifacts://host:5000/...`),
// or a `file:` URI / absolute path inside the root. Anything else is INVALID_PARAMETER_VALUE.
Result<std::string> RelativePathForUri(const LocalArtifactStore& store, std::string_view artifact_uri);

}  // namespace lathe::artifacts
