// Builds a `lathe` flavor model package from a pipeline spec: what `lathe models package` runs.
#pragma once

#include <filesystem>
#include <string>

#include "core/status.h"

namespace lathe::models {

struct PackageSpec {
  // The pipeline spec, JSON or YAML (YAML unless the file starts with '{'); format: docs/models.md.
  std::filesystem::path pipeline;
  // Optional: the XGBoost model file of an `xgboost` estimator, copied into the package under its own
  // name (the spec's estimator `file` may then be left out). Without it, an `xgboost` estimator's
  // `file` is read relative to the spec's directory.
  std::filesystem::path booster;
  std::string run_id;         // optional, written to MLmodel
  std::string artifact_path;  // optional, written to MLmodel
};

// Checks the spec (unknown step or field, missing field, coefficients that do not match the
// features the steps produce, a booster that does not load or uses another number of features) and
// writes `out_dir`/pipeline.json, the booster and MLmodel with a `lathe` flavor, a new model_uuid,
// utc_time_created and a column signature of the pipeline's inputs and outputs. The package it
// writes loads with LoadModel. `out_dir` must be missing or empty (else kResourceAlreadyExists).
// Spec errors are kInvalidParameterValue naming the spec file and the place in it; after any error
// nothing written is left behind.
Status BuildLathePackage(const PackageSpec& spec, const std::filesystem::path& out_dir);

}  // namespace lathe::models
