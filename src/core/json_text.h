// Writing JSON text by hand on hot paths (serving responses, prediction log lines), where building
// an nlohmann::json first would cost more than the answer itself.
#pragma once

#include <string>
#include <string_view>

namespace lathe {

// Appends `text` as a quoted JSON string: quotes, backslashes and control characters escaped, and
// each byte that does not start a valid UTF-8 sequence (RFC 3629: no overlongs, surrogates or code
// points past U+10FFFF) replaced by U+FFFD, so that the output always parses (a strict reader such
// as DuckDB's would otherwise reject the whole line).
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace lathe
