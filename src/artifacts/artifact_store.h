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
  std::string path;  // the entry's name, relative to the listed directory
  bool is_dir = false;
  int64_t file_size = 0;
};

class LocalArtifactStore {
 public:
  explicit LocalArtifactStore(std::filesystem::path root);

  // The absolute path for a relative artifact path. INVALID_PARAMETER_VALUE for absolute paths,
  // `..` components, NUL bytes, backslashes, and paths whose existing parents resolve (through
  // symlinks) outside the root.
  Result<std::filesystem::path> Resolve(std::string_view relative_path) const;

  // Moves a staged file into place (atomically: rename, fsync). Parents are created.
  Status Put(std::string_view relative_path, const std::filesystem::path& staged_file);
  Status PutBytes(std::string_view relative_path, std::string_view bytes);
  // A regular file; RESOURCE_DOES_NOT_EXIST when there is none.
  Result<std::filesystem::path> Get(std::string_view relative_path) const;
  // Immediate children sorted by name; a missing directory lists as empty (as in MLflow).
  Result<std::vector<FileInfo>> List(std::string_view relative_dir) const;
  // Removes a file or a whole directory; RESOURCE_DOES_NOT_EXIST when absent.
  Status Delete(std::string_view relative_path);
  // Removes a directory tree if present and returns the bytes of the files it held.
  Result<uint64_t> DeleteTree(std::string_view relative_dir);

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

// The store-relative path of a run's artifact URI: `mlflow-artifacts:/1/abc/artifacts` (with or
// without an authority) or a `file://` / absolute path inside the root.
Result<std::string> RelativePathForUri(const LocalArtifactStore& store, std::string_view artifact_uri);

}  // namespace lathe::artifacts
