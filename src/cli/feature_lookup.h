// Joins serving and the feature store inside `lathe server`: a model whose package declares a
// feature lookup gets its feature columns from the online store.
#pragma once

#include "features/features_api.h"
#include "serving/metrics.h"
#include "serving/serving_api.h"

namespace lathe::cli {

// Reads the lookup's features for the entity key columns of a request (other columns are passed
// as request data for on-demand features) and appends one column per feature, named after it.
// A model trained on other definitions than those that materialised a view still gets values;
// the server logs a warning and counts lathe_feature_version_mismatch_total{model}.
serving::FeatureFetcher MakeFeatureFetcher(features::FeatureService& service, serving::MetricsRegistry& metrics);

}  // namespace lathe::cli
