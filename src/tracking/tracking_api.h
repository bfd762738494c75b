// MLflow's tracking REST API (experiments, runs, metrics, artifacts/list) and Lathe's audit
// endpoint, as routes over the Store and the artifact store.
#pragma once

#include <vector>

#include "artifacts/artifact_store.h"
#include "core/api.h"
#include "storage/store.h"

namespace lathe::tracking {

std::vector<Route> TrackingRoutes(storage::Store& store, artifacts::LocalArtifactStore& artifact_store);

// The artifact location of a new experiment: served through the artifact proxy, like
// `mlflow server --serve-artifacts`.
std::string DefaultArtifactLocation(int64_t experiment_id);

}  // namespace lathe::tracking
