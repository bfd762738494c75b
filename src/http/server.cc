// The Beast-based implementation of HttpServer.
#include "http/server.h"

#include <atomic>
#include <limits>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/ids.h"
#include "http/router.h"
#include "http/url.h"

namespace lathe::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr uint32_t kHeaderLimit = 64 * 1024;
constexpr auto kIdleTimeout = std::chrono::seconds(120);

class ServerImpl;

// One connection: reads requests one after another (keep-alive), runs the route's handler on
// this thread, writes the response. All of a connection's work runs on its context's one thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerImpl& server) : stream_(std::move(socket)), server_(server) {}
  void Start();
  void CloseIfIdle();

 private:
  void ReadHeader();
  void OnHeader(beast::error_code error);
  void ReadBody(const Route* route, std::string suffix);
  void Handle(const Route* route, std::string suffix, bhttp::request_header<> header, std::string body,
              std::filesystem::path body_file);
  void SendError(const Status& status, ErrorStyle style, bool close);
  void Send(ApiResponse response, bool close);
  void Finish(bool close);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  ServerImpl& server_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> header_parser_;
  std::optional<bhttp::request_parser<bhttp::string_body>> string_parser_;
  std::optional<bhttp::request_parser<bhttp::file_body>> file_parser_;
  std::filesystem::path upload_path_;
  std::string request_id_;
  std::string method_;  // of the request in flight, for the access log
  std::string path_;
  std::string actor_;
  bool head_ = false;  // answer with GET's headers and no body
  std::chrono::steady_clock::time_point started_;
  std::atomic<bool> idle_{true};
  bool keep_alive_ = true;
};

class ServerImpl final : public HttpServer {
 public:
  ServerImpl(const ServerOptions& options, std::vector<Route> routes, Authenticator authenticator)
      : options_(options),
        router_(std::move(routes)),
        authenticator_(std::move(authenticator)),
        threads_(ThreadCount(options.threads)),
        contexts_(MakeContexts(threads_)),
        acceptor_(*contexts_[0]),
        signals_(*contexts_[0]) {}

