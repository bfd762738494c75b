// The MLmodel manifest of a model package, read and written in MLflow's YAML layout.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "models/model.h"
#include "models/signature.h"

namespace lathe::models {

struct MlModel {
  std::filesystem::path directory;  // the package directory the manifest was read from
  std::string artifact_path;
  std::string run_id;
  std::string model_uuid;
  std::string utc_time_created;     // "2026-11-24 18:55:06.123456", as MLflow writes it
  std::string mlflow_version;
  nlohmann::json flavors = nlohmann::json::object();  // flavor name -> its settings, as in the YAML
  Signature signature;
  std::string signature_inputs_json;   // the raw JSON strings, written back unchanged
  std::string signature_outputs_json;
  // `lathe_features: {features: [view:feature, ...], feature_repo_hash: ...}`.
  FeatureLookup feature_lookup;
};

// Reads `directory`/MLmodel. A missing file, bad YAML or a bad signature is kInvalidParameterValue
// naming the file.
Result<MlModel> ReadMlModel(const std::filesystem::path& directory);

// Writes `model` as `directory`/MLmodel (flavors, signature, model_uuid, utc_time_created, ...).
Status WriteMlModel(const MlModel& model, const std::filesystem::path& directory);

}  // namespace lathe::models
