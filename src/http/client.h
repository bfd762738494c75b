// A small blocking HTTP/1.1 client for the CLI, tests and alert webhooks: one request per call, no TLS.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace lathe::http {

struct ClientResponse {
  int status = 0;
  std::string content_type;
  std::string body;
  std::string retry_after;  // the Retry-After header of a 503, when the server sent one
};

// `base_url` is http://host[:port][/prefix]; `target` is the path and query appended to it.
// Connection failures, and a request not answered within `timeout_ms` (connecting, sending and
// reading together; name resolution is not bounded; 0 waits as long as it takes), are kUnavailable
// with a message naming the address.
Result<ClientResponse> SendRequest(const std::string& base_url, const std::string& method, const std::string& target,
                                   const std::string& body = {}, const std::string& content_type = "application/json",
                                   int64_t timeout_ms = 0);

}  // namespace lathe::http
