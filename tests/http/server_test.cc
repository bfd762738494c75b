// HttpServer on an ephemeral loopback port: routing, errors, limits, request ids, shutdown.
#include "http/server.h"

#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/client.h"

namespace lathe::http {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Route> routes;
    routes.push_back({"POST", "/echo", [](ApiRequest& request) -> Result<ApiResponse> {
                        nlohmann::json body = {{"body", request.body},
                                               {"actor", request.actor},
                                               {"request_id", request.request_id}};
                        for (auto& [key, value] : request.query) body["query"][key] = value;
                        return ApiResponse::Json(body.dump());
                      }});
    routes.push_back({"GET", "/missing", [](ApiRequest&) -> Result<ApiResponse> {
                        return Status::NotFound("no such thing");
                      }});
    routes.push_back({"GET", "/busy", [](ApiRequest&) -> Result<ApiResponse> {
                        return Status::Unavailable("the queue is full");
                      }});
    routes.push_back({"GET", "/throws", [](ApiRequest&) -> Result<ApiResponse> {
                        throw std::runtime_error("bug");
                      }});
    routes.push_back({"GET", "/files/", [](ApiRequest& request) -> Result<ApiResponse> {
                        return ApiResponse::Text(request.path_suffix);
                      }, /*prefix=*/true});
    ServerOptions options;
    options.port = 0;
    options.threads = 2;
    options.max_body_bytes = 1024;
    auto server = HttpServer::Create(options, std::move(routes));
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server).value();
    thread_ = std::thread([this] { server_->Run(false); });
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    server_->Shutdown();
    thread_.join();
  }

  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::string base_;
};

TEST_F(ServerTest, RoutesAndDecodesTheQuery) {
  auto response = SendRequest(base_, "POST", "/echo?a=1&b=x%20y", R"({"k":1})");
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->status, 200);
  auto body = nlohmann::json::parse(response->body);
  EXPECT_EQ(body["body"], R"({"k":1})");
  EXPECT_EQ(body["query"]["b"], "x y");
  EXPECT_EQ(body["actor"], "anonymous");
  EXPECT_FALSE(body["request_id"].get<std::string>().empty());
}

TEST_F(ServerTest, PrefixRoutesSeeTheDecodedSuffix) {
  auto response = SendRequest(base_, "GET", "/files/a%20b/c.txt");
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->body, "a b/c.txt");
}

TEST_F(ServerTest, ErrorsAreMlflowShaped) {
  auto missing = SendRequest(base_, "GET", "/missing");
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(nlohmann::json::parse(missing->body)["error_code"], "RESOURCE_DOES_NOT_EXIST");
  auto unknown = SendRequest(base_, "GET", "/nowhere");
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(nlohmann::json::parse(unknown->body)["error_code"], "ENDPOINT_NOT_FOUND");
  auto wrong_method = SendRequest(base_, "GET", "/echo");
  EXPECT_EQ(wrong_method->status, 405);
  auto too_big = SendRequest(base_, "POST", "/echo", std::string(4096, 'x'));
  EXPECT_EQ(too_big->status, 413);
  EXPECT_NE(too_big->body.find("1024"), std::string::npos);
}

TEST_F(ServerTest, OverloadIsA503WithRetryAfter) {
  auto busy = SendRequest(base_, "GET", "/busy");
  ASSERT_TRUE(busy.ok());
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->retry_after, "1");
  EXPECT_EQ(nlohmann::json::parse(busy->body)["error_code"], "TEMPORARILY_UNAVAILABLE");
  auto fine = SendRequest(base_, "POST", "/echo", "{}");
  EXPECT_TRUE(fine->retry_after.empty());
}

TEST_F(ServerTest, AHandlerThatThrowsCostsOneRequest) {
  auto thrown = SendRequest(base_, "GET", "/throws");
  EXPECT_EQ(thrown->status, 500);
  auto after = SendRequest(base_, "POST", "/echo", "{}");
  EXPECT_EQ(after->status, 200);
}

TEST(ServerCreateTest, ABusyPortIsAnError) {
  ServerOptions options;
  options.port = 0;
  auto first = HttpServer::Create(options, {});
  ASSERT_TRUE(first.ok());
  options.port = (*first)->port();
  auto second = HttpServer::Create(options, {});
  EXPECT_FALSE(second.ok());
  options.host = "not an address";
  EXPECT_EQ(HttpServer::Create(options, {}).status().code(), ErrorCode::kInvalidParameterValue);
}

}  // namespace
}  // namespace lathe::http
