// Local filesystem artifact store: path confinement, atomic durable writes, MLflow listing rules.
#include "artifacts/artifact_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <system_error>
#include <vector>

#include "core/ids.h"

namespace lathe::artifacts {
namespace fs = std::filesystem;

namespace {

// PATH_MAX and NAME_MAX: longer paths or names could never be created, so they are the client's error.
constexpr size_t kMaxPathBytes = 4096;
constexpr size_t kMaxNameBytes = 255;
constexpr std::string_view kStagingPrefix = ".lathe-staging-";
constexpr size_t kUuidHexLength = 32;

// Client paths go into messages that end up in logs and JSON: control bytes are masked and long
// paths cut so that an error cannot be used to forge log lines or to echo megabytes back.
std::string Printable(std::string_view path) {
  constexpr size_t kShown = 200;
  std::string shown(path.substr(0, kShown));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (path.size() > kShown) shown += "...";
  return shown;
}

Status InvalidPath(std::string_view path, std::string_view why) {
  return Status::InvalidParameter(fmt::format("Invalid path '{}': {}", Printable(path), why));
}

std::string NewStagingName() {
  return std::string(kStagingPrefix) + NewUuidHex();
}

// Half-written files carry this name until renamed into place; listings hide them and clients may
// not address them, so an interrupted write is never visible as an artifact.
bool IsStagingName(std::string_view name) {
  if (!name.starts_with(kStagingPrefix) || name.size() != kStagingPrefix.size() + kUuidHexLength) return false;
  return std::all_of(name.begin() + kStagingPrefix.size(), name.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

// True when `path` is `root` or lies under it; both must be canonical.
bool IsInside(const fs::path& root, const fs::path& path) {
  auto [root_end, path_it] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return root_end == root.end();
}

// The rules of MLflow's validate_path_is_safe, made stricter where MLflow relies on normalising
// the path later (empty and "." components) or on the platform (backslashes, drive letters).
Status CheckRelativePath(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) return InvalidPath(path, "it contains a NUL byte");
  if (path.size() > kMaxPathBytes) return InvalidPath(path, fmt::format("it is longer than {} bytes", kMaxPathBytes));
  if (path.starts_with('/')) return InvalidPath(path, "absolute paths are not allowed");
  if (path.find('\\') != std::string_view::npos) return InvalidPath(path, "backslashes are not allowed");
  if (path.find('#') != std::string_view::npos) return InvalidPath(path, "'#' is not allowed");
  if (path.ends_with('/')) path.remove_suffix(1);
  if (path.empty()) return Status::Ok();
  if (path.size() >= 2 && std::isalpha(static_cast<unsigned char>(path[0])) && path[1] == ':') {
    return InvalidPath(path, "drive letters are not allowed");
  }
  if (path.starts_with('~')) return InvalidPath(path, "a leading '~' is not allowed");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = std::min(path.find('/', start), path.size());
    std::string_view component = path.substr(start, end - start);
    if (component.empty()) return InvalidPath(path, "empty path components are not allowed");
    if (component == "." || component == "..") return InvalidPath(path, "'.' and '..' are not allowed");
    if (IsStagingName(component)) return InvalidPath(path, "the name is reserved for uploads in progress");
    if (component.size() > kMaxNameBytes)
      return InvalidPath(path, fmt::format("a name is longer than {} bytes", kMaxNameBytes));
    start = end + 1;
  }
  return Status::Ok();
}

Status SyncPath(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0 || ::fsync(fd) != 0) {
    std::error_code error(errno, std::generic_category());
    if (fd >= 0) ::close(fd);
    return Status::Internal(fmt::format("cannot sync {}: {}", path.string(), error.message()));
  }
  ::close(fd);
  return Status::Ok();
}

// A file where a directory is needed is the client's conflict; anything else is our I/O failing.
Status DirectoryError(std::string_view relative_path, const fs::path& dir, const std::error_code& error) {
  if (error == std::errc::not_a_directory || error == std::errc::file_exists) {
    return InvalidPath(relative_path, "a file is in the way of its directory");
  }
  return Status::Internal(fmt::format("cannot create directory {}: {}", dir.string(), error.message()));
}

// Creates `dir` and its missing parents below `root`, syncing the directory that receives each
// new entry so that a stored file cannot lose its path in a crash.
Status CreateDirectoriesDurably(const fs::path& root, const fs::path& dir, std::string_view relative_path) {
  std::vector<fs::path> missing;
  std::error_code error;
  for (fs::path path = dir; path != root && !fs::exists(path, error); path = path.parent_path()) {
    missing.push_back(path);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    fs::create_directory(*it, error);  // a concurrent writer creating it too is not an error
    if (error) return DirectoryError(relative_path, *it, error);
    LATHE_RETURN_IF_ERROR(SyncPath(it->parent_path(), true));
  }
  if (fs::is_directory(dir, error)) return Status::Ok();
  return error ? DirectoryError(relative_path, dir, error)
               : InvalidPath(relative_path, "a file is in the way of its directory");
}

Status RequireFileName(std::string_view relative_path) {
  if (relative_path.empty() || relative_path.ends_with('/'))
    return InvalidPath(relative_path, "a file name is required");
  return Status::Ok();
}

// The fallback for a staged file on another filesystem: a copy next to the target, so that the
// final step is still an atomic rename.
Status CopyIntoPlace(const fs::path& staged_file, const fs::path& target) {
  fs::path temporary = target.parent_path() / NewStagingName();
  std::error_code error;
  fs::copy_file(staged_file, temporary, error);
  Status status = error ? Status::Internal(fmt::format("cannot copy {}: {}", staged_file.string(), error.message()))
                        : SyncPath(temporary, false);
  if (status.ok()) {
    fs::rename(temporary, target, error);
    if (error) status = Status::Internal(fmt::format("cannot store {}: {}", target.string(), error.message()));
  }
  if (!status.ok()) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
  }
  return status;
}

