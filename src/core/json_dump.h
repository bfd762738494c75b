// Serialising JSON that may hold bytes from a client: invalid UTF-8 is replaced, never thrown on.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace lathe {

inline std::string DumpJson(const nlohmann::json& value, int indent = -1) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace lathe
