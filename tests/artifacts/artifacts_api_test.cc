// The mlflow-artifacts proxy routes: MLflow 2.12.2's responses for upload, download, list, delete.
#include "artifacts/artifacts_api.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

namespace lathe::artifacts {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kListPath = "/api/2.0/mlflow-artifacts/artifacts";
constexpr std::string_view kFilePrefix = "/api/2.0/mlflow-artifacts/artifacts/";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string HeaderValue(const ApiResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

class ArtifactsApiTest : public ::testing::Test {
 protected:
  ArtifactsApiTest() : temp_(MakeTempDir()), store_(temp_ / "artifacts"), routes_(ArtifactRoutes(store_)) {}
  ~ArtifactsApiTest() override {
    std::error_code ignored;
    fs::remove_all(temp_, ignored);
  }

  static fs::path MakeTempDir() {
    std::string pattern = (fs::temp_directory_path() / "lathe-artifacts-api-XXXXXX").string();
    return ::mkdtemp(pattern.data()) != nullptr ? fs::path(pattern) : fs::path();
  }

  const Route& FindRoute(std::string_view method, bool prefix) const {
    for (const auto& route : routes_) {
      if (route.method == method && route.prefix == prefix) return route;
    }
    ADD_FAILURE() << "no route " << method << (prefix ? " (prefix)" : "");
    return routes_.front();
  }

  // What the http module hands over for `<method> /api/2.0/mlflow-artifacts/artifacts/<suffix>`.
  Result<ApiResponse> CallFile(std::string_view method, std::string suffix, std::string body = "",
                               fs::path body_file = {}) {
    ApiRequest request;
    request.method = std::string(method);
    request.path = std::string(kFilePrefix) + suffix;
    request.path_suffix = std::move(suffix);
    request.body = std::move(body);
    request.body_file = std::move(body_file);
    return FindRoute(method, true).handler(request);
  }

  Result<ApiResponse> CallList(std::optional<std::string> path) {
    ApiRequest request;
    request.method = "GET";
    request.path = std::string(kListPath);
    if (path) request.query.emplace_back("path", *path);
    return FindRoute("GET", false).handler(request);
  }

  fs::path Stage(std::string_view name, std::string_view content) {
    fs::path staged = temp_ / name;
    std::ofstream(staged, std::ios::binary) << content;
    return staged;
  }

  fs::path temp_;
  LocalArtifactStore store_;
  std::vector<Route> routes_;
};

TEST_F(ArtifactsApiTest, RoutesMatchMlflowsUrlMap) {
  ASSERT_EQ(routes_.size(), 4u);
  for (const auto& route : routes_) {
    EXPECT_EQ(route.path, route.prefix ? kFilePrefix : kListPath) << route.method;
    EXPECT_EQ(route.streams_upload, route.method == "PUT") << route.method;
    EXPECT_EQ(route.error_style, ErrorStyle::kMlflow);
  }
  EXPECT_FALSE(FindRoute("GET", false).prefix);
  EXPECT_TRUE(FindRoute("GET", true).prefix);
  EXPECT_TRUE(FindRoute("PUT", true).prefix);
  EXPECT_TRUE(FindRoute("DELETE", true).prefix);
}

TEST_F(ArtifactsApiTest, UploadFromStreamedFileMovesItIntoPlace) {
  fs::path staged = Stage("upload-1", "model bytes");
  auto response = CallFile("PUT", "1/abc/artifacts/model/model.pkl", "", staged);
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->content_type, "application/json");
  EXPECT_EQ(response->body, "{}");
  EXPECT_FALSE(fs::exists(staged));
  EXPECT_EQ(ReadFile(store_.root() / "1/abc/artifacts/model/model.pkl"), "model bytes");
}

TEST_F(ArtifactsApiTest, UploadFromMemoryBody) {
  auto response = CallFile("PUT", "1/abc/artifacts/notes.txt", "hello");
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->body, "{}");
  EXPECT_EQ(ReadFile(store_.root() / "1/abc/artifacts/notes.txt"), "hello");
}

