// TEMPORARY, not to be committed: lets the binary link until the pipeline flavor lands.
#include "models/flavors.h"
namespace lathe::models {
Result<std::unique_ptr<Model>> LoadLatheModel(const MlModel&) {
  return Status::InvalidParameter("the lathe flavor is not built yet");
}
}  // namespace lathe::models
