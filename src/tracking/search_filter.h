// Parsers for MLflow's search language: filter strings (`metrics.rmse < 1 and params.a = 'x'`),
// order_by clauses (`metrics.rmse DESC`) and page tokens, for runs, experiments, registered
// models and model versions. Every failure is INVALID_PARAMETER_VALUE naming the problem.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/request_params.h"
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

// Fills `terms` from the `filter`, `order_by` and `page_token` fields of a search request,
// parsed with one object's grammar (e.g. ParseRunFilter and ParseRunOrderBy).
Status ReadSearchTerms(const RequestParams& params,
                       Result<std::vector<storage::FilterClause>> (*parse_filter)(std::string_view),
                       Result<storage::OrderClause> (*parse_order_by)(std::string_view), storage::SearchTerms& terms);

// MLflow's page tokens: base64 of `{"offset": N}`. An empty token is offset 0.
std::string EncodePageToken(int64_t offset);
Result<int64_t> DecodePageToken(std::string_view token);

}  // namespace lathe::tracking
