// The models module's public contract: a loaded model package that predicts batches of tensors,
// and the loader that reads a package directory (MLflow's MLmodel layout) into one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/signature.h"
#include "models/tensor.h"

namespace lathe::models {

// What a loaded model tells the serving layer and the OIP metadata endpoint about itself.
// Inputs that the server fetches from the feature store's online store before predicting: a
// request then carries the entity keys (and request fields), not the features themselves.
struct FeatureLookup {
  std::vector<std::string> features;  // "view:feature"; each becomes the input column "feature"
  std::string feature_repo_hash;      // the definitions the model was trained with; may be empty
  bool empty() const { return features.empty(); }
};

struct ModelMetadata {
  std::string flavor;      // "xgboost" or "lathe"
  std::string evaluator;   // "native-tree-ensemble", "xgboost-c-api", "linear", ...
  std::string model_uuid;  // from MLmodel, may be empty
  // How requests map onto the model's inputs: kTensor takes one [N, F] tensor, kColumns one
  // tensor of shape [N] or [N, 1] per column, named after the column.
  InputMode input_mode = InputMode::kTensor;
  std::vector<TensorSpec> inputs;   // after binding, Predict receives exactly these, in order
  std::vector<TensorSpec> outputs;  // what Predict writes, in order
  uint64_t memory_bytes = 0;        // estimate of what the loaded model holds, for the memory budget
  // For kColumns: Predict also takes the columns packed into one [N, C] tensor (see BindInputs),
  // which saves a tensor per column for models that work on a dense matrix.
  bool packs_numeric_columns = false;
  // False when predict calls serialize inside the model (the XGBoost C API): the batcher then
  // merges concurrent requests into one call rather than running calls side by side.
  bool concurrent_predicts = true;
  FeatureLookup feature_lookup;  // from the MLmodel's `lathe_features`
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelMetadata& metadata() const = 0;

  // Predicts every row of `inputs`, which BindInputs (signature.h) has checked against
  // metadata().inputs: one tensor per input, in order, all with the same row count (>= 1), or the
  // packed form when metadata().packs_numeric_columns.
  // Appends one tensor per metadata().outputs entry to `outputs`, each with that row count.
  // Thread-safe: the serving layer predicts several batches at once.
  virtual Status Predict(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) const = 0;
};

// Loads the package in `directory` (an MLmodel file plus its data files). Chooses the flavor:
// `lathe` when present, else `xgboost`. Errors name the file and what is wrong with it, e.g. an
// XGBoost model newer than the library that serves it.
Result<std::unique_ptr<Model>> LoadModel(const std::filesystem::path& directory);

}  // namespace lathe::models
