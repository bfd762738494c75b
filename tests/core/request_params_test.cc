// RequestParams: MLflow's typing rules for JSON bodies and query strings.
#include "core/request_params.h"

#include <cmath>

#include <gtest/gtest.h>

namespace lathe {
namespace {

ApiRequest Post(std::string body, std::string content_type = "application/json") {
  ApiRequest request;
  request.method = "POST";
  request.content_type = std::move(content_type);
  request.body = std::move(body);
  return request;
}

TEST(RequestParamsTest, Int64AcceptsNumbersAndDecimalStrings) {
  auto params = RequestParams::FromRequest(Post(R"({"a": 5, "b": "1700000000000", "c": "x", "d": 1.5})"));
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(*params->Int64("a").value(), 5);
  EXPECT_EQ(*params->Int64("b").value(), 1700000000000);
  EXPECT_FALSE(params->Int64("c").ok());
  EXPECT_NE(params->Int64("c").status().message().find("'c'"), std::string::npos);
  EXPECT_FALSE(params->Int64("d").ok());
  EXPECT_FALSE(params->Int64("missing").value().has_value());
}

TEST(RequestParamsTest, DoubleAcceptsProtobufSpellingsOfNonFinite) {
  auto params = RequestParams::FromRequest(Post(R"({"n": "NaN", "i": "Infinity", "m": "-Infinity", "v": 0.25})"));
  ASSERT_TRUE(params.ok());
  EXPECT_TRUE(std::isnan(*params->Double("n").value()));
  EXPECT_EQ(*params->Double("i").value(), INFINITY);
  EXPECT_EQ(*params->Double("m").value(), -INFINITY);
  EXPECT_EQ(*params->Double("v").value(), 0.25);
}

TEST(RequestParamsTest, RequiredStringNamesTheField) {
  auto params = RequestParams::FromRequest(Post(R"({"name": ""})"));
  ASSERT_TRUE(params.ok());
  auto name = params->RequiredString("name");
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(name.status().message(),
            "Missing value for required parameter 'name'. See the API docs for more information about request "
            "parameters.");
  auto typed = RequestParams::FromRequest(Post(R"({"name": 3})"))->String("name");
  EXPECT_FALSE(typed.ok());
}

TEST(RequestParamsTest, RejectsMalformedBodies) {
  EXPECT_EQ(RequestParams::FromRequest(Post("{not json")).status().code(), ErrorCode::kBadRequest);
  EXPECT_EQ(RequestParams::FromRequest(Post("[1,2]")).status().code(), ErrorCode::kBadRequest);
  EXPECT_EQ(RequestParams::FromRequest(Post("{}", "text/plain")).status().code(), ErrorCode::kBadRequest);
  // Older clients double-encode the body as a JSON string.
  auto doubled = RequestParams::FromRequest(Post(R"("{\"name\": \"x\"}")"));
  ASSERT_TRUE(doubled.ok());
  EXPECT_EQ(*doubled->String("name").value(), "x");
}

TEST(RequestParamsTest, QueryStringRepeatsBecomeLists) {
  ApiRequest request;
  request.method = "GET";
  request.query = {{"run_ids", "a"}, {"run_ids", "b"}, {"ids[]", "c"}, {"max_results", "10"}};
  auto params = RequestParams::FromRequest(request);
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params->StringList("run_ids").value(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(params->StringList("ids").value(), (std::vector<std::string>{"c"}));
  EXPECT_EQ(*params->Int64("max_results").value(), 10);
}

TEST(RequestParamsTest, ObjectListRejectsNonObjects) {
  auto params = RequestParams::FromRequest(Post(R"({"metrics": [{"key": "a"}, 3], "tags": {"k": 1}})"));
  ASSERT_TRUE(params.ok());
  EXPECT_FALSE(params->ObjectList("metrics").ok());
  EXPECT_FALSE(params->ObjectList("tags").ok());
  EXPECT_TRUE(params->ObjectList("absent").value().empty());
}

}  // namespace
}  // namespace lathe
