// The loader of each model flavor (internal to the models module; LoadModel dispatches to them).
#pragma once

#include <memory>

#include "core/status.h"
#include "models/mlmodel.h"
#include "models/model.h"

namespace lathe::models {

// MLflow's `xgboost` flavor, served unchanged: `data` names the booster file.
Result<std::unique_ptr<Model>> LoadXgboostModel(const MlModel& manifest);
// Lathe's `lathe` flavor: a pipeline of preprocessing, one estimator and postprocessing.
Result<std::unique_ptr<Model>> LoadLatheModel(const MlModel& manifest);

}  // namespace lathe::models
