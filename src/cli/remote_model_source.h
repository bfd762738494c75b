// Models served by `lathe models serve` from a tracking server's registry and run artifacts.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "serving/model_source.h"

namespace lathe::cli {

// Resolves runs:/ and models:/ URIs through `tracking_uri`'s REST API and downloads each package
// once into `cache_dir` (per run path or per registered version); plain paths are read in place.
std::unique_ptr<serving::ModelSource> MakeRemoteModelSource(std::string tracking_uri, std::filesystem::path cache_dir);

}  // namespace lathe::cli
