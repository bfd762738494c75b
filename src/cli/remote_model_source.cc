// A ModelSource over a Lathe (or MLflow) tracking server's REST API: models are downloaded into a
// local cache, and alias moves are polled from Lathe's alias history.
#include "cli/remote_model_source.h"

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "http/client.h"
#include "http/url.h"

namespace lathe::cli {
namespace {

using nlohmann::json;

constexpr std::string_view kApi = "/api/2.0/mlflow/";
constexpr std::string_view kArtifacts = "/api/2.0/mlflow-artifacts/artifacts";
constexpr const char* kCompleteMarker = ".lathe-download-complete";

std::string Q(std::string_view value) { return http::EncodePercent(std::string(value), false); }

class RemoteModelSource final : public serving::ModelSource {
 public:
  RemoteModelSource(std::string tracking_uri, std::filesystem::path cache_dir)
      : tracking_uri_(std::move(tracking_uri)), cache_dir_(std::move(cache_dir)) {}

  Result<serving::ResolvedModel> Resolve(const serving::ModelUri& uri) override {
    using Kind = serving::ModelUri::Kind;
    serving::ResolvedModel resolved;
    resolved.uri = uri.text;
    resolved.version = "1";
    std::string artifact_uri;
    std::filesystem::path cache;
    switch (uri.kind) {
      case Kind::kPath: {
        std::error_code error;
        resolved.directory = std::filesystem::absolute(uri.path, error);
        if (error || !std::filesystem::is_directory(resolved.directory, error)) {
          return Status::NotFound(fmt::format("model directory '{}' does not exist", uri.path));
        }
        return resolved;
      }
      case Kind::kRun: {
        LATHE_ASSIGN_OR_RETURN(artifact_uri, RunArtifactUri(uri.run_id, uri.path));
        cache = cache_dir_ / "runs" / uri.run_id / uri.path;
        break;
      }
      case Kind::kRegistryAlias:
      case Kind::kRegistryVersion: {
        int64_t version = uri.version;
        if (uri.kind == Kind::kRegistryAlias) {
          LATHE_ASSIGN_OR_RETURN(auto found, CallServer(tracking_uri_, "GET",
                                                        fmt::format("{}registered-models/alias?name={}&alias={}", kApi,
                                                                    Q(uri.name), Q(uri.alias))));
          version = std::stoll(found["model_version"].value("version", "0"));
        }
        LATHE_ASSIGN_OR_RETURN(auto location,
                               CallServer(tracking_uri_, "GET",
                                          fmt::format("{}model-versions/get-download-uri?name={}&version={}", kApi,
                                                      Q(uri.name), version)));
        artifact_uri = location.value("artifact_uri", "");
        if (artifact_uri.starts_with("runs:/")) {
          LATHE_ASSIGN_OR_RETURN(auto inner, serving::ParseModelUri(artifact_uri));
          LATHE_ASSIGN_OR_RETURN(artifact_uri, RunArtifactUri(inner.run_id, inner.path));
        }
        resolved.registered_name = uri.name;
        resolved.version = std::to_string(version);
        cache = cache_dir_ / "models" / uri.name / resolved.version;
        break;
      }
    }
    LATHE_ASSIGN_OR_RETURN(auto relative, ArtifactPath(artifact_uri));
    if (!std::filesystem::exists(cache / kCompleteMarker)) {
      std::error_code error;
      std::filesystem::remove_all(cache, error);
      std::filesystem::create_directories(cache, error);
      if (error) return Status::Internal(fmt::format("cannot create {}: {}", cache.string(), error.message()));
      LATHE_RETURN_IF_ERROR(Download(relative, cache));
      if (!std::filesystem::exists(cache / "MLmodel")) {
        return Status::NotFound(fmt::format("no model package (MLmodel file) at '{}' on {}", artifact_uri, tracking_uri_));
      }
      std::ofstream(cache / kCompleteMarker).put('\n');
    }
    resolved.directory = cache;
    return resolved;
  }

