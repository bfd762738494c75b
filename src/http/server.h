// Lathe's HTTP/1.1 server: Boost.Beast on a fixed pool of threads, keep-alive, size limits,
// request ids, an access log and graceful shutdown. It adapts HTTP to the protocol-neutral
// ApiRequest/ApiResponse of core/api.h; nothing outside this module sees Beast.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/api.h"
#include "core/status.h"

namespace lathe::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 5000;  // 0 picks a free port (see HttpServer::port())
  int threads = 0;       // 0: one per core
  uint64_t max_body_bytes = 16 * 1024 * 1024;      // JSON and other in-memory bodies
  uint64_t max_upload_bytes = 4ull * 1024 * 1024 * 1024;  // streamed artifact uploads
  std::string upload_dir;  // where streamed uploads are staged (same filesystem as the artifacts)
  int drain_seconds = 10;  // on shutdown, in-flight requests get this long to finish
};

// Maps the Authorization header (possibly empty) to an actor name. The default answers
// "anonymous" for every request; authentication plugs in here.
using Authenticator = std::function<Result<std::string>(std::string_view authorization)>;

class HttpServer {
 public:
  // Binds the listening socket; a busy port or a bad address is an error here, not later.
  static Result<std::unique_ptr<HttpServer>> Create(const ServerOptions& options, std::vector<Route> routes,
                                                    Authenticator authenticator = {});
  virtual ~HttpServer() = default;

  virtual uint16_t port() const = 0;
  // Serves until Shutdown() or SIGTERM/SIGINT (when `handle_signals`), then drains and returns.
  // `ready` runs once the signal handlers are in place, so that whoever it tells may stop us.
  virtual void Run(bool handle_signals, const std::function<void()>& ready = {}) = 0;
  // Stops accepting, lets in-flight requests finish, then makes Run() return. Thread-safe.
  virtual void Shutdown() = 0;
};

// The number of threads a ServerOptions::threads value means (0: one per core).
int ThreadCount(int threads);

// The HTTP status and MLflow error_code string of a failure (the one place this mapping lives).
int HttpStatusFor(ErrorCode code);
const char* MlflowErrorCodeName(ErrorCode code);
// The JSON error body for a failure in the route's style.
std::string ErrorBody(const Status& status, ErrorStyle style);

}  // namespace lathe::http
