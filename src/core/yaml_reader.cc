#include "core/yaml_reader.h"

#include <cmath>

#include <fmt/format.h>

#include "core/duration.h"

namespace lathe {

Result<YAML::Node> YamlReader::Parse(const std::string& text) const {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidParameter(fmt::format("{}:{}: {}", file_name_, e.mark.line + 1, e.msg));
  }
}

Status YamlReader::Error(const YAML::Node& node, const std::string& message) const {
  const int line = node.IsDefined() && node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
  if (line == 0) return Status::InvalidParameter(fmt::format("{}: {}", file_name_, message));
  return Status::InvalidParameter(fmt::format("{}:{}: {}", file_name_, line, message));
}

Status YamlReader::RequireMap(const YAML::Node& node, const std::string& what) const {
  if (!node.IsMap()) return Error(node, fmt::format("'{}' must be a mapping", what));
  return Status::Ok();
}

Status YamlReader::CheckKeys(const YAML::Node& map, const std::set<std::string>& allowed, const std::string& what) const {
  LATHE_RETURN_IF_ERROR(RequireMap(map, what));
  for (const auto& item : map) {
    auto key = item.first.as<std::string>("");
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& name : allowed) list += (list.empty() ? "" : ", ") + name;
      return Error(item.first, fmt::format("unknown key '{}' in {} (expected one of: {})", key, what, list));
    }
  }
  return Status::Ok();
}

Status YamlReader::ReadString(const YAML::Node& node, const std::string& what, std::string& out) const {
  if (!node.IsDefined() || !node.IsScalar()) return Error(node, fmt::format("'{}' must be a string", what));
  out = node.Scalar();
  if (out.empty()) return Error(node, fmt::format("'{}' must not be empty", what));
  return Status::Ok();
}

Status YamlReader::ReadNumber(const YAML::Node& node, const std::string& what, double& out) const {
  if (!node.IsDefined() || !node.IsScalar()) return Error(node, fmt::format("'{}' must be a number", what));
  try {
    out = node.as<double>();
  } catch (const YAML::Exception&) {
    return Error(node, fmt::format("'{}' must be a number, not '{}'", what, node.Scalar()));
  }
  if (!std::isfinite(out)) return Error(node, fmt::format("'{}' must be a finite number", what));
  return Status::Ok();
}

Status YamlReader::ReadInteger(const YAML::Node& node, const std::string& what, int64_t& out) const {
  if (!node.IsDefined() || !node.IsScalar()) return Error(node, fmt::format("'{}' must be an integer", what));
  try {
    out = node.as<int64_t>();
  } catch (const YAML::Exception&) {
    return Error(node, fmt::format("'{}' must be an integer, not '{}'", what, node.Scalar()));
  }
  return Status::Ok();
}

Status YamlReader::ReadBool(const YAML::Node& node, const std::string& what, bool& out) const {
  if (!node.IsDefined() || !node.IsScalar()) return Error(node, fmt::format("'{}' must be true or false", what));
  try {
    out = node.as<bool>();
  } catch (const YAML::Exception&) {
    return Error(node, fmt::format("'{}' must be true or false, not '{}'", what, node.Scalar()));
  }
  return Status::Ok();
}

Status YamlReader::ReadDuration(const YAML::Node& node, const std::string& what, int64_t& out) const {
  std::string text;
  LATHE_RETURN_IF_ERROR(ReadString(node, what, text));
  auto parsed = ParseDuration(text);
  if (!parsed.ok()) return Error(node, fmt::format("'{}': {}", what, parsed.status().message()));
  out = *parsed;
  return Status::Ok();
}

Status YamlReader::ReadStrings(const YAML::Node& node, const std::string& what, std::vector<std::string>& out) const {
  out.clear();
  if (node.IsScalar()) {
    out.emplace_back();
    return ReadString(node, what, out.back());
  }
  if (!node.IsSequence()) return Error(node, fmt::format("'{}' must be a list of strings", what));
  for (const auto& item : node) {
    out.emplace_back();
    LATHE_RETURN_IF_ERROR(ReadString(item, what, out.back()));
  }
  return Status::Ok();
}

}  // namespace lathe
