// The artifact proxy endpoints, answering exactly as MLflow 2.12.2's server does.
#include "artifacts/artifacts_api.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/json_dump.h"
#include "core/request_params.h"

namespace lathe::artifacts {
namespace {

constexpr std::string_view kPrefix = "/api/2.0/mlflow-artifacts/artifacts/";

// Text-like files are still sent as attachments (as MLflow does) so a browser never renders them.
std::string MimeTypeFor(std::string_view path) {
  auto dot = path.rfind('.');
  std::string_view extension = dot == std::string_view::npos ? "" : path.substr(dot + 1);
  if (extension == "json") return "application/json";
  if (extension == "txt" || extension == "log" || extension == "md" || extension == "yaml" || extension == "yml" ||
      extension == "MLmodel" || path.ends_with("MLmodel")) {
    return "text/plain";
  }
  if (extension == "csv") return "text/csv";
  if (extension == "html") return "text/html";
  if (extension == "png") return "image/png";
  if (extension == "jpg" || extension == "jpeg") return "image/jpeg";
  return "application/octet-stream";
}

std::string FileName(std::string_view path) {
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

Result<ApiResponse> Download(LocalArtifactStore& store, ApiRequest& request) {
  LATHE_ASSIGN_OR_RETURN(auto file, store.Get(request.path_suffix));
  ApiResponse response;
  response.content_type = MimeTypeFor(request.path_suffix);
  response.body_file = file;
  response.headers = {{"Content-Disposition", "attachment; filename=" + FileName(request.path_suffix)},
                      {"X-Content-Type-Options", "nosniff"}};
  return response;
}

Result<ApiResponse> Upload(LocalArtifactStore& store, ApiRequest& request) {
  if (request.body_file.empty()) {
    LATHE_RETURN_IF_ERROR(store.PutBytes(request.path_suffix, request.body));
  } else {
    LATHE_RETURN_IF_ERROR(store.Put(request.path_suffix, request.body_file));
  }
  return ApiResponse::Json("{}");
}

Result<ApiResponse> Delete(LocalArtifactStore& store, ApiRequest& request) {
  LATHE_RETURN_IF_ERROR(store.Delete(request.path_suffix));
  return ApiResponse::Json("{}");
}

Result<ApiResponse> List(LocalArtifactStore& store, ApiRequest& request) {
  const std::string* path = request.QueryValue("path");
  LATHE_ASSIGN_OR_RETURN(auto files, store.List(path ? *path : ""));
  nlohmann::json body = nlohmann::json::object();
  if (!files.empty()) {
    auto& out = body["files"] = nlohmann::json::array();
    for (const auto& file : files) {
      nlohmann::json entry = {{"path", file.path}, {"is_dir", file.is_dir}};
      if (!file.is_dir) entry["file_size"] = file.file_size;
      out.push_back(std::move(entry));
    }
  }
  return ApiResponse::Json(DumpJson(body));
}

}  // namespace

std::vector<Route> ArtifactRoutes(LocalArtifactStore& store) {
  auto bind = [&store](Result<ApiResponse> (*handler)(LocalArtifactStore&, ApiRequest&)) -> ApiHandler {
    return [&store, handler](ApiRequest& request) { return handler(store, request); };
  };
  std::string prefix(kPrefix);
  std::vector<Route> routes;
  routes.push_back({"GET", prefix, bind(Download), /*prefix=*/true});
  Route upload{"PUT", prefix, bind(Upload), /*prefix=*/true};
  upload.streams_upload = true;
  routes.push_back(std::move(upload));
  routes.push_back({"DELETE", prefix, bind(Delete), /*prefix=*/true});
  routes.push_back({"GET", prefix.substr(0, prefix.size() - 1), bind(List)});
  return routes;
}

}  // namespace lathe::artifacts