// Percent-decoding for file: URIs; a '%' without two hex digits stays literal.
std::string PercentDecode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string decoded;
  decoded.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      decoded += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      decoded += text[i];
    }
  }
  return decoded;
}

Status UnsupportedUri(std::string_view uri, std::string_view why) {
  return Status::InvalidParameter(fmt::format("Unsupported artifact URI '{}': {}", Printable(uri), why));
}

}  // namespace

LocalArtifactStore::LocalArtifactStore(fs::path root) {
  std::error_code error;
  fs::create_directories(root, error);
  fs::path absolute = fs::absolute(root, error);
  // Canonical, so that the confinement check compares like with like after symlinks resolve.
  root_ = fs::weakly_canonical(absolute, error);
  if (error) root_ = absolute.lexically_normal();
}

Result<fs::path> LocalArtifactStore::Resolve(std::string_view relative_path) const {
  LATHE_RETURN_IF_ERROR(CheckRelativePath(relative_path));
  std::string_view path = relative_path;
  if (path.ends_with('/')) path.remove_suffix(1);
  fs::path resolved = root_;
  bool exists = true;
  size_t start = 0;
  while (!path.empty() && start <= path.size()) {
    size_t end = std::min(path.find('/', start), path.size());
    resolved /= path.substr(start, end - start);
    start = end + 1;
    if (!exists) continue;
    // Each existing component is checked before the next is appended: a symbolic link anywhere
    // on the way, including a dangling one, must not lead out of the root.
    std::error_code error;
    fs::file_status status = fs::symlink_status(resolved, error);
    if (status.type() == fs::file_type::not_found) {
      exists = false;
      continue;
    }
    if (error) return InvalidPath(relative_path, error.message());
    if (fs::is_symlink(status)) {
      resolved = fs::canonical(resolved, error);
      if (error) return InvalidPath(relative_path, "it goes through a symbolic link that cannot be followed");
      if (!IsInside(root_, resolved)) return InvalidPath(relative_path, "it leads outside the artifact root");
    }
  }
  return resolved;
}