  Result<std::vector<serving::AliasChange>> AliasChangesAfter(int64_t after_id) override {
    LATHE_ASSIGN_OR_RETURN(auto page,
                           CallServer(tracking_uri_, "GET", fmt::format("/api/lathe/alias-history?after_id={}", after_id)));
    std::vector<serving::AliasChange> changes;
    for (const auto& move : page.value("moves", json::array())) {
      changes.push_back({move.value("id", int64_t{0}), move.value("name", ""), move.value("alias", "")});
    }
    return changes;
  }

  Result<int64_t> LatestAliasChangeId() override {
    int64_t latest = 0;
    while (true) {
      LATHE_ASSIGN_OR_RETURN(auto changes, AliasChangesAfter(latest));
      if (changes.empty()) return latest;
      latest = changes.back().id;
    }
  }

 private:
  Result<std::string> RunArtifactUri(const std::string& run_id, const std::string& path) {
    LATHE_ASSIGN_OR_RETURN(auto run, CallServer(tracking_uri_, "GET", fmt::format("{}runs/get?run_id={}", kApi, Q(run_id))));
    std::string root = run["run"]["info"].value("artifact_uri", "");
    while (!root.empty() && root.back() == '/') root.pop_back();
    return path.empty() ? root : root + "/" + path;
  }

  // `mlflow-artifacts:/a/b` or `mlflow-artifacts://host:port/a/b` -> "a/b": the proxied path.
  static Result<std::string> ArtifactPath(const std::string& artifact_uri) {
    constexpr std::string_view kScheme = "mlflow-artifacts:";
    if (!artifact_uri.starts_with(kScheme)) {
      return Status::InvalidParameter(fmt::format(
          "the model is stored at '{}', which the server does not proxy (expected an mlflow-artifacts: URI)",
          artifact_uri));
    }
    std::string_view rest = std::string_view(artifact_uri).substr(kScheme.size());
    if (rest.starts_with("//")) {
      auto slash = rest.find('/', 2);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    while (rest.starts_with('/')) rest.remove_prefix(1);
    return std::string(rest);
  }

  Status Download(const std::string& remote_dir, const std::filesystem::path& local_dir) {
    LATHE_ASSIGN_OR_RETURN(auto listing, CallServer(tracking_uri_, "GET", fmt::format("{}?path={}", kArtifacts, Q(remote_dir))));
    const auto files = listing.value("files", json::array());
    for (const auto& file : files) {
      std::string name = file.value("path", "");
      if (auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
      if (name.empty() || name == "." || name == "..") continue;
      const std::string remote = remote_dir.empty() ? name : remote_dir + "/" + name;
      if (file.value("is_dir", false)) {
        std::error_code error;
        std::filesystem::create_directories(local_dir / name, error);
        LATHE_RETURN_IF_ERROR(Download(remote, local_dir / name));
        continue;
      }
      const std::string target = std::string(kArtifacts) + "/" + http::EncodePercent(remote, /*keep_slash=*/true);
      LATHE_ASSIGN_OR_RETURN(auto response, http::SendRequest(tracking_uri_, "GET", target));
      if (response.status != 200) {
        return Status::NotFound(fmt::format("cannot download {}: the server answered {}", remote, response.status));
      }
      std::ofstream out(local_dir / name, std::ios::binary | std::ios::trunc);
      out.write(response.body.data(), static_cast<std::streamsize>(response.body.size()));
      if (!out) return Status::Internal(fmt::format("cannot write {}", (local_dir / name).string()));
    }
    return Status::Ok();
  }

  const std::string tracking_uri_;
  const std::filesystem::path cache_dir_;
};

}  // namespace

std::unique_ptr<serving::ModelSource> MakeRemoteModelSource(std::string tracking_uri, std::filesystem::path cache_dir) {
  return std::make_unique<RemoteModelSource>(std::move(tracking_uri), std::move(cache_dir));
}

}  // namespace lathe::cli
