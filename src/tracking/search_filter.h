// Parsers for MLflow's search language: filter strings (`metrics.rmse < 1 and params.a = 'x'`),
// order_by clauses (`metrics.rmse DESC`) and page tokens, for runs, experiments, registered
// models and model versions. Every failure is INVALID_PARAMETER_VALUE naming the problem.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "storage/search.h"

namespace lathe::tracking {

Result<std::vector<storage::FilterClause>> ParseRunFilter(std::string_view filter);
Result<storage::OrderClause> ParseRunOrderBy(std::string_view order_by);

Result<std::vector<storage::FilterClause>> ParseExperimentFilter(std::string_view filter);
Result<storage::OrderClause> ParseExperimentOrderBy(std::string_view order_by);

Result<std::vector<storage::FilterClause>> ParseRegisteredModelFilter(std::string_view filter);
Result<storage::OrderClause> ParseRegisteredModelOrderBy(std::string_view order_by);

Result<std::vector<storage::FilterClause>> ParseModelVersionFilter(std::string_view filter);
Result<storage::OrderClause> ParseModelVersionOrderBy(std::string_view order_by);

// MLflow's page tokens: base64 of `{"offset": N}`. An empty token is offset 0.
std::string EncodePageToken(int64_t offset);
Result<int64_t> DecodePageToken(std::string_view token);

}  // namespace lathe::tracking
