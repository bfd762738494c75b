// The registry endpoints called directly: MLflow's JSON shapes and types, validation and error codes.
#include "registry/registry_api.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/ids.h"
#include "storage/store.h"

namespace lathe::registry {
namespace {

using nlohmann::json;

class RegistryApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("lathe-registry-api-test-" + NewUuidHex());
    std::filesystem::create_directories(dir_);
    storage::SqliteStoreOptions options;
    options.path = (dir_ / "lathe.db").string();
    options.default_artifact_root = "mlflow-artifacts:";
    auto opened = storage::OpenSqliteStore(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
    routes_ = RegistryRoutes(*store_);
  }
  void TearDown() override {
    routes_.clear();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Calls the route for `method` and `path` (relative to /api/2.0/mlflow/ unless absolute). GET
  // and body-less requests carry `fields` as a query string, the others as a JSON body.
  Result<ApiResponse> Call(const std::string& method, const std::string& path, const json& fields,
                           bool as_query = false) {
    ApiRequest request;
    request.method = method;
    request.path = path.starts_with("/") ? path : "/api/2.0/mlflow/" + path;
    request.actor = "dana";
    request.request_id = "req-7";
    if (method == "GET" || as_query) {
      for (const auto& [key, value] : fields.items()) {
        if (value.is_array()) {
          for (const auto& item : value) request.query.emplace_back(key, item.get<std::string>());
        } else {
          request.query.emplace_back(key, value.is_string() ? value.get<std::string>() : value.dump());
        }
      }
    } else {
      request.content_type = "application/json";
      request.body = fields.dump();
    }
    for (auto& route : routes_) {
      if (route.method == method && route.path == request.path) return route.handler(request);
    }
    ADD_FAILURE() << "no route for " << method << " " << request.path;
    return Status::Internal("no route");
  }

  // The JSON answer of a call that must succeed.
  json Ok(const std::string& method, const std::string& path, const json& fields, bool as_query = false) {
    auto response = Call(method, path, fields, as_query);
    EXPECT_TRUE(response.ok()) << method << " " << path << ": " << response.status().message();
    if (!response.ok()) return json();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->content_type, "application/json");
    return json::parse(response->body);
  }

  // The Status of a call that must fail.
  Status Fail(const std::string& method, const std::string& path, const json& fields) {
    auto response = Call(method, path, fields);
    EXPECT_FALSE(response.ok()) << method << " " << path << " answered " << (response.ok() ? response->body : "");
    return response.status();
  }

  void ExpectFailure(const std::string& method, const std::string& path, const json& fields, ErrorCode code,
                     const std::string& fragment) {
    Status status = Fail(method, path, fields);
    EXPECT_EQ(status.code(), code) << method << " " << path << ": " << status.message();
    EXPECT_NE(status.message().find(fragment), std::string::npos)
        << method << " " << path << ": '" << status.message() << "' does not mention '" << fragment << "'";
  }

  std::string NewRun(const std::string& artifact_uri) {
    storage::RunInfo info;
    info.run_id = NewUuidHex();
    info.run_name = "run";
    info.experiment_id = 0;
    info.start_time = 1000;
    info.artifact_uri = artifact_uri;
    EXPECT_TRUE(store_->CreateRun({"dana", "", "runs/create"}, info, {}).ok());
    return info.run_id;
  }

