#include "core/duration.h"

#include <cctype>

#include <fmt/format.h>

namespace lathe {

Result<int64_t> ParseDuration(const std::string& text) {
  if (text.empty()) return Status::InvalidParameter("empty duration");
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = text.substr(digits);
  const auto invalid = [&text] {
    return Status::InvalidParameter(fmt::format("invalid duration '{}': expected e.g. 30d, 12h, 15m, 45s, 500ms", text));
  };
  if (digits == 0 || digits > 12) return invalid();
  int64_t value = std::stoll(text.substr(0, digits));
  int64_t scale = 0;
  if (unit == "d") scale = 86400000;
  else if (unit == "h") scale = 3600000;
  else if (unit == "m") scale = 60000;
  else if (unit == "s" || (unit.empty() && value == 0)) scale = 1000;
  else if (unit == "ms") scale = 1;
  else return invalid();
  return value * scale;
}

}  // namespace lathe
