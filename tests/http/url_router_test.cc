// Percent-decoding, query strings, route lookup and the error mapping.
#include <gtest/gtest.h>

#include "http/router.h"
#include "http/server.h"
#include "http/url.h"

namespace lathe::http {
namespace {

TEST(UrlTest, DecodesPercentAndPlus) {
  EXPECT_EQ(DecodePercent("a%20b+c", true), "a b c");
  EXPECT_EQ(DecodePercent("a%20b+c", false), "a b+c");
  EXPECT_EQ(DecodePercent("%zz%4", false), "%zz%4");  // invalid escapes stay as they are
  EXPECT_EQ(DecodePercent("%2e%2E/x", false), "../x");
  EXPECT_EQ(EncodePercent("a b/c", true), "a%20b/c");
  EXPECT_EQ(EncodePercent("a b/c", false), "a%20b%2Fc");
}

TEST(UrlTest, ParsesQueryStrings) {
  auto query = ParseQueryString("a=1&b=x%20y&&a=2&flag");
  ASSERT_EQ(query.size(), 4u);
  EXPECT_EQ(query[0], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(query[1].second, "x y");
  EXPECT_EQ(query[2].second, "2");
  EXPECT_EQ(query[3], (std::pair<std::string, std::string>{"flag", ""}));
}

TEST(RouterTest, ExactPrefixAndAjaxAlias) {
  auto ok = [](ApiRequest&) -> Result<ApiResponse> { return ApiResponse::Text("ok"); };
  Router router({{"GET", "/api/2.0/mlflow/runs/get", ok},
                 {"GET", "/api/2.0/mlflow-artifacts/artifacts/", ok, /*prefix=*/true},
                 {"PUT", "/api/2.0/mlflow-artifacts/artifacts/", ok, true}});
  auto exact = router.Find("GET", "/api/2.0/mlflow/runs/get");
  ASSERT_NE(exact.route, nullptr);
  auto ajax = router.Find("GET", "/ajax-api/2.0/mlflow/runs/get");
  EXPECT_EQ(ajax.route, exact.route);
  auto wrong_method = router.Find("POST", "/api/2.0/mlflow/runs/get");
  EXPECT_EQ(wrong_method.route, nullptr);
  EXPECT_TRUE(wrong_method.path_exists);
  auto missing = router.Find("GET", "/nope");
  EXPECT_EQ(missing.route, nullptr);
  EXPECT_FALSE(missing.path_exists);
  auto prefix = router.Find("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/abc/file.txt");
  ASSERT_NE(prefix.route, nullptr);
  EXPECT_EQ(prefix.route->method, "PUT");
  EXPECT_EQ(prefix.suffix, "1/abc/file.txt");
}

TEST(ErrorMappingTest, ClientErrorsAreNever5xx) {
  for (ErrorCode code : {ErrorCode::kInvalidParameterValue, ErrorCode::kBadRequest, ErrorCode::kResourceDoesNotExist,
                         ErrorCode::kResourceAlreadyExists, ErrorCode::kInvalidState, ErrorCode::kRequestLimitExceeded,
                         ErrorCode::kEndpointNotFound, ErrorCode::kMethodNotAllowed}) {
    EXPECT_GE(HttpStatusFor(code), 400);
    EXPECT_LT(HttpStatusFor(code), 500);
  }
  EXPECT_EQ(HttpStatusFor(ErrorCode::kResourceDoesNotExist), 404);
  EXPECT_EQ(ErrorBody(Status::NotFound("no run"), ErrorStyle::kMlflow),
            R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no run"})");
  EXPECT_EQ(ErrorBody(Status::BadRequest("bad"), ErrorStyle::kInference), R"({"error":"bad"})");
}

}  // namespace
}  // namespace lathe::http
