// The serving endpoints: Open Inference Protocol v2, MLflow's scoring protocol, Prometheus
// metrics, and the deployment admin API. Adapts ApiRequest to the DeploymentManager.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/api.h"
#include "models/model.h"
#include "monitoring/prediction_event.h"
#include "serving/codec.h"
#include "serving/deployment_manager.h"
#include "serving/metrics.h"

namespace lathe::serving {

// Appends the columns a model's feature lookup declares (fetched by the entity keys among
// `columns`) to `columns`; `model` names the deployment, for metrics and messages.
using FeatureFetcher = std::function<Status(const models::FeatureLookup& lookup, const std::string& model,
                                            std::vector<models::Tensor>& columns)>;

struct ServingApiOptions {
  DecodeLimits limits;
  // Set inside `lathe server`, where the feature store lives; models that declare a feature lookup
  // are refused without it.
  FeatureFetcher fetch_features;
  // Receives every successful prediction (inputs after the feature fetch, outputs, ids, timing) for
  // the prediction log; it must only enqueue. Unset: nothing is logged.
  std::function<void(monitoring::PredictionEvent&&)> log_prediction;
  // `lathe models serve` serves /health itself; inside `lathe server` the server already does.
  bool serve_health = false;
};

// /v2/..., /invocations, /models/<name>/invocations, /ping, /metrics.
std::vector<Route> InferenceRoutes(DeploymentManager& manager, MetricsRegistry& metrics,
                                   const ServingApiOptions& options);

// Records a change to a deployment (action "deployments/create", "deployments/update" or
// "deployments/delete") by the request's actor in the audit log.
using DeploymentAudit = std::function<Status(const ApiRequest& request, const std::string& action,
                                             const std::string& deployment)>;

// /api/lathe/deployments: list, create, describe, replace and delete deployments.
std::vector<Route> DeploymentRoutes(DeploymentManager& manager, DeploymentAudit audit);

}  // namespace lathe::serving
