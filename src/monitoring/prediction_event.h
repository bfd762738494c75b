// One served request as the prediction log records it. Header-only so that the serving layer can
// hand events over without linking the monitoring module.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/tensor.h"

namespace lathe::monitoring {

struct PredictionEvent {
  std::string deployment;
  std::string model;            // the registered model name, or the model URI when unregistered
  std::string model_version;
  std::string request_id;
  int64_t timestamp_ms = 0;     // when the request arrived, Unix epoch milliseconds
  double latency_ms = 0;
  std::vector<std::string> prediction_ids;  // one per row
  std::vector<models::Tensor> inputs;       // the model's named inputs, after any feature fetch
  std::vector<models::Tensor> outputs;      // the model's outputs
};

}  // namespace lathe::monitoring