Status LocalArtifactStore::Put(std::string_view relative_path, const fs::path& staged_file) {
  LATHE_RETURN_IF_ERROR(RequireFileName(relative_path));
  LATHE_ASSIGN_OR_RETURN(auto target, Resolve(relative_path));
  LATHE_RETURN_IF_ERROR(CreateDirectoriesDurably(root_, target.parent_path(), relative_path));
  std::error_code error;
  if (fs::is_directory(target, error)) return InvalidPath(relative_path, "a directory of that name exists");
  LATHE_RETURN_IF_ERROR(SyncPath(staged_file, false));
  fs::rename(staged_file, target, error);
  if (error == std::errc::cross_device_link) {
    LATHE_RETURN_IF_ERROR(CopyIntoPlace(staged_file, target));
  } else if (error) {
    return Status::Internal(fmt::format("cannot store artifact {}: {}", Printable(relative_path), error.message()));
  }
  return SyncPath(target.parent_path(), true);
}

Status LocalArtifactStore::PutBytes(std::string_view relative_path, std::string_view bytes) {
  LATHE_RETURN_IF_ERROR(RequireFileName(relative_path));
  LATHE_ASSIGN_OR_RETURN(auto target, Resolve(relative_path));
  LATHE_RETURN_IF_ERROR(CreateDirectoriesDurably(root_, target.parent_path(), relative_path));
  fs::path staged = target.parent_path() / NewStagingName();
  std::ofstream out(staged, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  Status stored = out ? Put(relative_path, staged)
                      : Status::Internal(fmt::format("cannot write artifact {}", Printable(relative_path)));
  if (!stored.ok()) {
    std::error_code ignored;
    fs::remove(staged, ignored);
  }
  return stored;
}

Result<fs::path> LocalArtifactStore::Get(std::string_view relative_path) const {
  LATHE_ASSIGN_OR_RETURN(auto path, Resolve(relative_path));
  std::error_code error;
  fs::file_status status = fs::status(path, error);
  if (fs::is_regular_file(status)) return path;
  if (status.type() == fs::file_type::not_found) {
    return Status::NotFound(fmt::format("No such file or directory: '{}'", Printable(relative_path)));
  }
  if (error) return Status::Internal(fmt::format("cannot read {}: {}", Printable(relative_path), error.message()));
  // Directories, and FIFOs or devices that would block or never end when streamed.
  return InvalidPath(relative_path, "it is not a regular file");
}

Result<std::vector<FileInfo>> LocalArtifactStore::List(std::string_view relative_dir) const {
  LATHE_ASSIGN_OR_RETURN(auto dir, Resolve(relative_dir));
  std::vector<FileInfo> files;
  std::error_code error;
  if (!fs::is_directory(dir, error)) return files;
  fs::directory_iterator it(dir, error);
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    std::string name = it->path().filename().string();
    if (IsStagingName(name)) continue;
    std::error_code entry_error;
    fs::file_status status = it->status(entry_error);  // follows links, like MLflow's os.path calls
    if (fs::is_directory(status)) {
      files.push_back({std::move(name), true, 0});
    } else if (fs::is_regular_file(status)) {
      auto size = it->file_size(entry_error);
      // A file that vanished between the listing and the stat is simply no longer there.
      if (!entry_error) files.push_back({std::move(name), false, static_cast<int64_t>(size)});
    }
    // Dangling links, sockets and the like cannot be downloaded, so they are not listed.
  }
  if (error) return Status::Internal(fmt::format("cannot list {}: {}", Printable(relative_dir), error.message()));
  std::sort(files.begin(), files.end(), [](const FileInfo& a, const FileInfo& b) { return a.path < b.path; });
  return files;
}

