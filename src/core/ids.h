// Random identifiers: run ids (32 hex chars, like MLflow's uuid4().hex) and request ids.
#pragma once

#include <string>

namespace lathe {

// 128 random bits as 32 lowercase hex characters.
std::string NewUuidHex();

// A short random id for requests that arrive without an X-Request-Id.
std::string NewRequestId();

// Two random words and a number, like MLflow's generated run names ("brave-owl-42").
std::string NewRunName();

}  // namespace lathe
