// The `lathe` flavor's pipeline document (pipeline.json): checked once, compiled into column-wise
// preprocessing steps, one estimator and postprocessing (internal to the models module; the format
// is documented in docs/models.md).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/model.h"
#include "models/signature.h"

namespace lathe::models {

// The newest `format_version` of pipeline.json this build reads.
inline constexpr int kPipelineFormatVersion = 1;

// What the package builder needs from a checked pipeline document.
struct PipelineOutline {
  std::vector<TensorSpec> inputs;  // one column each: FP64 ("double") or BYTES ("string", "datetime")
  size_t num_features = 0;         // the width of the matrix the steps produce for the estimator
  std::string estimator_file;      // the `xgboost` estimator's booster file, relative to the package; else ""
};

// Checks everything in `document` that needs no file: field names and types, step parameters,
// that every column a step names exists with the right kind, that the linear coefficients match the
// features the steps produce, and the postprocessing chain. Errors are kInvalidParameterValue and
// name the place, e.g. "steps[2] (one_hot): missing field 'categories'".
Result<PipelineOutline> CheckPipeline(const nlohmann::json& document);

// Compiles `document` into a model; the estimator's file is read from `directory`. The model's
// outputs are "predictions" ([N], or [N, K] for several scores) and, when postprocessing turns
// scores into classes, "probabilities" ([N, K]). Errors as for CheckPipeline, plus the booster's.
Result<std::unique_ptr<Model>> MakePipelineModel(const nlohmann::json& document, const std::filesystem::path& directory,
                                                 std::string model_uuid);

}  // namespace lathe::models
