// Local filesystem artifact store with path confinement.
#include "artifacts/artifact_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <fmt/format.h>

#include "core/ids.h"

namespace lathe::artifacts {
namespace fs = std::filesystem;

namespace {

Status InvalidPath(std::string_view path, std::string_view why) {
  return Status::InvalidParameter(fmt::format("Invalid artifact path '{}': {}", path, why));
}

// True when `path` is `root` or lies under it (both already weakly canonical).
bool IsInside(const fs::path& root, const fs::path& path) {
  auto [root_end, path_it] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return root_end == root.end();
}

void SyncPath(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

LocalArtifactStore::LocalArtifactStore(fs::path root) {
  std::error_code error;
  fs::create_directories(root, error);
  root_ = fs::weakly_canonical(fs::absolute(root), error);
}

Result<fs::path> LocalArtifactStore::Resolve(std::string_view relative_path) const {
  if (relative_path.find('\0') != std::string_view::npos) return InvalidPath("<contains NUL>", "NUL byte");
  if (relative_path.find('\\') != std::string_view::npos) return InvalidPath(relative_path, "backslashes are not allowed");
  if (!relative_path.empty() && relative_path.front() == '/') return InvalidPath(relative_path, "absolute paths are not allowed");
  if (relative_path.size() > 4096) return InvalidPath(relative_path.substr(0, 100), "longer than 4096 bytes");
  fs::path relative(relative_path);
  for (const auto& part : relative) {
    if (part == "..") return InvalidPath(relative_path, "'..' is not allowed");
    if (part.string().size() >= 2 && part.string()[1] == ':') return InvalidPath(relative_path, "drive letters are not allowed");
  }
  fs::path joined = (root_ / relative).lexically_normal();
  std::error_code error;
  // weakly_canonical resolves symlinks of every existing prefix: a link pointing outside shows here.
  fs::path resolved = fs::weakly_canonical(joined, error);
  if (error) return InvalidPath(relative_path, error.message());
  if (!IsInside(root_, resolved)) return InvalidPath(relative_path, "it resolves outside the artifact root");
  return resolved;
}

Status LocalArtifactStore::Put(std::string_view relative_path, const fs::path& staged_file) {
  if (relative_path.empty() || relative_path.back() == '/') return InvalidPath(relative_path, "a file name is required");
  LATHE_ASSIGN_OR_RETURN(auto target, Resolve(relative_path));
  if (target == root_) return InvalidPath(relative_path, "a file name is required");
  std::error_code error;
  fs::create_directories(target.parent_path(), error);
  if (error) return InvalidPath(relative_path, "cannot create its directory: " + error.message());
  if (fs::is_directory(target, error)) return InvalidPath(relative_path, "a directory of that name exists");
  SyncPath(staged_file, false);
  fs::rename(staged_file, target, error);
  if (error == std::errc::cross_device_link) {
    error.clear();
    fs::path temporary = target.parent_path() / (".tmp-" + NewUuidHex());
    fs::copy_file(staged_file, temporary, fs::copy_options::overwrite_existing, error);
    if (!error) {
      SyncPath(temporary, false);
      fs::rename(temporary, target, error);
    }
    if (error) fs::remove(temporary);
  }
  if (error) return Status::Internal(fmt::format("cannot store artifact {}: {}", relative_path, error.message()));
  SyncPath(target.parent_path(), true);
  return Status::Ok();
}

Status LocalArtifactStore::PutBytes(std::string_view relative_path, std::string_view bytes) {
  LATHE_ASSIGN_OR_RETURN(auto target, Resolve(relative_path));
  std::error_code error;
  fs::create_directories(target.parent_path(), error);
  fs::path staged = target.parent_path() / (".tmp-" + NewUuidHex());
  {
    std::ofstream out(staged, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return Status::Internal(fmt::format("cannot write artifact {}", relative_path));
  }
  Status stored = Put(relative_path, staged);
  if (!stored.ok()) fs::remove(staged, error);
  return stored;
}

Result<fs::path> LocalArtifactStore::Get(std::string_view relative_path) const {
  LATHE_ASSIGN_OR_RETURN(auto path, Resolve(relative_path));
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    return Status::NotFound(fmt::format("No such file or directory: '{}'", relative_path));
  }
  return path;
}

Result<std::vector<FileInfo>> LocalArtifactStore::List(std::string_view relative_dir) const {
  LATHE_ASSIGN_OR_RETURN(auto dir, Resolve(relative_dir));
  std::vector<FileInfo> files;
  std::error_code error;
  if (!fs::is_directory(dir, error)) return files;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with(".tmp-")) continue;
    FileInfo info;
    info.path = name;
    info.is_dir = entry.is_directory(error);
    if (!info.is_dir) info.file_size = static_cast<int64_t>(entry.file_size(error));
    files.push_back(std::move(info));
  }
  if (error) return Status::Internal(fmt::format("cannot list {}: {}", relative_dir, error.message()));
  std::sort(files.begin(), files.end(), [](const FileInfo& a, const FileInfo& b) { return a.path < b.path; });
  return files;
}

Status LocalArtifactStore::Delete(std::string_view relative_path) {
  LATHE_ASSIGN_OR_RETURN(auto path, Resolve(relative_path));
  if (path == root_) return InvalidPath(relative_path, "the artifact root cannot be deleted");
  std::error_code error;
  if (!fs::exists(fs::symlink_status(path, error))) {
    return Status::NotFound(fmt::format("No such file or directory: '{}'", relative_path));
  }
  fs::remove_all(path, error);
  if (error) return Status::Internal(fmt::format("cannot delete {}: {}", relative_path, error.message()));
  return Status::Ok();
}

Result<uint64_t> LocalArtifactStore::DeleteTree(std::string_view relative_dir) {
  LATHE_ASSIGN_OR_RETURN(auto path, Resolve(relative_dir));
  if (path == root_) return InvalidPath(relative_dir, "the artifact root cannot be deleted");
  std::error_code error;
  if (!fs::exists(path, error)) return uint64_t{0};
  uint64_t bytes = 0;
  if (fs::is_directory(path, error)) {
    for (const auto& entry : fs::recursive_directory_iterator(path, error)) {
      if (entry.is_regular_file(error)) bytes += entry.file_size(error);
    }
  } else {
    bytes = fs::file_size(path, error);
  }
  fs::remove_all(path, error);
  if (error) return Status::Internal(fmt::format("cannot delete {}: {}", relative_dir, error.message()));
  return bytes;
}

Result<std::string> RelativePathForUri(const LocalArtifactStore& store, std::string_view uri) {
  constexpr std::string_view kScheme = "mlflow-artifacts:";
  std::string relative;
  if (uri.starts_with(kScheme)) {
    std::string_view rest = uri.substr(kScheme.size());
    if (rest.starts_with("//")) {  // mlflow-artifacts://host:port/path
      auto slash = rest.find('/', 2);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    relative = std::string(rest);
  } else {
    std::string_view path = uri;
    if (path.starts_with("file://")) path.remove_prefix(7);
    if (path.empty() || path.front() != '/') {
      return Status::InvalidParameter(fmt::format("unsupported artifact URI '{}': expected mlflow-artifacts:/...", uri));
    }
    std::error_code error;
    fs::path absolute = fs::weakly_canonical(fs::path(path), error);
    if (error || !IsInside(store.root(), absolute)) {
      return Status::InvalidParameter(fmt::format("artifact URI '{}' is outside the artifact store", uri));
    }
    relative = absolute.lexically_relative(store.root()).string();
    if (relative == ".") relative.clear();
  }
  LATHE_RETURN_IF_ERROR(store.Resolve(relative).status());
  return relative;
}

}  // namespace lathe::artifacts
