// MLflow's naming and size rules for tracking entities (mlflow/utils/validation.py), shared by
// the tracking and registry APIs.
#pragma once

#include <string>
#include <string_view>

#include <vector>

#include "core/request_params.h"
#include "core/status.h"
#include "storage/store.h"

namespace lathe::tracking {

inline constexpr size_t kMaxEntityKeyLength = 250;
inline constexpr size_t kMaxParamValueLength = 6000;
inline constexpr size_t kMaxTagValueLength = 5000;
inline constexpr size_t kMaxExperimentNameLength = 500;
inline constexpr size_t kMaxRunNameLength = 250;
inline constexpr size_t kMaxMetricsPerBatch = 1000;
inline constexpr size_t kMaxParamsTagsPerBatch = 100;
inline constexpr size_t kMaxEntitiesPerBatch = 1000;
inline constexpr size_t kMaxBatchRequestBytes = 1000000;
inline constexpr size_t kMaxDatasetsPerBatch = 1000;

// `kind` is "metric", "param" or "tag": the word used in the message.
Status ValidateKeyName(std::string_view kind, std::string_view key);
// "Param value 'xxx...' had length 6001, which exceeded length limit of 6000". Lathe rejects
// where MLflow would truncate: a silently shortened value is lost data.
Status ValidateLength(std::string_view entity, std::string_view value, size_t limit);
Status ValidateExperimentName(std::string_view name);
Status ValidateBatchLimit(std::string_view entity, size_t count, size_t limit);

// A `{"key", "value"}` object (or the key and value fields of a set-tag request), with the
// key rules and the value length limit applied.
Result<storage::Tag> ParseTag(const RequestParams& item, size_t value_limit = kMaxTagValueLength);
// The repeated tag field `field` of a request.
Result<std::vector<storage::Tag>> ParseTagList(const RequestParams& params, std::string_view field,
                                               size_t value_limit = kMaxTagValueLength);

}  // namespace lathe::tracking