  void NewModelWithVersions(const std::string& name, int versions) {
    Ok("POST", "registered-models/create", {{"name", name}});
    for (int i = 0; i < versions; ++i) {
      Ok("POST", "model-versions/create", {{"name", name}, {"source", "s3://bucket/" + name}});
    }
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::vector<Route> routes_;
};

TEST_F(RegistryApiTest, RoutesCoverEveryRegistryEndpointWithMlflowsMethods) {
  std::set<std::pair<std::string, std::string>> actual;
  for (const auto& route : routes_) {
    EXPECT_FALSE(route.prefix);
    EXPECT_TRUE(actual.emplace(route.method, route.path).second) << "twice: " << route.method << " " << route.path;
  }
  const std::string m = "/api/2.0/mlflow/registered-models/";
  const std::string v = "/api/2.0/mlflow/model-versions/";
  std::set<std::pair<std::string, std::string>> expected = {
      {"POST", m + "create"},
      {"GET", m + "get"},
      {"POST", m + "rename"},
      {"PATCH", m + "update"},
      {"DELETE", m + "delete"},
      {"GET", m + "search"},
      {"GET", m + "get-latest-versions"},
      {"POST", m + "get-latest-versions"},
      {"POST", m + "set-tag"},
      {"DELETE", m + "delete-tag"},
      {"POST", m + "alias"},
      {"DELETE", m + "alias"},
      {"GET", m + "alias"},
      {"POST", v + "create"},
      {"GET", v + "get"},
      {"PATCH", v + "update"},
      {"DELETE", v + "delete"},
      {"GET", v + "search"},
      {"GET", v + "get-download-uri"},
      {"POST", v + "transition-stage"},
      {"POST", v + "set-tag"},
      {"DELETE", v + "delete-tag"},
      {"GET", "/api/lathe/alias-history"},
  };
  EXPECT_EQ(actual, expected);
}

TEST_F(RegistryApiTest, RegisteredModelJsonHasMlflowsShape) {
  json bare = Ok("POST", "registered-models/create", {{"name", "bare"}})["registered_model"];
  EXPECT_EQ(bare["name"], "bare");
  EXPECT_TRUE(bare["creation_timestamp"].is_number_integer());
  EXPECT_TRUE(bare["last_updated_timestamp"].is_number_integer());
  // Unset optional fields and empty repeated fields are left out, as protobuf's JSON does.
  for (const char* absent : {"description", "latest_versions", "tags", "aliases"}) {
    EXPECT_FALSE(bare.contains(absent)) << absent;
  }

  json full = Ok("POST", "registered-models/create",
                 {{"name", "churn"}, {"description", "churn model"}, {"tags", {{{"key", "task"}, {"value", "cls"}}}}});
  EXPECT_EQ(full["registered_model"]["description"], "churn model");
  EXPECT_EQ(full["registered_model"]["tags"], json::parse(R"([{"key": "task", "value": "cls"}])"));
  Ok("POST", "model-versions/create", {{"name", "churn"}, {"source", "s3://bucket/churn"}});
  Ok("POST", "registered-models/alias", {{"name", "churn"}, {"alias", "champion"}, {"version", "1"}});

  json model = Ok("GET", "registered-models/get", {{"name", "churn"}})["registered_model"];
  EXPECT_EQ(model["aliases"], json::parse(R"([{"alias": "champion", "version": "1"}])"));
  ASSERT_EQ(model["latest_versions"].size(), 1u);
  EXPECT_EQ(model["latest_versions"][0]["version"], "1");
  EXPECT_EQ(model["latest_versions"][0]["current_stage"], "None");
}

TEST_F(RegistryApiTest, ModelVersionJsonHasMlflowsShape) {
  Ok("POST", "registered-models/create", {{"name", "churn"}});
  json created = Ok("POST", "model-versions/create", {{"name", "churn"}, {"source", "s3://bucket/m"}});
  json version = created["model_version"];
  EXPECT_EQ(version["name"], "churn");
  EXPECT_EQ(version["version"], "1");  // a string in MLflow's protocol
  EXPECT_TRUE(version["creation_timestamp"].is_number_integer());
  EXPECT_TRUE(version["last_updated_timestamp"].is_number_integer());
  EXPECT_EQ(version["current_stage"], "None");
  EXPECT_EQ(version["status"], "READY");
  EXPECT_EQ(version["source"], "s3://bucket/m");
  // MLflow's server stores these as "" when the request has none, and so sends them back.
  EXPECT_EQ(version["description"], "");
  EXPECT_EQ(version["run_id"], "");
  EXPECT_EQ(version["run_link"], "");
  for (const char* absent : {"user_id", "status_message", "tags", "aliases"}) {
    EXPECT_FALSE(version.contains(absent)) << absent;
  }

  Ok("POST", "model-versions/set-tag", {{"name", "churn"}, {"version", 1}, {"key", "ok"}, {"value", "yes"}});
  Ok("POST", "registered-models/alias", {{"name", "churn"}, {"alias", "champion"}, {"version", "1"}});
  json tagged = Ok("GET", "model-versions/get", {{"name", "churn"}, {"version", "1"}})["model_version"];
  EXPECT_EQ(tagged["tags"], json::parse(R"([{"key": "ok", "value": "yes"}])"));
  EXPECT_EQ(tagged["aliases"], json::parse(R"(["champion"])"));
  json by_alias = Ok("GET", "registered-models/alias", {{"name", "churn"}, {"alias", "champion"}});
  EXPECT_EQ(by_alias["model_version"]["version"], "1");
  EXPECT_EQ(Ok("GET", "model-versions/get-download-uri", {{"name", "churn"}, {"version", "1"}}),
            json::parse(R"({"artifact_uri": "s3://bucket/m"})"));
}

TEST_F(RegistryApiTest, WritesWithoutAnAnswerReturnAnEmptyObject) {
  NewModelWithVersions("churn", 2);
  auto body = [&](const std::string& method, const std::string& path, const json& fields) {
    auto response = Call(method, path, fields);
    EXPECT_TRUE(response.ok()) << path << ": " << response.status().message();
    return response.ok() ? response->body : "";
  };
  EXPECT_EQ(body("POST", "registered-models/set-tag", {{"name", "churn"}, {"key", "k"}, {"value", "v"}}), "{}");
  EXPECT_EQ(body("DELETE", "registered-models/delete-tag", {{"name", "churn"}, {"key", "k"}}), "{}");
  EXPECT_EQ(body("DELETE", "registered-models/delete-tag", {{"name", "churn"}, {"key", "k"}}), "{}");  // gone: still ok
  EXPECT_EQ(body("POST", "model-versions/set-tag", {{"name", "churn"}, {"version", "1"}, {"key", "k"}, {"value", ""}}),
            "{}");
  EXPECT_EQ(body("DELETE", "model-versions/delete-tag", {{"name", "churn"}, {"version", "1"}, {"key", "k"}}), "{}");
  EXPECT_EQ(body("POST", "registered-models/alias", {{"name", "churn"}, {"alias", "a"}, {"version", "2"}}), "{}");
  EXPECT_EQ(body("DELETE", "registered-models/alias", {{"name", "churn"}, {"alias", "a"}}), "{}");
  EXPECT_EQ(body("DELETE", "model-versions/delete", {{"name", "churn"}, {"version", "2"}}), "{}");
  EXPECT_EQ(body("DELETE", "registered-models/delete", {{"name", "churn"}}), "{}");
  ExpectFailure("GET", "registered-models/get", {{"name", "churn"}}, ErrorCode::kResourceDoesNotExist,
                "Registered Model with name=churn not found");
}

TEST_F(RegistryApiTest, DeleteReadsTheQueryStringWhenThereIsNoBody) {
  NewModelWithVersions("churn", 1);
  Ok("DELETE", "model-versions/delete", {{"name", "churn"}, {"version", "1"}}, /*as_query=*/true);
  Ok("DELETE", "registered-models/delete", {{"name", "churn"}}, /*as_query=*/true);
  ExpectFailure("GET", "registered-models/get", {{"name", "churn"}}, ErrorCode::kResourceDoesNotExist, "churn");
}

TEST_F(RegistryApiTest, RenameUpdateAndErrors) {
  NewModelWithVersions("churn", 1);
  Ok("POST", "registered-models/create", {{"name", "other"}});
  json renamed = Ok("POST", "registered-models/rename", {{"name", "churn"}, {"new_name", "churn-v2"}});
  EXPECT_EQ(renamed["registered_model"]["name"], "churn-v2");
  EXPECT_EQ(Ok("GET", "model-versions/get", {{"name", "churn-v2"}, {"version", "1"}})["model_version"]["name"],
            "churn-v2");
  ExpectFailure("POST", "registered-models/rename", {{"name", "churn-v2"}, {"new_name", "other"}},
                ErrorCode::kResourceAlreadyExists, "Registered Model (name=other) already exists.");
  ExpectFailure("POST", "registered-models/create", {{"name", "other"}}, ErrorCode::kResourceAlreadyExists,
                "Registered Model (name=other) already exists.");
  ExpectFailure("POST", "registered-models/rename", {{"name", "churn-v2"}, {"new_name", ""}},
                ErrorCode::kInvalidParameterValue, "Missing value for required parameter 'new_name'");
  json updated = Ok("PATCH", "registered-models/update", {{"name", "churn-v2"}, {"description", "new"}});
  EXPECT_EQ(updated["registered_model"]["description"], "new");
  json version = Ok("PATCH", "model-versions/update", {{"name", "churn-v2"}, {"version", "1"}, {"description", "d1"}});
  EXPECT_EQ(version["model_version"]["description"], "d1");
  ExpectFailure("PATCH", "model-versions/update", {{"name", "churn-v2"}, {"version", "5"}},
                ErrorCode::kResourceDoesNotExist, "Model Version (name=churn-v2, version=5) not found");
}

TEST_F(RegistryApiTest, RequiredFieldsAndTypesAreChecked) {
  ExpectFailure("POST", "registered-models/create", json::object(), ErrorCode::kInvalidParameterValue,
                "Missing value for required parameter 'name'");
  ExpectFailure("POST", "registered-models/create", {{"name", ""}}, ErrorCode::kInvalidParameterValue,
                "Missing value for required parameter 'name'");
  ExpectFailure("POST", "registered-models/create", {{"name", 5}}, ErrorCode::kInvalidParameterValue, "'name'");
  ExpectFailure("GET", "registered-models/get", json::object(), ErrorCode::kInvalidParameterValue, "'name'");
  Ok("POST", "registered-models/create", {{"name", "m"}});
  ExpectFailure("POST", "model-versions/create", {{"name", "m"}}, ErrorCode::kInvalidParameterValue,
                "Missing value for required parameter 'source'");
  ExpectFailure("POST", "model-versions/create", {{"name", "m"}, {"source", 5}}, ErrorCode::kInvalidParameterValue,
                "'source'");
  ExpectFailure("POST", "model-versions/transition-stage", {{"name", "m"}, {"version", "1"}},
                ErrorCode::kInvalidParameterValue, "'stage'");
  ExpectFailure("POST", "model-versions/transition-stage",
                {{"name", "m"}, {"version", "1"}, {"stage", "Staging"}, {"archive_existing_versions", "yes"}},
                ErrorCode::kInvalidParameterValue, "archive_existing_versions");
  ExpectFailure("DELETE", "registered-models/delete-tag", {{"name", "m"}}, ErrorCode::kInvalidParameterValue, "'key'");
  ExpectFailure("POST", "registered-models/set-tag", {{"name", "m"}, {"key", "k"}}, ErrorCode::kInvalidParameterValue,
                "'value'");

  ApiRequest malformed;
  malformed.method = "POST";
  malformed.path = "/api/2.0/mlflow/registered-models/create";
  malformed.content_type = "application/json";
  malformed.body = "{not json";
  for (auto& route : routes_) {
    if (route.method == "POST" && route.path == malformed.path) {
      EXPECT_EQ(route.handler(malformed).status().code(), ErrorCode::kBadRequest);
    }
  }
}

TEST_F(RegistryApiTest, VersionsMustBeIntegers) {
  NewModelWithVersions("m", 2);
  ExpectFailure("GET", "model-versions/get", {{"name", "m"}, {"version", "one"}}, ErrorCode::kInvalidParameterValue,
                "Model version must be an integer, got 'one'");
  ExpectFailure("GET", "model-versions/get", {{"name", "m"}, {"version", "1.0"}}, ErrorCode::kInvalidParameterValue,
                "Model version must be an integer, got '1.0'");
  ExpectFailure("POST", "registered-models/alias", {{"name", "m"}, {"alias", "a"}, {"version", 1.5}},
                ErrorCode::kInvalidParameterValue, "Model version must be an integer, got '1.5'");
  ExpectFailure("GET", "model-versions/get", {{"name", "m"}}, ErrorCode::kInvalidParameterValue,
                "Missing value for required parameter 'version'");
  ExpectFailure("GET", "model-versions/get", {{"name", "m"}, {"version", "9"}}, ErrorCode::kResourceDoesNotExist,
                "Model Version (name=m, version=9) not found");
  // Python's int() takes surrounding spaces and a sign; JSON numbers are fine too.
  EXPECT_EQ(Ok("GET", "model-versions/get", {{"name", "m"}, {"version", " +2 "}})["model_version"]["version"], "2");
  EXPECT_EQ(Ok("PATCH", "model-versions/update", {{"name", "m"}, {"version", 2}})["model_version"]["version"], "2");
}

TEST_F(RegistryApiTest, AliasNamesFollowMlflowsRules) {
  NewModelWithVersions("m", 1);
  auto set = [&](const std::string& alias) { return json{{"name", "m"}, {"alias", alias}, {"version", "1"}}; };
  ExpectFailure(
      "POST", "registered-models/alias", set("bad alias!"), ErrorCode::kInvalidParameterValue,
      "Invalid alias name: 'bad alias!'. Names may only contain alphanumerics, underscores (_), and dashes (-).");
  ExpectFailure("POST", "registered-models/alias", set("LaTeSt"), ErrorCode::kInvalidParameterValue,
                "'latest' alias name (case insensitive) is reserved.");
  ExpectFailure("POST", "registered-models/alias", set("V12"), ErrorCode::kInvalidParameterValue,
                "Version alias name 'V12' is reserved.");
  ExpectFailure("POST", "registered-models/alias", set(std::string(256, 'a')), ErrorCode::kInvalidParameterValue,
                "which exceeded length limit of 255");
  ExpectFailure("POST", "registered-models/alias", json{{"name", "m"}, {"version", "1"}},
                ErrorCode::kInvalidParameterValue, "Missing value for required parameter 'alias'");
  ExpectFailure("POST", "registered-models/alias", json{{"name", "m"}, {"alias", "x"}, {"version", "9"}},
                ErrorCode::kResourceDoesNotExist, "Model Version (name=m, version=9) not found");
  ExpectFailure("POST", "registered-models/alias", json{{"name", "nope"}, {"alias", "x"}, {"version", "1"}},
                ErrorCode::kResourceDoesNotExist, "nope");
  ExpectFailure("GET", "registered-models/alias", {{"name", "m"}, {"alias", "latest"}},
                ErrorCode::kInvalidParameterValue, "reserved");
  ExpectFailure("GET", "registered-models/alias", {{"name", "m"}, {"alias", "absent"}},
                ErrorCode::kResourceDoesNotExist, "absent");
  Ok("POST", "registered-models/alias", set("v1-candidate_2"));
  Ok("POST", "registered-models/alias", set(std::string(255, 'a')));
  Ok("DELETE", "registered-models/alias", {{"name", "m"}, {"alias", "never-set"}});  // MLflow: not an error
}

TEST_F(RegistryApiTest, TagLimitsUseMlflowsMessages) {
  NewModelWithVersions("m", 1);
  ExpectFailure("POST", "registered-models/set-tag", {{"name", "m"}, {"key", std::string(251, 'k')}, {"value", "v"}},
                ErrorCode::kInvalidParameterValue, "Registered model key '");
  ExpectFailure("POST", "registered-models/set-tag", {{"name", "m"}, {"key", "k"}, {"value", std::string(5001, 'v')}},
                ErrorCode::kInvalidParameterValue, "Registered model value '");
  ExpectFailure("POST", "model-versions/set-tag",
                {{"name", "m"}, {"version", "1"}, {"key", "k"}, {"value", std::string(5001, 'v')}},
                ErrorCode::kInvalidParameterValue, "Model version value '");
  ExpectFailure("POST", "model-versions/set-tag", {{"name", "m"}, {"version", "1"}, {"key", "../x"}, {"value", "v"}},
                ErrorCode::kInvalidParameterValue, "Invalid tag name: '../x'");
  ExpectFailure("POST", "registered-models/create",
                {{"name", "n"}, {"tags", {{{"key", std::string(251, 'k')}, {"value", "v"}}}}},
                ErrorCode::kInvalidParameterValue, "exceeded length limit of 250");
  ExpectFailure("POST", "model-versions/create",
                {{"name", "m"}, {"source", "s3://b/m"}, {"tags", {{{"key", "k"}, {"value", std::string(5001, 'v')}}}}},
                ErrorCode::kInvalidParameterValue, "Model version value '");
  ExpectFailure("POST", "model-versions/set-tag", {{"name", "m"}, {"version", "4"}, {"key", "k"}, {"value", "v"}},
                ErrorCode::kResourceDoesNotExist, "Model Version (name=m, version=4) not found");
  Ok("POST", "registered-models/set-tag",
     {{"name", "m"}, {"key", std::string(250, 'k')}, {"value", std::string(5000, 'v')}});
}

TEST_F(RegistryApiTest, TheRunOfAVersionMustExist) {
  Ok("POST", "registered-models/create", {{"name", "m"}});
  ExpectFailure("POST", "model-versions/create",
                {{"name", "m"}, {"source", "runs:/x/model"}, {"run_id", "ffffffffffffffffffffffffffffffff"}},
                ErrorCode::kResourceDoesNotExist, "ffffffffffffffffffffffffffffffff");
  std::string run = NewRun("mlflow-artifacts:/0/run/artifacts");
  json created = Ok("POST", "model-versions/create",
                    {{"name", "m"}, {"source", "runs:/" + run + "/model"}, {"run_id", run}, {"run_link", "http://ui"}});
  EXPECT_EQ(created["model_version"]["run_id"], run);
  EXPECT_EQ(created["model_version"]["run_link"], "http://ui");
  ExpectFailure("POST", "model-versions/create", {{"name", "nope"}, {"source", "s3://b/m"}},
                ErrorCode::kResourceDoesNotExist, "Registered Model with name=nope not found");
}

TEST_F(RegistryApiTest, SourcesCannotReachOutsideTheirPlace) {
  Ok("POST", "registered-models/create", {{"name", "m"}});
  auto artifacts = dir_ / "artifacts" / "run1";
  std::filesystem::create_directories(artifacts / "model");
  std::string local_run = NewRun(artifacts.string());
  std::string remote_run = NewRun("mlflow-artifacts:/0/run2/artifacts");
  auto create = [&](const std::string& source, const std::string& run_id) {
    json fields = {{"name", "m"}, {"source", source}};
    if (!run_id.empty()) fields["run_id"] = run_id;
    return fields;
  };
  // A local path is a source only inside the artifact directory of the version's own run.
  Ok("POST", "model-versions/create", create((artifacts / "model").string(), local_run));
  Ok("POST", "model-versions/create", create("file://" + (artifacts / "model").string(), local_run));
  for (const auto& [source, run] : std::vector<std::pair<std::string, std::string>>{
           {"/etc/passwd", ""},
           {"/etc/passwd", local_run},
           {(artifacts / "model" / ".." / ".." / "run2").string(), local_run},
           {"file:///etc/passwd", local_run},
           {(artifacts / "model").string(), remote_run},
           {"relative/model", ""}}) {
    ExpectFailure("POST", "model-versions/create", create(source, run), ErrorCode::kInvalidParameterValue,
                  "Invalid model version source: '" + source + "'");
  }
  // Any other URI must not climb out of its path, however it is encoded.
  for (const std::string source :
       {"mlflow-artifacts:/0/../../etc", "http://host/api/artifacts/%2e%2e/%2e%2e/x", "s3://bucket/a/%252E%252E/b",
        "mlflow-artifacts://host:5000/./x", "https://host/a/b%00", "runs:relative/model"}) {
    ExpectFailure("POST", "model-versions/create", create(source, ""), ErrorCode::kInvalidParameterValue,
                  "absolute path must be provided without relative path references");
  }
  for (const std::string source : {"s3://bucket/model", "mlflow-artifacts:/0/run/artifacts/model", "runs:/abc/model",
                                   "s3://bucket", "gs://b/a..b/model", "https://host/x?y=../z"}) {
    Ok("POST", "model-versions/create", create(source, ""));
  }
  ExpectFailure("POST", "model-versions/create", create("s3://b/" + std::string(500, 'x'), ""),
                ErrorCode::kInvalidParameterValue, "exceeded length limit of 500");
}

TEST_F(RegistryApiTest, StagesTransitionAndLatestVersions) {
  NewModelWithVersions("m", 3);
  ExpectFailure("POST", "model-versions/transition-stage", {{"name", "m"}, {"version", "1"}, {"stage", "Staging"}},
                ErrorCode::kInvalidParameterValue, "Missing value for required parameter 'archive_existing_versions'");
  json moved = Ok("POST", "model-versions/transition-stage",
                  {{"name", "m"}, {"version", "1"}, {"stage", "production"}, {"archive_existing_versions", false}});
  EXPECT_EQ(moved["model_version"]["current_stage"], "Production");
  Ok("POST", "model-versions/transition-stage",
     {{"name", "m"}, {"version", "2"}, {"stage", "Production"}, {"archive_existing_versions", true}});
  EXPECT_EQ(Ok("GET", "model-versions/get", {{"name", "m"}, {"version", "1"}})["model_version"]["current_stage"],
            "Archived");
  ExpectFailure("POST", "model-versions/transition-stage",
                {{"name", "m"}, {"version", "1"}, {"stage", "Prod"}, {"archive_existing_versions", false}},
                ErrorCode::kInvalidParameterValue, "Invalid Model Version stage: Prod.");
  ExpectFailure("POST", "model-versions/transition-stage",
                {{"name", "m"}, {"version", "3"}, {"stage", "None"}, {"archive_existing_versions", true}},
                ErrorCode::kInvalidParameterValue, "is not an Active stage");

  json production = Ok("POST", "registered-models/get-latest-versions", {{"name", "m"}, {"stages", {"PRODUCTION"}}});
  ASSERT_EQ(production["model_versions"].size(), 1u);
  EXPECT_EQ(production["model_versions"][0]["version"], "2");
  json all = Ok("GET", "registered-models/get-latest-versions", {{"name", "m"}});
  ASSERT_EQ(all["model_versions"].size(), 3u);
  EXPECT_EQ(all["model_versions"][0]["current_stage"], "Archived");
  json staging = Ok("GET", "registered-models/get-latest-versions", {{"name", "m"}, {"stages", {"Staging"}}});
  EXPECT_EQ(staging, json::object());
  ExpectFailure("GET", "registered-models/get-latest-versions", {{"name", "m"}, {"stages", {"Live"}}},
                ErrorCode::kInvalidParameterValue, "Invalid Model Version stage: Live");
}

TEST_F(RegistryApiTest, SearchesPageWithTokens) {
  for (const char* name : {"alpha", "beta", "gamma"}) NewModelWithVersions(name, 1);
  json first = Ok("GET", "registered-models/search", {{"max_results", "2"}});
  ASSERT_EQ(first["registered_models"].size(), 2u);
  EXPECT_EQ(first["registered_models"][0]["name"], "alpha");
  ASSERT_TRUE(first["next_page_token"].is_string());
  json second = Ok("GET", "registered-models/search", {{"max_results", "2"}, {"page_token", first["next_page_token"]}});
  ASSERT_EQ(second["registered_models"].size(), 1u);
  EXPECT_EQ(second["registered_models"][0]["name"], "gamma");
  EXPECT_FALSE(second.contains("next_page_token"));
  EXPECT_EQ(Ok("GET", "registered-models/search", {{"filter", "name = 'zzz'"}}), json::object());
  json filtered = Ok("GET", "registered-models/search", {{"filter", "name LIKE 'be%'"}});
  ASSERT_EQ(filtered["registered_models"].size(), 1u);
  EXPECT_EQ(filtered["registered_models"][0]["latest_versions"][0]["version"], "1");

  json versions = Ok("GET", "model-versions/search", {{"filter", "name = 'beta'"}});
  ASSERT_EQ(versions["model_versions"].size(), 1u);
  EXPECT_EQ(versions["model_versions"][0]["version"], "1");
  EXPECT_FALSE(versions.contains("next_page_token"));
  json paged = Ok("GET", "model-versions/search", {{"max_results", "2"}});
  EXPECT_EQ(paged["model_versions"].size(), 2u);
  EXPECT_TRUE(paged["next_page_token"].is_string());
  ExpectFailure("GET", "model-versions/search", {{"page_token", "Zm9v"}}, ErrorCode::kInvalidParameterValue,
                "Invalid page token");
}

TEST_F(RegistryApiTest, MaxResultsHasMlflowsBounds) {
  ExpectFailure("GET", "registered-models/search", {{"max_results", "1001"}}, ErrorCode::kInvalidParameterValue,
                "It must be at most 1000, but got value 1001");
  ExpectFailure("GET", "registered-models/search", {{"max_results", "0"}}, ErrorCode::kInvalidParameterValue,
                "It must be a positive integer, but got 0");
  ExpectFailure("GET", "registered-models/search", {{"max_results", "many"}}, ErrorCode::kInvalidParameterValue,
                "'max_results'");
  ExpectFailure("GET", "model-versions/search", {{"max_results", "200001"}}, ErrorCode::kInvalidParameterValue,
                "It must be at most 200000, but got value 200001");
  ExpectFailure("GET", "model-versions/search", {{"max_results", "-1"}}, ErrorCode::kInvalidParameterValue,
                "positive integer");
  Ok("GET", "registered-models/search", {{"max_results", "1000"}});
  Ok("GET", "model-versions/search", {{"max_results", "200000"}});
}

TEST_F(RegistryApiTest, AliasHistoryListsEveryMove) {
  NewModelWithVersions("m", 2);
  Ok("POST", "registered-models/alias", {{"name", "m"}, {"alias", "champion"}, {"version", "1"}});
  Ok("POST", "registered-models/alias", {{"name", "m"}, {"alias", "champion"}, {"version", "2"}});
  Ok("DELETE", "registered-models/alias", {{"name", "m"}, {"alias", "champion"}});
  json moves = Ok("GET", "/api/lathe/alias-history", {{"name", "m"}})["moves"];
  ASSERT_EQ(moves.size(), 3u);
  EXPECT_TRUE(moves[0]["from_version"].is_null());
  EXPECT_EQ(moves[0]["to_version"], "1");
  EXPECT_EQ(moves[1]["from_version"], "1");
  EXPECT_EQ(moves[1]["to_version"], "2");
  EXPECT_TRUE(moves[2]["to_version"].is_null());
  EXPECT_EQ(moves[2]["actor"], "dana");
  EXPECT_EQ(moves[2]["request_id"], "req-7");
  EXPECT_TRUE(moves[2]["id"].is_number_integer());
  EXPECT_TRUE(moves[2]["time"].is_number_integer());
  json later = Ok("GET", "/api/lathe/alias-history", {{"after_id", moves[1]["id"].dump()}, {"limit", "5"}});
  EXPECT_EQ(later["moves"].size(), 1u);
  ExpectFailure("GET", "/api/lathe/alias-history", {{"limit", "0"}}, ErrorCode::kInvalidParameterValue, "limit");
}

TEST_F(RegistryApiTest, WritesAreAuditedUnderTheirEndpointName) {
  NewModelWithVersions("m", 1);
  Ok("POST", "registered-models/alias", {{"name", "m"}, {"alias", "champion"}, {"version", "1"}});
  storage::AuditQuery query;
  query.actor = "dana";
  auto entries = store_->QueryAudit(query);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].action, "registered-models/alias");
  EXPECT_EQ((*entries)[1].action, "model-versions/create");
  EXPECT_EQ((*entries)[2].action, "registered-models/create");
  EXPECT_EQ((*entries)[2].object_id, "m");
  EXPECT_EQ((*entries)[2].request_id, "req-7");
}

}  // namespace
}  // namespace lathe::registry
