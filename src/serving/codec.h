// Decoding and encoding of the two inference protocols: Open Inference Protocol v2 JSON tensors and
// MLflow's scoring protocol (/invocations). Both decode into the same InferenceRequest so that
// binding, batching and prediction never know which protocol a request came in on.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "models/tensor.h"

namespace lathe::serving {

struct InferenceRequest {
  std::string id;                              // OIP "id" (echoed back); empty when not given
  std::vector<models::Tensor> inputs;          // named tensors, or columns as [N] tensors
  std::vector<std::string> requested_outputs;  // OIP "outputs" names; empty = all
  // The caller's own ids, one per row, when given (OIP parameters.prediction_ids, MLflow
  // params.prediction_ids); otherwise the server makes "<request id>-<row>".
  std::vector<std::string> prediction_ids;
  // Routing key for sticky canary splits (OIP parameters.routing_key, MLflow params.routing_key).
  std::string routing_key;
};

struct InferenceResponse {
  std::string model_name;
  std::string model_version;
  std::string id;
  std::vector<models::Tensor> outputs;
  std::vector<std::string> prediction_ids;  // one per row
};

// Limits applied while decoding, so that a small body cannot expand into a huge allocation.
struct DecodeLimits {
  uint64_t max_elements = 16 * 1024 * 1024;  // values over all tensors
  uint64_t max_tensors = 4096;
};

// OIP v2 `POST .../infer` body: {"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype",
// "data", "parameters"?}], "outputs"?: [{"name"}]}. `data` is row-major, flat or nested; its element
// count must equal the product of `shape`; elements must fit `datatype` (BOOL: true/false;
// integers: integral values within the type's range; FP32/FP64: numbers, and the strings "NaN",
// "Infinity", "-Infinity"; BYTES: strings). Errors are kBadRequest/kInvalidParameterValue with a
// message naming the input, e.g. "input 'x': shape [2, 3] needs 6 values, data has 5".
Result<InferenceRequest> DecodeOipRequest(std::string_view body, const DecodeLimits& limits = {});

// OIP v2 response: {"model_name", "model_version", "id", "parameters": {"prediction_ids": [...]},
// "outputs": [{"name", "shape", "datatype", "data"}]} with flat data. Non-finite floats are written
// as the strings "NaN", "Infinity", "-Infinity" (JSON has no literal for them).
std::string EncodeOipResponse(const InferenceResponse& response);

// MLflow scoring: `content_type` "application/json" with exactly one of `dataframe_split`
// ({"columns", "data", "index"?}), `dataframe_records` ([{col: value}]), `instances` or `inputs`
// (a list of rows -> one [N, ...] tensor named "input"; a list of objects -> columns; an object of
// column -> list -> columns), plus optional "params"; or "text/csv" with a header row (columns;
// numbers where every value of a column parses as one, else strings; empty fields are null).
// Column values: numbers -> FP64 (INT64 when every value is integral), strings -> BYTES,
// true/false -> BOOL, null -> missing (NaN, or a null string). Errors follow MLflow's wording
// where it has one.
Result<InferenceRequest> DecodeMlflowRequest(std::string_view content_type, std::string_view body,
                                             const DecodeLimits& limits = {});

// MLflow scoring response: {"predictions": [...], "prediction_ids": [...]}. One output of shape
// [N] -> a flat list; [N, K] -> a list of rows; several outputs -> a list of objects per row
// keyed by output name, as MLflow's pyfunc does for a DataFrame result.
std::string EncodeMlflowResponse(const InferenceResponse& response);

}  // namespace lathe::serving
