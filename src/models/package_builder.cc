// Model packages of the `lathe` flavor, built from a pipeline spec and an optional booster.
#include "models/package_builder.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/ids.h"
#include "core/version.h"
#include "models/flavors.h"
#include "models/mlmodel.h"
#include "models/pipeline.h"

namespace lathe::models {
namespace {

using nlohmann::json;

constexpr const char* kPipelineFile = "pipeline.json";

// A plain YAML scalar typed as YAML 1.2's core schema types it; a quoted one stays a string.
json TypedScalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;
  if (text == "null" || text == "~" || text.empty()) return nullptr;
  if (text == "true" || text == "True") return true;
  if (text == "false" || text == "False") return false;
  const char* end = text.data() + text.size();
  int64_t integer = 0;
  if (auto [ptr, error] = std::from_chars(text.data(), end, integer); error == std::errc() && ptr == end)
    return integer;
  double number = 0;
  if (auto [ptr, error] = std::from_chars(text.data(), end, number); error == std::errc() && ptr == end) return number;
  return text;
}

json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return TypedScalar(node);
    case YAML::NodeType::Sequence: {
      json list = json::array();
      for (const auto& item : node) list.push_back(YamlToJson(item));
      return list;
    }
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& item : node) object[item.first.as<std::string>()] = YamlToJson(item.second);
      return object;
    }
    default:
      return nullptr;
  }
}

Result<json> ReadSpec(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Status::InvalidParameter(fmt::format("{}: cannot read the pipeline spec", path.string()));
  std::stringstream buffer;
  buffer << file.rdbuf();
  const std::string text = buffer.str();
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded()) return Status::InvalidParameter(fmt::format("{}: not valid JSON", path.string()));
    return document;
  }
  try {
    return YamlToJson(YAML::Load(text));
  } catch (const YAML::Exception& error) {
    return Status::InvalidParameter(fmt::format("{}: not valid YAML: {}", path.string(), error.what()));
  }
}

// MLflow's column signature of the pipeline's inputs, and tensor signature of its outputs.
std::string InputSignature(const std::vector<TensorSpec>& inputs) {
  json columns = json::array();
  for (const auto& spec : inputs)
    columns.push_back({{"type", spec.source_type}, {"name", spec.name}, {"required", true}});
  return columns.dump();
}

std::string OutputSignature(const std::vector<TensorSpec>& outputs) {
  json tensors = json::array();
  for (const auto& spec : outputs) {
    tensors.push_back({{"type", "tensor"},
                       {"name", spec.name},
                       {"tensor-spec", {{"dtype", spec.source_type}, {"shape", spec.shape}}}});
  }
  return tensors.dump();
}

// "2026-11-24 18:55:06.123456", as MLflow writes utc_time_created.
std::string UtcNow() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto micros = duration_cast<microseconds>(now.time_since_epoch()).count() % 1000000;
  return fmt::format("{:%Y-%m-%d %H:%M:%S}.{:06d}", fmt::gmtime(system_clock::to_time_t(now)), micros);
}

// Removes what a failed build wrote, and the output directory if the build created it.
class Cleanup {
 public:
  explicit Cleanup(std::filesystem::path directory) : directory_(std::move(directory)) {}
  ~Cleanup() {
    if (committed_) return;
    std::error_code ignored;
    for (const auto& path : written_) std::filesystem::remove(path, ignored);
    if (created_) std::filesystem::remove(directory_, ignored);
  }
  void created_directory() { created_ = true; }
  void wrote(std::filesystem::path path) { written_.push_back(std::move(path)); }
  void commit() { committed_ = true; }

 private:
  std::filesystem::path directory_;
  std::vector<std::filesystem::path> written_;
  bool created_ = false;
  bool committed_ = false;
};

Status PrepareDirectory(const std::filesystem::path& out_dir, Cleanup* cleanup) {
  std::error_code error;
  if (std::filesystem::exists(out_dir, error)) {
    if (!std::filesystem::is_directory(out_dir, error) || !std::filesystem::is_empty(out_dir, error)) {
      return Status::AlreadyExists(fmt::format("{} exists and is not an empty directory", out_dir.string()));
    }
    return Status::Ok();
  }
  if (!std::filesystem::create_directories(out_dir, error)) {
    return Status::InvalidParameter(fmt::format("cannot create {}: {}", out_dir.string(), error.message()));
  }
  cleanup->created_directory();
  return Status::Ok();
}

