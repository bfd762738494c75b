// The YAML config layer: options a user gave neither as flags nor as LATHE_* variables.
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "cli/commands.h"

namespace lathe::cli {

Status ApplyConfigFile(CLI::App& command, const std::string& explicit_path) {
  std::string path = explicit_path;
  if (path.empty()) {
    if (const char* env = std::getenv("LATHE_CONFIG")) path = env;
  }
  bool required = !path.empty();
  if (path.empty()) path = "lathe.yaml";
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    if (required) return Status::InvalidParameter(fmt::format("config file {} does not exist", path));
    return Status::Ok();
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Status::InvalidParameter(fmt::format("cannot read config file {}: {}", path, e.what()));
  }
  if (!root.IsDefined() || root.IsNull()) return Status::Ok();
  if (!root.IsMap()) return Status::InvalidParameter(fmt::format("config file {} must be a mapping of settings", path));
  for (const auto& entry : root) {
    std::string key = entry.first.as<std::string>();
    std::string flag = key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    CLI::Option* option = nullptr;
    try {
      option = command.get_option("--" + flag);
    } catch (const CLI::OptionNotFound&) {
      return Status::InvalidParameter(fmt::format("config file {}: unknown setting '{}' for `lathe {}`", path, key,
                                                  command.get_name()));
    }
    if (option->count() > 0) continue;  // given as a flag
    if (!option->get_envname().empty() && std::getenv(option->get_envname().c_str()) != nullptr) continue;
    if (!entry.second.IsScalar()) {
      return Status::InvalidParameter(fmt::format("config file {}: setting '{}' must be a single value", path, key));
    }
    try {
      option->add_result(entry.second.as<std::string>());
      option->run_callback();
    } catch (const CLI::ParseError& e) {
      return Status::InvalidParameter(fmt::format("config file {}: setting '{}': {}", path, key, e.what()));
    }
  }
  return Status::Ok();
}

}  // namespace lathe::cli
