// Model URIs, and the two local model sources: plain paths, and the server's own store.
#include "serving/model_source.h"

#include <charconv>

#include <fmt/format.h>

#include "artifacts/artifact_store.h"
#include "storage/store.h"

namespace lathe::serving {
namespace {

Status BadUri(const std::string& text, std::string_view why) {
  return Status::InvalidParameter(fmt::format("invalid model URI '{}': {}", text, why));
}

class PathModelSource final : public ModelSource {
 public:
  Result<ResolvedModel> Resolve(const ModelUri& uri) override {
    if (uri.kind != ModelUri::Kind::kPath) {
      return Status::InvalidParameter(fmt::format(
          "'{}' needs a tracking server: set LATHE_TRACKING_URI (or --tracking-uri), or give a package directory",
          uri.text));
    }
    return ResolvePath(uri);
  }
  Result<std::vector<AliasChange>> AliasChangesAfter(int64_t) override { return std::vector<AliasChange>{}; }
  Result<int64_t> LatestAliasChangeId() override { return int64_t{0}; }

  static Result<ResolvedModel> ResolvePath(const ModelUri& uri) {
    std::error_code error;
    std::filesystem::path directory = std::filesystem::absolute(uri.path, error);
    if (error || !std::filesystem::is_directory(directory, error)) {
      return Status::NotFound(fmt::format("model directory '{}' does not exist", uri.path));
    }
    return ResolvedModel{uri.text, "", "1", directory};
  }
};

class StoreModelSource final : public ModelSource {
 public:
  StoreModelSource(storage::Store& store, const artifacts::LocalArtifactStore& artifacts)
      : store_(store), artifacts_(artifacts) {}

  Result<ResolvedModel> Resolve(const ModelUri& uri) override {
    switch (uri.kind) {
      case ModelUri::Kind::kPath:
        // Any API client may deploy: a path would let it load any directory the server can read.
        return Status::InvalidParameter(fmt::format(
            "'{}' is a local path; deployments in lathe server take runs:/<run id>/<path>, models:/<name>/<version> "
            "or models:/<name>@<alias> (log the package first: lathe models log)",
            uri.text));
      case ModelUri::Kind::kRun: {
        LATHE_ASSIGN_OR_RETURN(auto run, store_.GetRun(uri.run_id));
        LATHE_ASSIGN_OR_RETURN(auto directory, LocalDirectory(run.info.artifact_uri, uri.path));
        return ResolvedModel{uri.text, "", "1", std::move(directory)};
      }
      case ModelUri::Kind::kRegistryVersion: {
        LATHE_ASSIGN_OR_RETURN(auto version, store_.GetModelVersion(uri.name, uri.version));
        return FromVersion(uri, version);
      }
      case ModelUri::Kind::kRegistryAlias: {
        LATHE_ASSIGN_OR_RETURN(auto version, store_.GetModelVersionByAlias(uri.name, uri.alias));
        return FromVersion(uri, version);
      }
    }
    return Status::Internal("unknown model URI kind");
  }

  Result<std::vector<AliasChange>> AliasChangesAfter(int64_t after_id) override {
    LATHE_ASSIGN_OR_RETURN(auto moves, store_.GetAliasHistory("", after_id, 1000));
    std::vector<AliasChange> changes;
    changes.reserve(moves.size());
    for (auto& move : moves) changes.push_back({move.id, std::move(move.name), std::move(move.alias)});
    return changes;
  }

  Result<int64_t> LatestAliasChangeId() override {
    int64_t latest = 0;
    while (true) {
      LATHE_ASSIGN_OR_RETURN(auto moves, store_.GetAliasHistory("", latest, 1000));
      if (moves.empty()) return latest;
      latest = moves.back().id;
    }
  }

 private:
  Result<ResolvedModel> FromVersion(const ModelUri& uri, const storage::ModelVersion& version) {
    const std::string& location = version.storage_location.empty() ? version.source : version.storage_location;
    LATHE_ASSIGN_OR_RETURN(auto directory, LocationDirectory(location));
    return ResolvedModel{uri.text, version.name, std::to_string(version.version), std::move(directory)};
  }

