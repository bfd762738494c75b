// Strict reading of user-written YAML files: every error names the file and line, unknown keys are
// refused with the list of known ones, and scalars are checked for their type.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/status.h"

namespace lathe {

class YamlReader {
 public:
  explicit YamlReader(std::string file_name) : file_name_(std::move(file_name)) {}

  // Parses text; a syntax error is reported at its line.
  Result<YAML::Node> Parse(const std::string& text) const;

  // "<file>:<line>: <message>" as an InvalidParameter.
  Status Error(const YAML::Node& node, const std::string& message) const;
  Status CheckKeys(const YAML::Node& map, const std::set<std::string>& allowed, const std::string& what) const;
  Status RequireMap(const YAML::Node& node, const std::string& what) const;

  Status ReadString(const YAML::Node& node, const std::string& what, std::string& out) const;
  Status ReadNumber(const YAML::Node& node, const std::string& what, double& out) const;
  Status ReadInteger(const YAML::Node& node, const std::string& what, int64_t& out) const;
  Status ReadBool(const YAML::Node& node, const std::string& what, bool& out) const;
  // "30d", "12h", "15m", "45s", "500ms" -> milliseconds.
  Status ReadDuration(const YAML::Node& node, const std::string& what, int64_t& out) const;
  // A list of strings (a single string is a list of one).
  Status ReadStrings(const YAML::Node& node, const std::string& what, std::vector<std::string>& out) const;

  const std::string& file_name() const { return file_name_; }

 private:
  std::string file_name_;
};

}  // namespace lathe
