// Reads MLflow request parameters from a JSON body or a query string with the protocol's typing
// rules, so that every endpoint validates input the same way and names the offending field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/api.h"
#include "core/status.h"

namespace lathe {

class RequestParams {
 public:
  // GET (and DELETE without a body) read the query string; other methods read a JSON object body.
  // A malformed or non-object body is a BAD_REQUEST naming the problem.
  static Result<RequestParams> FromRequest(const ApiRequest& request);
  static RequestParams FromJson(nlohmann::json object) { return RequestParams(std::move(object), false); }

  bool Has(std::string_view name) const;

  // Each getter fails with INVALID_PARAMETER_VALUE when the field has the wrong JSON type.
  Result<std::optional<std::string>> String(std::string_view name) const;
  Result<std::string> RequiredString(std::string_view name) const;
  // int64 fields accept JSON numbers and decimal strings, as protobuf's JSON mapping does.
  Result<std::optional<int64_t>> Int64(std::string_view name) const;
  Result<int64_t> RequiredInt64(std::string_view name) const;
  // doubles accept numbers and the strings "NaN", "Infinity", "-Infinity" (protobuf JSON).
  Result<std::optional<double>> Double(std::string_view name) const;
  Result<double> RequiredDouble(std::string_view name) const;
  Result<std::optional<bool>> Bool(std::string_view name) const;
  // A repeated string field; a single value counts as a list of one.
  Result<std::vector<std::string>> StringList(std::string_view name) const;
  // A repeated message field: the array's objects (empty when absent).
  Result<std::vector<RequestParams>> ObjectList(std::string_view name) const;

  const nlohmann::json& json() const { return object_; }

  static std::string MissingMessage(std::string_view name);

 private:
  RequestParams(nlohmann::json object, bool from_query) : object_(std::move(object)), from_query_(from_query) {}
  const nlohmann::json* Find(std::string_view name) const;
  Status TypeError(std::string_view name, const nlohmann::json& value, std::string_view expected) const;

  nlohmann::json object_;
  bool from_query_ = false;  // query values are all strings, so string-typed numbers are expected
};

}  // namespace lathe