bool IsXgboostEstimator(const json& document) {
  return document.is_object() && document.contains("estimator") && document["estimator"].is_object() &&
         document["estimator"].value("type", "") == "xgboost";
}

}  // namespace

Status BuildLathePackage(const PackageSpec& spec, const std::filesystem::path& out_dir) {
  const std::string spec_name = spec.pipeline.string();
  LATHE_ASSIGN_OR_RETURN(json document, ReadSpec(spec.pipeline));
  if (!spec.booster.empty()) {
    if (!IsXgboostEstimator(document)) {
      return Status::InvalidParameter(
          fmt::format("{}: a booster file was given, but the estimator's type is not xgboost", spec_name));
    }
    document["estimator"]["file"] = spec.booster.filename().string();
  }
  auto outline = CheckPipeline(document);
  if (!outline.ok()) return Status::InvalidParameter(fmt::format("{}: {}", spec_name, outline.status().message()));

  std::filesystem::path booster_source;
  if (!outline->estimator_file.empty()) {
    const std::filesystem::path name = outline->estimator_file;
    if (name.filename() != name || name == kPipelineFile || name == "MLmodel") {
      return Status::InvalidParameter(
          fmt::format("{}: estimator (xgboost): 'file' must be a plain file name other "
                      "than {} and MLmodel, got '{}'",
                      spec_name, kPipelineFile, outline->estimator_file));
    }
    booster_source = spec.booster.empty() ? spec.pipeline.parent_path() / name : spec.booster;
    std::error_code error;
    if (!std::filesystem::is_regular_file(booster_source, error)) {
      return Status::InvalidParameter(
          fmt::format("{}: the booster file {} does not exist", spec_name, booster_source.string()));
    }
  }

  Cleanup cleanup(out_dir);
  LATHE_RETURN_IF_ERROR(PrepareDirectory(out_dir, &cleanup));
  if (!booster_source.empty()) {
    const auto target = out_dir / outline->estimator_file;
    std::error_code error;
    cleanup.wrote(target);
    if (!std::filesystem::copy_file(booster_source, target, error)) {
      return Status::Internal(
          fmt::format("cannot copy {} to {}: {}", booster_source.string(), target.string(), error.message()));
    }
  }
  {
    const auto target = out_dir / kPipelineFile;
    cleanup.wrote(target);
    std::ofstream file(target, std::ios::binary | std::ios::trunc);
    file << document.dump(2) << "\n";
    file.close();
    if (!file) return Status::Internal(fmt::format("cannot write {}", target.string()));
  }

  MlModel manifest;
  manifest.directory = out_dir;
  manifest.model_uuid = NewUuidHex();
  manifest.run_id = spec.run_id;
  manifest.artifact_path = spec.artifact_path;
  manifest.utc_time_created = UtcNow();
  manifest.flavors = {{"lathe", {{"pipeline", kPipelineFile}, {"lathe_version", kVersion}}}};
  auto model = MakePipelineModel(document, out_dir, manifest.model_uuid);
  if (!model.ok()) return Status::InvalidParameter(fmt::format("{}: {}", spec_name, model.status().message()));
  manifest.signature_inputs_json = InputSignature((*model)->metadata().inputs);
  manifest.signature_outputs_json = OutputSignature((*model)->metadata().outputs);
  cleanup.wrote(out_dir / "MLmodel");
  LATHE_RETURN_IF_ERROR(WriteMlModel(manifest, out_dir));

  // What was written must load as it will be served.
  LATHE_ASSIGN_OR_RETURN(MlModel written, ReadMlModel(out_dir));
  LATHE_ASSIGN_OR_RETURN(auto loaded, LoadLatheModel(written));
  cleanup.commit();
  return Status::Ok();
}

}  // namespace lathe::models
