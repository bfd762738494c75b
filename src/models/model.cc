// LoadModel and the `xgboost` flavor: an MLflow-logged XGBoost model served without Python.
#include "models/model.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "models/dense_predictor.h"
#include "models/flavors.h"

namespace lathe::models {
namespace {

std::string FlavorString(const nlohmann::json& flavor, const char* key) {
  auto found = flavor.find(key);
  return found != flavor.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// MLflow's pyfunc answers an XGBClassifier's predict with class indices, a Booster's with the
// objective's output (values, probabilities); Lathe answers the same.
class XgboostModel final : public Model {
 public:
  XgboostModel(std::unique_ptr<DensePredictor> predictor, ModelMetadata metadata, bool predicts_labels)
      : predictor_(std::move(predictor)), metadata_(std::move(metadata)), predicts_labels_(predicts_labels) {}

  const ModelMetadata& metadata() const override { return metadata_; }

  Status Predict(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) const override {
    const size_t features = predictor_->num_features();
    const double* matrix = nullptr;
    size_t rows = 0;
    thread_local std::vector<double> stacked;
    if (inputs.size() == 1 && inputs[0].width() == static_cast<int64_t>(features)) {  // a tensor, or packed columns
      matrix = inputs[0].numbers.data();
      rows = static_cast<size_t>(inputs[0].rows());
    } else {
      rows = static_cast<size_t>(inputs[0].rows());
      stacked.resize(rows * features);
      for (size_t c = 0; c < features; ++c) {
        const double* column = inputs[c].numbers.data();
        for (size_t r = 0; r < rows; ++r) stacked[r * features + c] = column[r];
      }
      matrix = stacked.data();
    }
    const size_t per_row = predictor_->num_outputs();
    Tensor out;
    out.name = metadata_.outputs[0].name;
    out.datatype = metadata_.outputs[0].datatype;
    out.numbers.resize(rows * per_row);
    LATHE_RETURN_IF_ERROR(predictor_->Predict(matrix, rows, out.numbers.data()));
    if (predicts_labels_) {
      out.numbers = ToLabels(out.numbers, rows, per_row);
      out.shape = {static_cast<int64_t>(rows)};
    } else if (per_row == 1) {
      out.shape = {static_cast<int64_t>(rows)};
    } else {
      out.shape = {static_cast<int64_t>(rows), static_cast<int64_t>(per_row)};
    }
    outputs->push_back(std::move(out));
    return Status::Ok();
  }

 private:
  static std::vector<double> ToLabels(const std::vector<double>& scores, size_t rows, size_t per_row) {
    std::vector<double> labels(rows);
    for (size_t r = 0; r < rows; ++r) {
      const double* row = scores.data() + r * per_row;
      labels[r] = per_row == 1 ? (row[0] > 0.5 ? 1.0 : 0.0)
                               : static_cast<double>(std::max_element(row, row + per_row) - row);
    }
    return labels;
  }

  std::unique_ptr<DensePredictor> predictor_;
  ModelMetadata metadata_;
  bool predicts_labels_;
};

}  // namespace

Result<std::unique_ptr<Model>> LoadXgboostModel(const MlModel& manifest) {
  const auto& flavor = manifest.flavors["xgboost"];
  const std::string data = FlavorString(flavor, "data");
  if (data.empty()) {
    return Status::InvalidParameter(fmt::format("{}/MLmodel: the xgboost flavor names no data file",
                                                manifest.directory.string()));
  }
  LATHE_ASSIGN_OR_RETURN(auto predictor,
                         LoadXgboostPredictor(manifest.directory / data, FlavorString(flavor, "xgb_version")));
  const std::string model_class = FlavorString(flavor, "model_class");
  const bool predicts_labels = model_class.find("Classifier") != std::string::npos;

  ModelMetadata metadata;
  metadata.flavor = "xgboost";
  metadata.evaluator = std::string(predictor->evaluator());
  metadata.model_uuid = manifest.model_uuid;
  metadata.memory_bytes = predictor->memory_bytes();
  metadata.packs_numeric_columns = true;
  metadata.concurrent_predicts = predictor->evaluator() != "xgboost-c-api";
  const auto features = static_cast<int64_t>(predictor->num_features());
  const Signature& signature = manifest.signature;
  if (signature.has_inputs) {
    metadata.input_mode = signature.input_mode;
    metadata.inputs = signature.inputs;
    int64_t declared = 0;
    for (const auto& spec : signature.inputs) {
      if (spec.datatype == DataType::kBytes) {
        return Status::InvalidParameter(fmt::format(
            "{}/MLmodel: input '{}' is {}, but an XGBoost model takes numbers", manifest.directory.string(),
            spec.name, spec.source_type));
      }
      declared += signature.input_mode == InputMode::kColumns ? 1 : (spec.shape.size() > 1 ? spec.shape[1] : -1);
    }
    if (signature.input_mode == InputMode::kTensor && signature.inputs.size() != 1) {
      return Status::InvalidParameter(fmt::format("{}/MLmodel: an XGBoost model takes one input tensor, the signature has {}",
                                                  manifest.directory.string(), signature.inputs.size()));
    }
    if (declared >= 0 && declared != features) {
      return Status::InvalidParameter(fmt::format("{}/MLmodel: the signature has {} inputs but the booster uses {} features",
                                                  manifest.directory.string(), declared, features));
    }
  } else {
    metadata.input_mode = InputMode::kTensor;
    metadata.inputs.push_back({"input", DataType::kFp32, {-1, features}, "float32", true});
  }
  TensorSpec output{"predictions", DataType::kFp32, {-1}, "float32", true};
  if (predicts_labels) {
    output.datatype = DataType::kInt64;
    output.source_type = "int64";
  } else if (predictor->num_outputs() > 1) {
    output.shape = {-1, static_cast<int64_t>(predictor->num_outputs())};
  }
  metadata.outputs.push_back(std::move(output));
  return std::unique_ptr<Model>(new XgboostModel(std::move(predictor), std::move(metadata), predicts_labels));
}

namespace {

// A loaded model plus the feature lookup its manifest declares, which no flavor knows about.
class FeatureLookupModel final : public Model {
 public:
  FeatureLookupModel(std::unique_ptr<Model> inner, FeatureLookup lookup)
      : inner_(std::move(inner)), metadata_(inner_->metadata()) {
    metadata_.feature_lookup = std::move(lookup);
  }
  const ModelMetadata& metadata() const override { return metadata_; }
  Status Predict(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) const override {
    return inner_->Predict(inputs, outputs);
  }

 private:
  std::unique_ptr<Model> inner_;
  ModelMetadata metadata_;
};

Result<std::unique_ptr<Model>> WithFeatureLookup(Result<std::unique_ptr<Model>> model, const FeatureLookup& lookup) {
  if (!model.ok() || lookup.empty()) return model;
  return std::unique_ptr<Model>(new FeatureLookupModel(std::move(*model), lookup));
}

}  // namespace

Result<std::unique_ptr<Model>> LoadModel(const std::filesystem::path& directory) {
  LATHE_ASSIGN_OR_RETURN(MlModel manifest, ReadMlModel(directory));
  if (manifest.flavors.contains("lathe")) return WithFeatureLookup(LoadLatheModel(manifest), manifest.feature_lookup);
  if (manifest.flavors.contains("xgboost")) return WithFeatureLookup(LoadXgboostModel(manifest), manifest.feature_lookup);
  std::vector<std::string> names;
  for (const auto& [name, value] : manifest.flavors.items()) names.push_back(name);
  return Status::InvalidParameter(fmt::format("{}/MLmodel: no flavor Lathe can serve (has: {}; serves: lathe, xgboost)",
                                              directory.string(), fmt::format("{}", fmt::join(names, ", "))));
}

}  // namespace lathe::models
