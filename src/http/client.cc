// Blocking HTTP client on Beast.
#include "http/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

namespace lathe::http {

Result<ClientResponse> SendRequest(const std::string& base_url, const std::string& method, const std::string& target,
                                   const std::string& body, const std::string& content_type, int64_t timeout_ms) {
  namespace beast = boost::beast;
  namespace bhttp = beast::http;
  using tcp = boost::asio::ip::tcp;

  std::string_view url = base_url;
  if (!url.starts_with("http://")) {
    return Status::InvalidParameter(fmt::format("tracking URI '{}' must start with http://", base_url));
  }
  url.remove_prefix(7);
  auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string prefix = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  std::string host(authority), port = "80";
  if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = std::string(authority.substr(0, colon));
    port = std::string(authority.substr(colon + 1));
  }
  // Beast's stream timeouts only bound asynchronous operations, so the exchange is a chain of
  // them run to completion on a private io_context; one expiry covers connect, write and read.
  try {
    boost::asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    bhttp::verb verb = bhttp::string_to_verb(method);
    bhttp::request<bhttp::string_body> request(verb, prefix + target, 11);
    request.set(bhttp::field::host, std::string(authority));
    request.set(bhttp::field::user_agent, "lathe-cli");
    if (!body.empty()) {
      request.set(bhttp::field::content_type, content_type);
      request.body() = body;
    }
    request.prepare_payload();
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1ull << 30);

    auto endpoints = resolver.resolve(host, port);
    beast::error_code error;
    std::string_view failed_step;
    auto fail = [&](std::string_view step, beast::error_code code) {
      failed_step = step;
      error = code;
    };
    if (timeout_ms > 0) stream.expires_after(std::chrono::milliseconds(timeout_ms));
    stream.async_connect(endpoints, [&](beast::error_code code, const tcp::endpoint&) {
      if (code) return fail("connect", code);
      bhttp::async_write(stream, request, [&](beast::error_code code, size_t) {
        if (code) return fail("write", code);
        bhttp::async_read(stream, buffer, parser, [&](beast::error_code code, size_t) {
          if (code) fail("read", code);
        });
      });
    });
    io.run();
    if (error) {
      return Status::Unavailable(fmt::format("cannot reach {}: {}: {}", base_url, failed_step, error.message()));
    }
    auto response = parser.release();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return ClientResponse{static_cast<int>(response.result_int()), std::string(response[bhttp::field::content_type]),
                          std::move(response.body()), std::string(response[bhttp::field::retry_after])};
  } catch (const std::exception& error) {
    return Status::Unavailable(fmt::format("cannot reach {}: {}", base_url, error.what()));
  }
}

}  // namespace lathe::http