  Status Bind() {
    beast::error_code error;
    auto address = asio::ip::make_address(options_.host, error);
    if (error) return Status::InvalidParameter(fmt::format("invalid host address '{}': {}", options_.host, error.message()));
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), error);
    if (!error) acceptor_.set_option(asio::socket_base::reuse_address(true), error);
    if (!error) acceptor_.bind(endpoint, error);
    if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
    if (error) {
      return Status::Unavailable(fmt::format("cannot listen on {}:{}: {}", options_.host, options_.port, error.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    return Status::Ok();
  }

  uint16_t port() const override { return port_; }

  void Run(bool handle_signals, const std::function<void()>& ready) override {
    if (handle_signals) {
      signals_.add(SIGTERM);
      signals_.add(SIGINT);
      signals_.async_wait([this](beast::error_code error, int signal) {
        if (!error) {
          spdlog::info("received signal {}, shutting down", signal);
          Shutdown();
        }
      });
    }
    Accept();
    if (ready) ready();
    // Contexts without connections yet must keep running until Stop().
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
    for (auto& context : contexts_) keep_running.push_back(asio::make_work_guard(*context));
    std::vector<std::thread> workers;
    for (int i = 1; i < threads_; ++i) workers.emplace_back([this, i] { contexts_[i]->run(); });
    contexts_[0]->run();
    for (auto& worker : workers) worker.join();
    spdlog::info("server stopped");
  }

  void Shutdown() override {
    asio::post(acceptor_.get_executor(), [this] {
      if (stopping_.exchange(true)) return;
      beast::error_code ignored;
      acceptor_.close(ignored);
      signals_.cancel(ignored);
      CloseIdleSessions();
      // In-flight requests finish and their connections close; past the drain time, stop anyway.
      drain_timer_.emplace(*contexts_[0], std::chrono::seconds(options_.drain_seconds));
      drain_timer_->async_wait([this](beast::error_code error) {
        if (!error) {
          spdlog::warn("drain time over, stopping with requests in flight");
          StopContexts();
        }
      });
      StopWhenDrained();
    });
  }

  bool stopping() const { return stopping_; }
  const ServerOptions& options() const { return options_; }
  const Router& router() const { return router_; }
  Result<std::string> Authenticate(std::string_view authorization) const {
    if (!authenticator_) return std::string("anonymous");
    return authenticator_(authorization);
  }

  void Register(const std::shared_ptr<Session>& session) {
    std::lock_guard lock(sessions_mutex_);
    sessions_.insert(session.get());
  }
  void Unregister(Session* session) {
    {
      std::lock_guard lock(sessions_mutex_);
      sessions_.erase(session);
    }
    if (stopping_) asio::post(acceptor_.get_executor(), [this] { StopWhenDrained(); });
  }

 private:
  void Accept() {
    // Connections go round-robin to the threads' contexts and stay there.
    asio::io_context& context = *contexts_[next_context_++ % contexts_.size()];
    acceptor_.async_accept(context, [this](beast::error_code error, tcp::socket socket) {
      if (error) {
        if (!stopping_ && error != asio::error::operation_aborted) {
          spdlog::warn("accept failed: {}", error.message());
          Accept();
        }
        return;
      }
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto session = std::make_shared<Session>(std::move(socket), *this);
      Register(session);
      session->Start();
      Accept();
    });
  }

  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int count) {
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    for (int i = 0; i < count; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
    return contexts;
  }

  void StopContexts() {
    for (auto& context : contexts_) context->stop();
  }

  void CloseIdleSessions() {
    std::lock_guard lock(sessions_mutex_);
    for (Session* session : sessions_) session->CloseIfIdle();
  }

  void StopWhenDrained() {
    std::lock_guard lock(sessions_mutex_);
    if (sessions_.empty()) {
      if (drain_timer_) drain_timer_->cancel();
      StopContexts();
    }
  }

  ServerOptions options_;
  Router router_;
  Authenticator authenticator_;
  int threads_;
  // One context per thread, each run by exactly that thread: a connection's handlers never hop
  // threads, need no strand, and never wake another thread (which cost more than the request).
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  size_t next_context_ = 0;  // used on contexts_[0]'s thread only
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  std::optional<asio::steady_timer> drain_timer_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex sessions_mutex_;
  std::unordered_set<Session*> sessions_;
};

void Session::Start() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
}

void Session::CloseIfIdle() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->idle_) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->stream_.cancel();
    }
  });
}

void Session::ReadHeader() {
  if (server_.stopping()) return Finish(true);
  idle_ = true;
  header_parser_.emplace();
  header_parser_->header_limit(kHeaderLimit);
  // Beast checks a declared Content-Length against the limit while parsing the header, before
  // the route (and so the limit that applies) is known: ReadBody checks it instead.
  header_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  string_parser_.reset();
  file_parser_.reset();
  stream_.expires_after(kIdleTimeout);
  bhttp::async_read_header(stream_, buffer_, *header_parser_,
                           [self = shared_from_this()](beast::error_code error, size_t) { self->OnHeader(error); });
}

void Session::OnHeader(beast::error_code error) {
  idle_ = false;
  started_ = std::chrono::steady_clock::now();
  method_ = path_ = "-";
  actor_.clear();
  head_ = false;
  if (error) {
    if (error != bhttp::error::end_of_stream && error != asio::error::operation_aborted &&
        error != beast::error::timeout && error != asio::error::connection_reset) {
      request_id_ = NewRequestId();
      return SendError(Status::BadRequest(fmt::format("malformed HTTP request: {}", error.message())),
                       ErrorStyle::kMlflow, true);
    }
    return Finish(true);
  }
  const auto& header = header_parser_->get();
  auto id = header["X-Request-Id"];
  request_id_ = id.empty() || id.size() > 128 ? NewRequestId() : std::string(id);
  keep_alive_ = header.keep_alive();
  std::string_view target = header.target();
  std::string path = DecodePercent(target.substr(0, target.find('?')), false);
  method_ = std::string(header.method_string());
  path_ = path;
  head_ = header.method() == bhttp::verb::head;
  auto match = server_.router().Find(header.method_string(), path);
  if (match.route == nullptr) {
    Status status = match.path_exists
                        ? Status(ErrorCode::kMethodNotAllowed,
                                 fmt::format("method {} is not allowed for {}", std::string(header.method_string()), path))
                        : Status(ErrorCode::kEndpointNotFound, fmt::format("no endpoint at {}", path));
    // The body of a request nobody reads would corrupt the next one on this connection.
    return SendError(status, ErrorStyle::kMlflow, true);
  }
  ReadBody(match.route, std::move(match.suffix));
}

