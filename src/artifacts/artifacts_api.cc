// The artifact proxy endpoints, answering as MLflow 2.12.2's server does with --serve-artifacts.
#include "artifacts/artifacts_api.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/json_dump.h"

namespace lathe::artifacts {
namespace {

constexpr std::string_view kArtifactsPath = "/api/2.0/mlflow-artifacts/artifacts";

// MLflow serves these as text/plain whatever Python's mimetypes says (mime_type_utils.py); the
// last two are the extension-less MLmodel and MLproject files, matched by their whole name.
constexpr std::array<std::string_view, 25> kTextExtensions = {
    "txt", "log", "err",  "cfg", "conf", "cnf", "cf",  "ini", "properties", "prop", "hocon",   "toml",     "yaml",
    "yml", "xml", "json", "js",  "py",   "py3", "csv", "tsv", "md",         "rst",  "MLmodel", "MLproject"};

struct MimeType {
  std::string_view extension;  // lower case, without the dot
  std::string_view type;
};

// The part of Python's default mimetypes table that artifacts plausibly use; extensions outside it
// fall back to application/octet-stream, as in MLflow when Python knows no type.
constexpr std::array<MimeType, 62> kMimeTypes = {{
    {"aac", "audio/aac"},
    {"avi", "video/x-msvideo"},
    {"avif", "image/avif"},
    {"bat", "text/plain"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"c", "text/plain"},
    {"css", "text/css"},
    {"csv", "text/csv"},
    {"doc", "application/msword"},
    {"eps", "application/postscript"},
    {"gif", "image/gif"},
    {"gtar", "application/x-gtar"},
    {"h", "text/plain"},
    {"h5", "application/x-hdf5"},
    {"hdf", "application/x-hdf"},
    {"heic", "image/heic"},
    {"heif", "image/heif"},
    {"htm", "text/html"},
    {"html", "text/html"},
    {"ico", "image/vnd.microsoft.icon"},
    {"jpe", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "application/javascript"},
    {"json", "application/json"},
    {"ksh", "text/plain"},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"mjs", "application/javascript"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpa", "video/mpeg"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"nc", "application/x-netcdf"},
    {"opus", "audio/opus"},
    {"pdf", "application/pdf"},
    {"pl", "text/plain"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"ps", "application/postscript"},
    {"py", "text/x-python"},
    {"pyc", "application/x-python-code"},
    {"sh", "application/x-sh"},
    {"srt", "text/plain"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tex", "application/x-tex"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"tsv", "text/tab-separated-values"},
    {"txt", "text/plain"},
    {"ustar", "application/x-ustar"},
    {"vtt", "text/vtt"},
    {"wasm", "application/wasm"},
    {"wav", "audio/x-wav"},
    {"webm", "video/webm"},
    {"xls", "application/vnd.ms-excel"},
    {"xml", "text/xml"},
    {"xsl", "application/xml"},
    {"zip", "application/zip"},
}};

// Python's os.path.splitext, without the dot: leading dots start a hidden name, not an extension.
std::string_view ExtensionOf(std::string_view name) {
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || name.find_first_not_of('.') >= dot) return {};
  return name.substr(dot + 1);
}

// MLflow's _guess_mime_type over Python's mimetypes.guess_type: compression suffixes are set
// aside ("model.tar.gz" is application/x-tar) and the lookup ignores case.
std::string_view MimeTypeFor(std::string_view file_name) {
  std::string_view extension = ExtensionOf(file_name);
  std::string_view text_key = extension.empty() ? file_name : extension;
  if (std::find(kTextExtensions.begin(), kTextExtensions.end(), text_key) != kTextExtensions.end()) {
    return "text/plain";
  }
  std::string lowered(file_name);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view name = lowered;
  extension = ExtensionOf(name);
  if (extension == "tgz" || extension == "taz" || extension == "tz" || extension == "tbz2" || extension == "txz") {
    return "application/x-tar";
  }
  if (extension == "svgz") return "image/svg+xml";
  if (extension == "gz" || extension == "z" || extension == "bz2" || extension == "xz" || extension == "br") {
    name.remove_suffix(extension.size() + 1);
    extension = ExtensionOf(name);
  }
  for (const auto& known : kMimeTypes) {
    if (known.extension == extension) return known.type;
  }
  return "application/octet-stream";
}

// The last component of a request path (a trailing '/' is ignored, as MLflow's normpath does).
std::string_view FileNameOf(std::string_view path) {
  if (path.ends_with('/')) path.remove_suffix(1);
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// A file name may hold any byte but CR, LF and other controls must not reach a header line.
std::string HeaderSafe(std::string_view text) {
  std::string safe(text);
  for (char& c : safe) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '_';
  }
  return safe;
}

Result<ApiResponse> Download(LocalArtifactStore& store, ApiRequest& request) {
  LATHE_ASSIGN_OR_RETURN(auto file, store.Get(request.path_suffix));
  std::string_view name = FileNameOf(request.path_suffix);
  ApiResponse response;
  response.content_type = std::string(MimeTypeFor(name));
  response.body_file = std::move(file);
  // Always an attachment, so a browser never renders an uploaded page on the server's origin.
  response.headers = {{"Content-Disposition", "attachment; filename=" + HeaderSafe(name)},
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
  // An empty repeated field is absent from proto JSON, so an empty listing is `{}`.
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
  std::string prefix = std::string(kArtifactsPath) + "/";
  std::vector<Route> routes;
  routes.push_back({"GET", prefix, bind(Download), /*prefix=*/true});
  routes.push_back({"PUT", prefix, bind(Upload), /*prefix=*/true, /*streams_upload=*/true});
  routes.push_back({"DELETE", prefix, bind(Delete), /*prefix=*/true});
  routes.push_back({"GET", std::string(kArtifactsPath), bind(List)});
  return routes;
}

}  // namespace lathe::artifacts
