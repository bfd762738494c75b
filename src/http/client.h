// A small blocking HTTP/1.1 client for the CLI and tests: one request per call, no TLS.
#pragma once

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
// Connection failures are kUnavailable with a message naming the address.
Result<ClientResponse> SendRequest(const std::string& base_url, const std::string& method, const std::string& target,
                                   const std::string& body = {}, const std::string& content_type = "application/json");

}  // namespace lathe::http