void Session::ReadBody(const Route* route, std::string suffix) {
  const auto& options = server_.options();
  auto& header = header_parser_->get();
  if (header[bhttp::field::expect] == "100-continue") {
    // curl waits for this before sending large bodies.
    auto interim = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, header.version());
    bhttp::write(stream_, *interim);
  }
  uint64_t limit = route->streams_upload ? options.max_upload_bytes : options.max_body_bytes;
  if (auto declared = header_parser_->content_length(); declared && *declared > limit) {
    return SendError(Status::LimitExceeded(fmt::format("the request body of {} bytes is larger than the limit of {} bytes",
                                                       *declared, limit)),
                     route->error_style, true);
  }
  if (route->streams_upload) {
    std::error_code fs_error;
    std::filesystem::create_directories(options.upload_dir, fs_error);
    upload_path_ = std::filesystem::path(options.upload_dir) / ("upload-" + request_id_ + "-" + NewRequestId());
    file_parser_.emplace(std::move(*header_parser_));
    file_parser_->body_limit(limit);
    beast::error_code error;
    file_parser_->get().body().open(upload_path_.c_str(), beast::file_mode::write, error);
    if (error) {
      return SendError(Status::Internal(fmt::format("cannot stage upload: {}", error.message())), route->error_style, true);
    }
    stream_.expires_never();
    bhttp::async_read(stream_, buffer_, *file_parser_,
                      [self = shared_from_this(), route, suffix = std::move(suffix)](beast::error_code error, size_t) mutable {
                        auto& message = self->file_parser_->get();
                        message.body().close();
                        if (error) {
                          std::error_code ignored;
                          std::filesystem::remove(self->upload_path_, ignored);
                          if (error == bhttp::error::body_limit) {
                            return self->SendError(Status::LimitExceeded(fmt::format(
                                                       "the upload is larger than the limit of {} bytes",
                                                       self->server_.options().max_upload_bytes)),
                                                   route->error_style, true);
                          }
                          return self->Finish(true);
                        }
                        bhttp::request_header<> header = message.base();
                        self->Handle(route, std::move(suffix), std::move(header), {}, self->upload_path_);
                      });
    return;
  }
  string_parser_.emplace(std::move(*header_parser_));
  string_parser_->body_limit(limit);
  stream_.expires_after(kIdleTimeout);
  bhttp::async_read(stream_, buffer_, *string_parser_,
                    [self = shared_from_this(), route, suffix = std::move(suffix)](beast::error_code error, size_t) mutable {
                      if (error) {
                        if (error == bhttp::error::body_limit) {
                          return self->SendError(
                              Status::LimitExceeded(fmt::format("the request body is larger than the limit of {} bytes",
                                                                self->server_.options().max_body_bytes)),
                              route->error_style, true);
                        }
                        if (error == bhttp::error::end_of_stream || error == beast::error::timeout) {
                          return self->Finish(true);
                        }
                        return self->SendError(Status::BadRequest(fmt::format("malformed HTTP request: {}", error.message())),
                                               route->error_style, true);
                      }
                      auto message = self->string_parser_->release();
                      std::string body = std::move(message.body());
                      bhttp::request_header<> header = std::move(message.base());
                      self->Handle(route, std::move(suffix), std::move(header), std::move(body), {});
                    });
}

