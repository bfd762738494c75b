// Reading and writing MLflow's MLmodel YAML manifest.
#include "models/mlmodel.h"

#include <fstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace lathe::models {
namespace {

// Scalars stay strings ("1.7.4", "3.10" must not become numbers); only null and booleans, which
// MLflow writes unquoted and reads back as such, are typed.
nlohmann::json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() != "!") {  // "!" marks a quoted scalar: always a string
        if (text == "null" || text == "~") return nullptr;
        if (text == "true") return true;
        if (text == "false") return false;
      }
      return text;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& item : node) list.push_back(YamlToJson(item));
      return list;
    }
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& item : node) object[item.first.as<std::string>()] = YamlToJson(item.second);
      return object;
    }
  }
  return nullptr;
}

void EmitJson(YAML::Emitter& out, const nlohmann::json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, item] : value.items()) {
      out << YAML::Key << key << YAML::Value;
      EmitJson(out, item);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& item : value) EmitJson(out, item);
    out << YAML::EndSeq;
  } else if (value.is_null()) {
    out << YAML::Null;
  } else if (value.is_boolean()) {
    out << value.get<bool>();
  } else if (value.is_string()) {
    out << value.get<std::string>();
  } else {
    out << value.dump();
  }
}

std::string ScalarOrEmpty(const YAML::Node& root, const char* key) {
  const YAML::Node node = root[key];
  return node && node.IsScalar() ? node.Scalar() : std::string();
}

}  // namespace

Result<MlModel> ReadMlModel(const std::filesystem::path& directory) {
  const auto path = directory / "MLmodel";
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return Status::InvalidParameter(fmt::format("{} not found: a model package is a directory with an MLmodel file",
                                                path.string()));
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    return Status::InvalidParameter(fmt::format("{}: invalid YAML: {}", path.string(), e.what()));
  }
  if (!root.IsMap()) return Status::InvalidParameter(fmt::format("{}: expected a YAML mapping", path.string()));
  MlModel model;
  model.directory = directory;
  try {
    model.artifact_path = ScalarOrEmpty(root, "artifact_path");
    model.run_id = ScalarOrEmpty(root, "run_id");
    model.model_uuid = ScalarOrEmpty(root, "model_uuid");
    model.utc_time_created = ScalarOrEmpty(root, "utc_time_created");
    model.mlflow_version = ScalarOrEmpty(root, "mlflow_version");
    const YAML::Node flavors = root["flavors"];
    if (!flavors || !flavors.IsMap() || flavors.size() == 0) {
      return Status::InvalidParameter(fmt::format("{}: no flavors: the manifest must name at least one", path.string()));
    }
    model.flavors = YamlToJson(flavors);
    if (const YAML::Node lookup = root["lathe_features"]) {
      const YAML::Node features = lookup["features"];
      if (!lookup.IsMap() || !features || !features.IsSequence() || features.size() == 0) {
        return Status::InvalidParameter(
            fmt::format("{}: lathe_features needs a non-empty 'features' list of view:feature", path.string()));
      }
      for (const auto& feature : features) {
        std::string name = feature.as<std::string>();
        if (name.find(':') == std::string::npos) {
          return Status::InvalidParameter(fmt::format("{}: lathe_features: '{}' is not view:feature", path.string(), name));
        }
        model.feature_lookup.features.push_back(name);
      }
      model.feature_lookup.feature_repo_hash = ScalarOrEmpty(lookup, "feature_repo_hash");
    }
    const YAML::Node signature = root["signature"];
    if (signature && signature.IsMap()) {
      model.signature_inputs_json = ScalarOrEmpty(signature, "inputs");
      model.signature_outputs_json = ScalarOrEmpty(signature, "outputs");
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidParameter(fmt::format("{}: {}", path.string(), e.what()));
  }
  auto signature = ParseMlflowSignature(model.signature_inputs_json, model.signature_outputs_json);
  if (!signature.ok()) {
    return Status::InvalidParameter(fmt::format("{}: signature: {}", path.string(), signature.status().message()));
  }
  model.signature = std::move(*signature);
  return model;
}

Status WriteMlModel(const MlModel& model, const std::filesystem::path& directory) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  if (!model.artifact_path.empty()) out << YAML::Key << "artifact_path" << YAML::Value << model.artifact_path;
  out << YAML::Key << "flavors" << YAML::Value;
  EmitJson(out, model.flavors);
  if (!model.mlflow_version.empty()) out << YAML::Key << "mlflow_version" << YAML::Value << model.mlflow_version;
  out << YAML::Key << "model_uuid" << YAML::Value << model.model_uuid;
  if (!model.feature_lookup.empty()) {
    out << YAML::Key << "lathe_features" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "features" << YAML::Value << model.feature_lookup.features;
    if (!model.feature_lookup.feature_repo_hash.empty()) {
      out << YAML::Key << "feature_repo_hash" << YAML::Value << model.feature_lookup.feature_repo_hash;
    }
    out << YAML::EndMap;
  }
  if (!model.run_id.empty()) out << YAML::Key << "run_id" << YAML::Value << model.run_id;
  if (!model.signature_inputs_json.empty() || !model.signature_outputs_json.empty()) {
    out << YAML::Key << "signature" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "inputs" << YAML::Value << YAML::SingleQuoted << model.signature_inputs_json;
    out << YAML::Key << "outputs" << YAML::Value;
    if (model.signature_outputs_json.empty()) {
      out << YAML::Null;
    } else {
      out << YAML::SingleQuoted << model.signature_outputs_json;
    }
    out << YAML::Key << "params" << YAML::Value << YAML::Null;
    out << YAML::EndMap;
  }
  out << YAML::Key << "utc_time_created" << YAML::Value << YAML::SingleQuoted << model.utc_time_created;
  out << YAML::EndMap;
  if (!out.good()) return Status::Internal(fmt::format("cannot write MLmodel: {}", out.GetLastError()));
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  const auto path = directory / "MLmodel";
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << out.c_str() << "\n";
  file.close();
  if (!file) return Status::Internal(fmt::format("cannot write {}", path.string()));
  return Status::Ok();
}

}  // namespace lathe::models