TEST_F(ArtifactsApiTest, UploadReplacesAnExistingFile) {
  ASSERT_TRUE(CallFile("PUT", "a/b.txt", "", Stage("first", "first version")).ok());
  ASSERT_TRUE(CallFile("PUT", "a/b.txt", "", Stage("second", "second")).ok());
  EXPECT_EQ(ReadFile(store_.root() / "a/b.txt"), "second");
}

TEST_F(ArtifactsApiTest, UploadToUnsafePathIsInvalid) {
  for (std::string path : {"../escape.txt", "a/../../escape.txt", "/etc/passwd", "a//b.txt", "dir/", ""}) {
    auto response = CallFile("PUT", path, "", Stage("upload", "x"));
    EXPECT_EQ(response.status().code(), ErrorCode::kInvalidParameterValue) << path;
  }
  EXPECT_FALSE(fs::exists(temp_ / "escape.txt"));
}

TEST_F(ArtifactsApiTest, DownloadStreamsTheStoredFileAsAnAttachment) {
  ASSERT_TRUE(store_.PutBytes("1/abc/artifacts/model/MLmodel", "flavors: {}\n").ok());
  auto response = CallFile("GET", "1/abc/artifacts/model/MLmodel");
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(ReadFile(response->body_file), "flavors: {}\n");
  EXPECT_TRUE(response->body.empty());
  EXPECT_EQ(response->content_type, "text/plain");
  EXPECT_EQ(HeaderValue(*response, "Content-Disposition"), "attachment; filename=MLmodel");
  EXPECT_EQ(HeaderValue(*response, "X-Content-Type-Options"), "nosniff");
}

TEST_F(ArtifactsApiTest, DownloadContentTypesFollowMlflow) {
  const std::pair<std::string, std::string> cases[] = {
      {"metrics.json", "text/plain"},  // MLflow's text list wins over application/json
      {"table.csv", "text/plain"},
      {"conda.yaml", "text/plain"},
      {"MLproject", "text/plain"},
      {"train.py", "text/plain"},
      {"UPPER.JSON", "application/json"},  // the text list is case-sensitive, mimetypes is not
      {"plot.png", "image/png"},
      {"photo.JPG", "image/jpeg"},
      {"report.html", "text/html"},
      {"figure.svg", "image/svg+xml"},
      {"doc.pdf", "application/pdf"},
      {"bundle.zip", "application/zip"},
      {"model.tar.gz", "application/x-tar"},
      {"model.tgz", "application/x-tar"},
      {"log.txt.gz", "text/plain"},  // the text check looks at "gz"; mimetypes then at ".txt"
      {"weights.gz", "application/octet-stream"},
      {"model.pkl", "application/octet-stream"},
      {"data.parquet", "application/octet-stream"},
      {"noextension", "application/octet-stream"},
      {".hidden", "application/octet-stream"},
      {"trailing.", "application/octet-stream"},
  };
  for (const auto& [name, type] : cases) {
    ASSERT_TRUE(store_.PutBytes("types/" + name, "x").ok()) << name;
    auto response = CallFile("GET", "types/" + name);
    ASSERT_TRUE(response.ok()) << name << ": " << response.status().message();
    EXPECT_EQ(response->content_type, type) << name;
  }
}

TEST_F(ArtifactsApiTest, DownloadHeaderCannotBeSplitByTheFileName) {
  std::string name = "evil\r\nSet-Cookie: x=1.txt";
  ASSERT_TRUE(store_.PutBytes(name, "x").ok());
  auto response = CallFile("GET", name);
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(HeaderValue(*response, "Content-Disposition"), "attachment; filename=evil__Set-Cookie: x=1.txt");
}

