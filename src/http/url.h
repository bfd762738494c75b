// URL pieces: percent-decoding and query strings (application/x-www-form-urlencoded).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lathe::http {

// Decodes %XX escapes (invalid ones are kept as they are); with `plus_is_space`, '+' becomes ' '.
std::string DecodePercent(std::string_view text, bool plus_is_space);
// Encodes everything but unreserved characters (RFC 3986) and, when `keep_slash`, '/'.
std::string EncodePercent(std::string_view text, bool keep_slash);
// `a=1&b=x%20y&a=2` -> [(a,1), (b,x y), (a,2)].
std::vector<std::pair<std::string, std::string>> ParseQueryString(std::string_view query);

}  // namespace lathe::http
