// The protocol-neutral request and response that domain modules handle; the http module adapts
// Beast's messages to these so that no domain code sees Beast.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace lathe {

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // percent-decoded, without the query string
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order, repeats kept
  std::string content_type;
  std::string body;                    // empty when the body went to body_file
  std::filesystem::path body_file;     // set for streamed uploads (artifact PUT)
  std::string request_id;
  std::string actor = "anonymous";
  std::string path_suffix;             // for prefix routes: the part of the path after the prefix

  // The first value of a query parameter, or nullptr.
  const std::string* QueryValue(std::string_view name) const {
    for (const auto& [key, value] : query) {
      if (key == name) return &value;
    }
    return nullptr;
  }
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::filesystem::path body_file;  // when set, the file's bytes are the body (artifact download)
  std::vector<std::pair<std::string, std::string>> headers;

  static ApiResponse Json(std::string body, int status = 200) {
    ApiResponse response;
    response.status = status;
    response.body = std::move(body);
    return response;
  }
  static ApiResponse Text(std::string body, int status = 200) {
    ApiResponse response;
    response.status = status;
    response.content_type = "text/plain; charset=utf-8";
    response.body = std::move(body);
    return response;
  }
};

// A handler answers with a response or with the Status that the http module turns into the route's
// error format.
using ApiHandler = std::function<Result<ApiResponse>(ApiRequest&)>;

// How failures are written: MLflow's `{"error_code", "message"}`, or `{"error": "..."}` (Open
// Inference Protocol).
enum class ErrorStyle { kMlflow, kInference };

// A route: exact path, or every path under `path` when `prefix` is true.
struct Route {
  std::string method;
  std::string path;
  ApiHandler handler;
  bool prefix = false;
  bool streams_upload = false;  // the body is written to a temporary file instead of memory
  ErrorStyle error_style = ErrorStyle::kMlflow;
};

}  // namespace lathe