Status LocalArtifactStore::Delete(std::string_view relative_path) {
  LATHE_ASSIGN_OR_RETURN(auto path, Resolve(relative_path));
  if (path == root_) return InvalidPath(relative_path, "the artifact root cannot be deleted");
  std::error_code error;
  if (fs::symlink_status(path, error).type() == fs::file_type::not_found) return Status::Ok();
  fs::remove_all(path, error);
  if (error) return Status::Internal(fmt::format("cannot delete {}: {}", Printable(relative_path), error.message()));
  return SyncPath(path.parent_path(), true);
}

Result<uint64_t> LocalArtifactStore::DeleteTree(std::string_view relative_dir) {
  LATHE_ASSIGN_OR_RETURN(auto path, Resolve(relative_dir));
  if (path == root_) return InvalidPath(relative_dir, "the artifact root cannot be deleted");
  std::error_code error;
  fs::file_status status = fs::symlink_status(path, error);
  if (status.type() == fs::file_type::not_found) return uint64_t{0};
  if (error) return Status::Internal(fmt::format("cannot delete {}: {}", Printable(relative_dir), error.message()));
  uint64_t bytes = 0;
  if (fs::is_directory(status)) {
    fs::recursive_directory_iterator it(path, error);
    for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      std::error_code entry_error;
      // Links are removed, not their targets, so only real files count as freed.
      if (!fs::is_regular_file(it->symlink_status(entry_error))) continue;
      auto size = it->file_size(entry_error);
      if (!entry_error) bytes += size;
    }
    if (error) return Status::Internal(fmt::format("cannot walk {}: {}", Printable(relative_dir), error.message()));
  } else if (fs::is_regular_file(status)) {
    auto size = fs::file_size(path, error);
    if (!error) bytes = size;
  }
  fs::remove_all(path, error);
  if (error) return Status::Internal(fmt::format("cannot delete {}: {}", Printable(relative_dir), error.message()));
  return bytes;
}

Result<std::string> RelativePathForUri(const LocalArtifactStore& store, std::string_view artifact_uri) {
  constexpr std::string_view kProxyScheme = "mlflow-artifacts:";
  constexpr std::string_view kFileScheme = "file:";
  std::string relative;
  if (artifact_uri.starts_with(kProxyScheme)) {
    std::string_view rest = artifact_uri.substr(kProxyScheme.size());
    if (rest.starts_with("//")) {  // the authority names the server the client used, not a place here
      auto slash = rest.find('/', 2);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    while (rest.starts_with('/')) rest.remove_prefix(1);
    while (rest.ends_with('/')) rest.remove_suffix(1);
    relative = std::string(rest);
  } else {
    std::string local;
    if (artifact_uri.starts_with(kFileScheme)) {
      std::string_view rest = artifact_uri.substr(kFileScheme.size());
      if (rest.starts_with("//")) {
        auto slash = rest.find('/', 2);
        std::string_view authority =
            rest.substr(2, slash == std::string_view::npos ? std::string_view::npos : slash - 2);
        if (!authority.empty() && authority != "localhost")
          return UnsupportedUri(artifact_uri, "it names another host");
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
      }
      local = PercentDecode(rest);
    } else {
      local = std::string(artifact_uri);
    }
    if (!local.starts_with('/')) {
      return UnsupportedUri(artifact_uri, "expected mlflow-artifacts:/<path>, a file: URI or an absolute path");
    }
    if (local.find('\0') != std::string::npos) return UnsupportedUri(artifact_uri, "it contains a NUL byte");
    std::error_code error;
    fs::path absolute = fs::weakly_canonical(fs::path(local), error);
    if (error || !IsInside(store.root(), absolute))
      return UnsupportedUri(artifact_uri, "it is outside the artifact store");
    relative = absolute.lexically_relative(store.root()).generic_string();
    if (relative == ".") relative.clear();
  }
  LATHE_RETURN_IF_ERROR(store.Resolve(relative).status());
  return relative;
}

}  // namespace lathe::artifacts
