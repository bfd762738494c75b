// Status -> HTTP status and MLflow error_code, in one place.
#include <nlohmann/json.hpp>

#include "core/json_dump.h"
#include "http/server.h"

namespace lathe::http {

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return 200;
    case ErrorCode::kInvalidParameterValue:
    case ErrorCode::kBadRequest:
    case ErrorCode::kResourceAlreadyExists:
    case ErrorCode::kInvalidState: return 400;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kResourceDoesNotExist:
    case ErrorCode::kEndpointNotFound: return 404;
    case ErrorCode::kMethodNotAllowed: return 405;
    case ErrorCode::kRequestLimitExceeded: return 413;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kInternalError: return 500;
  }
  return 500;
}

const char* MlflowErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kInvalidParameterValue: return "INVALID_PARAMETER_VALUE";
    case ErrorCode::kBadRequest: return "BAD_REQUEST";
    case ErrorCode::kResourceDoesNotExist: return "RESOURCE_DOES_NOT_EXIST";
    case ErrorCode::kResourceAlreadyExists: return "RESOURCE_ALREADY_EXISTS";
    case ErrorCode::kInvalidState: return "INVALID_STATE";
    case ErrorCode::kPermissionDenied: return "PERMISSION_DENIED";
    case ErrorCode::kRequestLimitExceeded: return "REQUEST_LIMIT_EXCEEDED";
    case ErrorCode::kEndpointNotFound: return "ENDPOINT_NOT_FOUND";
    case ErrorCode::kMethodNotAllowed: return "BAD_REQUEST";
    case ErrorCode::kUnavailable: return "TEMPORARILY_UNAVAILABLE";
    case ErrorCode::kInternalError: return "INTERNAL_ERROR";
  }
  return "INTERNAL_ERROR";
}

std::string ErrorBody(const Status& status, ErrorStyle style) {
  nlohmann::json body;
  if (style == ErrorStyle::kInference) {
    body["error"] = status.message();
  } else {
    body["error_code"] = MlflowErrorCodeName(status.code());
    body["message"] = status.message();
  }
  return DumpJson(body);
}

}  // namespace lathe::http
