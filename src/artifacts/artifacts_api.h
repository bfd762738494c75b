// MLflow's proxied artifact service (`/api/2.0/mlflow-artifacts/artifacts`): upload, download,
// list and delete files in the local artifact store.
#pragma once

#include <vector>

#include "artifacts/artifact_store.h"
#include "core/api.h"

namespace lathe::artifacts {

// GET/PUT/DELETE `.../artifacts/<path>` (prefix routes; PUT streams its body to a file) and
// GET `.../artifacts?path=<dir>` for listing. The routes keep a reference to `store`.
std::vector<Route> ArtifactRoutes(LocalArtifactStore& store);

}  // namespace lathe::artifacts