TEST_F(ArtifactsApiTest, DownloadMissingFileIsNotFound) {
  auto response = CallFile("GET", "1/abc/artifacts/missing.bin");
  EXPECT_EQ(response.status().code(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(ArtifactsApiTest, DownloadOfADirectoryIsInvalid) {
  ASSERT_TRUE(store_.PutBytes("dir/a.txt", "x").ok());
  EXPECT_EQ(CallFile("GET", "dir").status().code(), ErrorCode::kInvalidParameterValue);
}

TEST_F(ArtifactsApiTest, DownloadThroughTraversalIsInvalid) {
  std::ofstream(temp_ / "secret.txt") << "secret";
  for (const std::string& path : std::initializer_list<std::string>{
           "../secret.txt", "a/../../secret.txt", std::string("/") + (temp_ / "secret.txt").string()}) {
    EXPECT_EQ(CallFile("GET", path).status().code(), ErrorCode::kInvalidParameterValue) << path;
  }
  fs::create_symlink(temp_ / "secret.txt", store_.root() / "link.txt");
  EXPECT_EQ(CallFile("GET", "link.txt").status().code(), ErrorCode::kInvalidParameterValue);
}

TEST_F(ArtifactsApiTest, DeleteAnswersEmptyObjectAndRemoves) {
  ASSERT_TRUE(store_.PutBytes("1/abc/artifacts/dir/a.txt", "x").ok());
  auto response = CallFile("DELETE", "1/abc/artifacts/dir");
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->body, "{}");
  EXPECT_FALSE(fs::exists(store_.root() / "1/abc/artifacts/dir"));
}

TEST_F(ArtifactsApiTest, DeleteOfMissingPathSucceedsAsInMlflow) {
  auto response = CallFile("DELETE", "1/never/artifacts");
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->body, "{}");
}

TEST_F(ArtifactsApiTest, DeleteOutsideTheRootIsInvalid) {
  std::ofstream(temp_ / "keep.txt") << "keep";
  EXPECT_EQ(CallFile("DELETE", "../keep.txt").status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(CallFile("DELETE", "").status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_TRUE(fs::exists(temp_ / "keep.txt"));
  EXPECT_TRUE(fs::is_directory(store_.root()));
}

TEST_F(ArtifactsApiTest, ListGivesNamesRelativeToThePathAndOmitsDirectorySizes) {
  ASSERT_TRUE(store_.PutBytes("1/abc/artifacts/model/MLmodel", "12345").ok());
  ASSERT_TRUE(store_.PutBytes("1/abc/artifacts/metrics.json", "{}").ok());
  auto response = CallList("1/abc/artifacts");
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(response->body), nlohmann::json::parse(R"({"files": [
      {"path": "metrics.json", "is_dir": false, "file_size": 2},
      {"path": "model", "is_dir": true}]})"));
  auto nested = CallList("1/abc/artifacts/model");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nlohmann::json::parse(nested->body),
            nlohmann::json::parse(R"({"files": [{"path": "MLmodel", "is_dir": false, "file_size": 5}]})"));
}

TEST_F(ArtifactsApiTest, ListWithoutPathListsTheRoot) {
  ASSERT_TRUE(store_.PutBytes("7/run/artifacts/x", "x").ok());
  for (const auto& path : {std::optional<std::string>(), std::optional<std::string>("")}) {
    auto response = CallList(path);
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(nlohmann::json::parse(response->body),
              nlohmann::json::parse(R"({"files": [{"path": "7", "is_dir": true}]})"));
  }
}

TEST_F(ArtifactsApiTest, ListOfMissingDirectoryOrFileIsAnEmptyObject) {
  ASSERT_TRUE(store_.PutBytes("a/file.txt", "x").ok());
  for (std::string path : {"no/such/dir", "a/file.txt"}) {
    auto response = CallList(path);
    ASSERT_TRUE(response.ok()) << path;
    EXPECT_EQ(response->body, "{}") << path;
  }
}

TEST_F(ArtifactsApiTest, ListWithUnsafePathIsInvalid) {
  for (const std::string& path :
       std::initializer_list<std::string>{"..", "../", "a/../..", "/etc", std::string("a\0b", 3)}) {
    EXPECT_EQ(CallList(path).status().code(), ErrorCode::kInvalidParameterValue) << path;
  }
}

TEST_F(ArtifactsApiTest, UploadedFileRoundTripsThroughListAndDownload) {
  std::string content(100000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(CallFile("PUT", "5/run/artifacts/blob.bin", "", Stage("blob", content)).ok());
  auto listing = CallList("5/run/artifacts");
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(nlohmann::json::parse(listing->body)["files"][0]["file_size"], 100000);
  auto download = CallFile("GET", "5/run/artifacts/blob.bin");
  ASSERT_TRUE(download.ok());
  EXPECT_EQ(ReadFile(download->body_file), content);
}

}  // namespace
}  // namespace lathe::artifacts