void Session::Handle(const Route* route, std::string suffix, bhttp::request_header<> header, std::string body,
                     std::filesystem::path body_file) {
  ApiRequest request;
  request.method = head_ ? "GET" : std::string(header.method_string());
  std::string_view target = header.target();
  auto question = target.find('?');
  request.path = path_;  // decoded once, when the header arrived
  if (question != std::string_view::npos) request.query = ParseQueryString(target.substr(question + 1));
  request.content_type = std::string(header[bhttp::field::content_type]);
  request.body = std::move(body);
  request.body_file = std::move(body_file);
  request.request_id = request_id_;
  request.path_suffix = std::move(suffix);
  auto actor = server_.Authenticate(header[bhttp::field::authorization]);
  if (!actor.ok()) return SendError(actor.status(), route->error_style, !keep_alive_);
  request.actor = std::move(actor).value();
  actor_ = request.actor;

  Result<ApiResponse> response = Status::Internal("handler did not run");
  try {
    response = route->handler(request);
  } catch (const std::exception& error) {
    // A handler bug must cost one request, not the process.
    spdlog::error("request_id={} handler for {} threw: {}", request_id_, request.path, error.what());
    response = Status::Internal("internal error; see the server log for request id " + request_id_);
  }
  if (!request.body_file.empty()) {
    std::error_code ignored;
    std::filesystem::remove(request.body_file, ignored);
  }
  if (!response.ok()) return SendError(response.status(), route->error_style, !keep_alive_);
  Send(std::move(response).value(), !keep_alive_);
}

void Session::SendError(const Status& status, ErrorStyle style, bool close) {
  ApiResponse response = ApiResponse::Json(ErrorBody(status, style), HttpStatusFor(status.code()));
  // Overload and shutdown are temporary: tell well-behaved clients when to come back.
  if (status.code() == ErrorCode::kUnavailable) response.headers.emplace_back("Retry-After", "1");
  if (status.code() == ErrorCode::kInternalError) {
    spdlog::error("request_id={} internal error: {}", request_id_, status.message());
  }
  Send(std::move(response), close);
}

void Session::Send(ApiResponse api_response, bool close) {
  close = close || server_.stopping();
  auto finish = [self = shared_from_this(), close](beast::error_code, size_t) { self->Finish(close); };
  auto fill_header = [&](auto& message) {
    message.result(static_cast<unsigned>(api_response.status));
    message.set(bhttp::field::server, "lathe");
    message.set(bhttp::field::content_type, api_response.content_type);
    message.set("X-Request-Id", request_id_);
    for (auto& [name, value] : api_response.headers) message.set(name, value);
    message.keep_alive(!close);
  };
  auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_);
  spdlog::info("request_id={} actor={} method={} path={} status={} duration_us={}", request_id_,
               actor_.empty() ? "-" : actor_, method_, path_, api_response.status, elapsed.count());
  stream_.expires_after(kIdleTimeout);
  if (head_) {
    auto message = std::make_shared<bhttp::response<bhttp::empty_body>>();
    fill_header(*message);
    std::error_code size_error;
    message->content_length(api_response.body_file.empty() ? api_response.body.size()
                                                           : std::filesystem::file_size(api_response.body_file, size_error));
    auto serializer = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*message);
    serializer->split(true);
    bhttp::async_write_header(stream_, *serializer,
                              [message, serializer, finish](beast::error_code error, size_t n) { finish(error, n); });
    return;
  }
  if (!api_response.body_file.empty()) {
    auto message = std::make_shared<bhttp::response<bhttp::file_body>>();
    fill_header(*message);
    beast::error_code error;
    message->body().open(api_response.body_file.c_str(), beast::file_mode::scan, error);
    if (error) return SendError(Status::NotFound("the artifact disappeared while being read"), ErrorStyle::kMlflow, close);
    message->prepare_payload();
    bhttp::async_write(stream_, *message, [message, finish](beast::error_code error, size_t n) { finish(error, n); });
    return;
  }
  auto message = std::make_shared<bhttp::response<bhttp::string_body>>();
  fill_header(*message);
  message->body() = std::move(api_response.body);
  message->prepare_payload();
  bhttp::async_write(stream_, *message, [message, finish](beast::error_code error, size_t n) { finish(error, n); });
}

void Session::Finish(bool close) {
  if (!close && !server_.stopping()) return ReadHeader();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.socket().close(ignored);
  server_.Unregister(this);
}

}  // namespace

int ThreadCount(int threads) {
  return threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Result<std::unique_ptr<HttpServer>> HttpServer::Create(const ServerOptions& options, std::vector<Route> routes,
                                                       Authenticator authenticator) {
  auto server = std::make_unique<ServerImpl>(options, std::move(routes), std::move(authenticator));
  LATHE_RETURN_IF_ERROR(server->Bind());
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace lathe::http
