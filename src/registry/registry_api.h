// MLflow's model-registry REST API: registered models, versions, stages, tags and aliases.
#pragma once

#include <vector>

#include "core/api.h"
#include "storage/store.h"

namespace lathe::registry {

std::vector<Route> RegistryRoutes(storage::Store& store);

}  // namespace lathe::registry