  // A version's location: `runs:/<id>/<path>`, or an artifact URI / path the server holds.
  Result<std::filesystem::path> LocationDirectory(const std::string& location) {
    if (location.starts_with("runs:/")) {
      LATHE_ASSIGN_OR_RETURN(auto inner, ParseModelUri(location));
      LATHE_ASSIGN_OR_RETURN(auto run, store_.GetRun(inner.run_id));
      return LocalDirectory(run.info.artifact_uri, inner.path);
    }
    return LocalDirectory(location, "");
  }

  Result<std::filesystem::path> LocalDirectory(const std::string& artifact_uri, const std::string& sub_path) {
    auto relative = artifacts::RelativePathForUri(artifacts_, artifact_uri);
    if (!relative.ok()) {
      return Status::InvalidParameter(fmt::format("the model at '{}' is not in this server's artifact store: {}",
                                                  artifact_uri, relative.status().message()));
    }
    std::string path = *relative;
    if (!sub_path.empty()) path = path.empty() ? sub_path : path + "/" + sub_path;
    LATHE_ASSIGN_OR_RETURN(auto directory, artifacts_.Resolve(path));
    std::error_code error;
    if (!std::filesystem::is_directory(directory, error)) {
      return Status::NotFound(fmt::format("no model package at '{}{}{}'", artifact_uri, sub_path.empty() ? "" : "/",
                                          sub_path));
    }
    return directory;
  }

  storage::Store& store_;
  const artifacts::LocalArtifactStore& artifacts_;
};

}  // namespace

Result<ModelUri> ParseModelUri(const std::string& text) {
  ModelUri uri;
  uri.text = text;
  if (text.empty()) return BadUri(text, "empty");
  if (text.starts_with("models:/")) {
    std::string_view rest = std::string_view(text).substr(8);
    if (auto at = rest.rfind('@'); at != std::string_view::npos && rest.find('/') == std::string_view::npos) {
      uri.kind = ModelUri::Kind::kRegistryAlias;
      uri.name = std::string(rest.substr(0, at));
      uri.alias = std::string(rest.substr(at + 1));
      if (uri.name.empty() || uri.alias.empty()) return BadUri(text, "expected models:/<name>@<alias>");
      return uri;
    }
    auto slash = rest.rfind('/');
    if (slash == std::string_view::npos || slash == 0) {
      return BadUri(text, "expected models:/<name>/<version> or models:/<name>@<alias>");
    }
    uri.kind = ModelUri::Kind::kRegistryVersion;
    uri.name = std::string(rest.substr(0, slash));
    std::string_view number = rest.substr(slash + 1);
    auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), uri.version);
    if (error != std::errc() || end != number.data() + number.size() || uri.version < 1) {
      return BadUri(text, fmt::format("version '{}' is not a positive integer (stages are not supported; use an alias)",
                                      number));
    }
    return uri;
  }
  if (text.starts_with("runs:/")) {
    std::string_view rest = std::string_view(text).substr(6);
    auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 >= rest.size()) {
      return BadUri(text, "expected runs:/<run id>/<path>");
    }
    uri.kind = ModelUri::Kind::kRun;
    uri.run_id = std::string(rest.substr(0, slash));
    uri.path = std::string(rest.substr(slash + 1));
    while (!uri.path.empty() && uri.path.back() == '/') uri.path.pop_back();
    return uri;
  }
  if (text.find(":/") != std::string::npos && !text.starts_with("file:")) {
    return BadUri(text, "expected a directory, runs:/<run id>/<path>, models:/<name>/<version> or models:/<name>@<alias>");
  }
  uri.kind = ModelUri::Kind::kPath;
  uri.path = text.starts_with("file://") ? text.substr(7) : text.starts_with("file:") ? text.substr(5) : text;
  return uri;
}

std::unique_ptr<ModelSource> MakePathModelSource() { return std::make_unique<PathModelSource>(); }

std::unique_ptr<ModelSource> MakeStoreModelSource(storage::Store& store, const artifacts::LocalArtifactStore& artifacts) {
  return std::make_unique<StoreModelSource>(store, artifacts);
}

}  // namespace lathe::serving
