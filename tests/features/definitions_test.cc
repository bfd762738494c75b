// The feature repository: loading (with file:line in every error), validation against data,
// hashing, diffs and the JSON round trip.
#include "features/definitions.h"

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "feature_fixtures.h"

namespace lathe::features {
namespace {

using testing::Contains;
using testing::LoadYaml;
using testing::TempDir;
using testing::WriteFile;

constexpr const char* kOrdersCsv =
    "customer_id,order_ts,amount,label\n"
    "1,2024-01-01 00:00:00,10.0,a\n"
    "1,2024-01-20 00:00:00,30.0,b\n"
    "2,2024-01-05 00:00:00,5.0,c\n";

// A valid repository; tests replace parts of it. Line numbers are noted where errors point.
std::string ValidRepo(const std::string& expression = "avg(amount) OVER (PARTITION BY customer_id ORDER BY order_ts)") {
  return "project: shop\n"                                   // 1
         "entities:\n"                                       // 2
         "  - name: customer\n"                              // 3
         "    join_keys: [{name: customer_id, type: int64}]\n"  // 4
         "sources:\n"                                        // 5
         "  - name: orders\n"                                // 6
         "    path: orders.csv\n"                            // 7
         "    timestamp_field: order_ts\n"                   // 8
         "feature_views:\n"                                  // 9
         "  - name: customer_stats\n"                        // 10
         "    entities: [customer]\n"                        // 11
         "    source: orders\n"                              // 12
         "    ttl: 30d\n"                                    // 13
         "    features:\n"                                   // 14
         "      - name: avg_amount\n"                        // 15
         "        expression: " + expression + "\n"          // 16
         "      - name: last_amount\n"                       // 17
         "        expression: amount\n"                      // 18
         "on_demand_feature_views:\n"                        // 19
         "  - name: order_request\n"                         // 20
         "    request_fields: [{name: request_amount, type: double}]\n"  // 21
         "    inputs: [customer_stats:avg_amount]\n"         // 22
         "    features:\n"                                   // 23
         "      - name: ratio\n"                             // 24
         "        expression: request_amount / avg_amount\n";  // 25
}

std::string LoadError(const TempDir& dir, const std::string& yaml) {
  auto repo = LoadYaml(dir, yaml);
  if (repo.ok()) return "<loaded without error>";
  EXPECT_EQ(repo.status().code(), ErrorCode::kInvalidParameterValue) << repo.status().message();
  return repo.status().message();
}

// Loads and validates; returns the validation error message (or a marker when it passed).
std::string ValidateError(const TempDir& dir, const std::string& yaml, const std::string& csv = kOrdersCsv) {
  WriteFile(dir.path() / "orders.csv", csv);
  auto repo = LoadYaml(dir, yaml);
  if (!repo.ok()) return "<load failed: " + repo.status().message() + ">";
  auto db = testing::OpenTestDb();
  if (!db) return "<no duckdb>";
  Status status = ValidateAgainstData(*repo, *db);
  if (status.ok()) return "<validated without error>";
  EXPECT_EQ(status.code(), ErrorCode::kInvalidParameterValue) << status.message();
  return status.message();
}

TEST(LoadFeatureRepoTest, LoadsTheValidRepository) {
  TempDir dir;
  auto repo = LoadYaml(dir, ValidRepo());
  FS_ASSERT_OK(repo);
  EXPECT_EQ(repo->project, "shop");
  EXPECT_EQ(repo->online_store, "sqlite");
  ASSERT_EQ(repo->entities.size(), 1u);
  ASSERT_EQ(repo->entities[0].join_keys.size(), 1u);
  EXPECT_EQ(repo->entities[0].join_keys[0].name, "customer_id");
  EXPECT_EQ(repo->entities[0].join_keys[0].type, "int64");
  EXPECT_EQ(repo->entities[0].location.Describe(), "features.yaml:3");
  ASSERT_EQ(repo->sources.size(), 1u);
  // Relative paths are resolved against the declaring file.
  EXPECT_EQ(repo->sources[0].path, (dir.path() / "orders.csv").lexically_normal().string());
  ASSERT_EQ(repo->views.size(), 1u);
  EXPECT_EQ(repo->views[0].ttl_seconds, 30 * 86400);
  EXPECT_EQ(repo->views[0].location.Describe(), "features.yaml:10");
  ASSERT_EQ(repo->views[0].features.size(), 2u);
  EXPECT_EQ(repo->views[0].features[1].location.Describe(), "features.yaml:17");
  EXPECT_EQ(repo->views[0].features[0].type, "");  // inferred by validation, not by loading
  ASSERT_EQ(repo->on_demand_views.size(), 1u);
  EXPECT_EQ(repo->on_demand_views[0].inputs, std::vector<std::string>{"customer_stats:avg_amount"});
  ASSERT_EQ(repo->on_demand_views[0].request_fields.size(), 1u);
  EXPECT_EQ(repo->on_demand_views[0].request_fields[0].type, "double");
}

TEST(LoadFeatureRepoTest, YamlSyntaxErrorHasFileAndLine) {
  TempDir dir;
  std::string message = LoadError(dir,
                                  "project: shop\n"                  // 1
                                  "entities:\n"                      // 2
                                  "  - name: customer\n"             // 3
                                  "    join_keys: [customer_id\n"    // 4: the flow list is never closed
                                  "sources: []\n");                  // 5
  EXPECT_TRUE(std::regex_search(message, std::regex("^features\\.yaml:[45]: "))) << message;
}

TEST(LoadFeatureRepoTest, YamlBadIndentationHasFileAndLine) {
  TempDir dir;
  std::string message = LoadError(dir,
                                  "project: shop\n"         // 1
                                  "entities:\n"             // 2
                                  "  - name: customer\n"    // 3
                                  "   join_keys: [id]\n");  // 4: indented one column less than `name`
  EXPECT_TRUE(std::regex_search(message, std::regex("^features\\.yaml:4: "))) << message;
}

TEST(LoadFeatureRepoTest, UnknownKeyNamesTheKeyAndItsLine) {
  TempDir dir;
  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("    ttl: 30d\n"), 12, "    tll: 30d\n");
  EXPECT_EQ(LoadError(dir, yaml),
            "features.yaml:13: unknown key 'tll' in a feature view (expected one of: description, entities, features, "
            "name, source, ttl)");

  std::string top = "project: shop\nonline: sqlite\n";
  EXPECT_EQ(LoadError(dir, top),
            "features.yaml:2: unknown key 'online' in the repository (expected one of: entities, feature_views, "
            "on_demand_feature_views, online_store, project, sources)");
}

TEST(LoadFeatureRepoTest, DuplicateNames) {
  TempDir dir;
  EXPECT_EQ(LoadError(dir,
                      "entities:\n"                   // 1
                      "  - name: customer\n"          // 2
                      "    join_keys: [customer_id]\n"  // 3
                      "  - name: customer\n"          // 4
                      "    join_keys: [other_id]\n"),  // 5
            "features.yaml:4: duplicate entity 'customer' (first declared at features.yaml:2)");

  std::string view =
      "  - name: customer_stats\n"
      "    entities: [customer]\n"
      "    source: orders\n"
      "    features: [{name: last_amount, expression: amount}]\n";
  std::string yaml = ValidRepo();
  yaml.insert(yaml.find("on_demand_feature_views:"), view);  // the second view starts on line 19
  EXPECT_EQ(LoadError(dir, yaml), "features.yaml:19: duplicate feature view 'customer_stats' (first declared at features.yaml:10)");

  yaml = ValidRepo();
  yaml.insert(yaml.find("on_demand_feature_views:"), "      - name: avg_amount\n        expression: amount * 2\n");
  EXPECT_EQ(LoadError(dir, yaml), "features.yaml:19: duplicate feature 'avg_amount' in 'feature view 'customer_stats''");

  yaml = ValidRepo();
  yaml.insert(yaml.find("feature_views:"),
              "  - name: orders\n    path: other.csv\n    timestamp_field: order_ts\n");  // the second source: line 9
  EXPECT_EQ(LoadError(dir, yaml), "features.yaml:9: duplicate source 'orders' (first declared at features.yaml:6)");
}

TEST(LoadFeatureRepoTest, UnknownEntityAndSource) {
  TempDir dir;
  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("entities: [customer]"), 20, "entities: [shopper]");
  EXPECT_EQ(LoadError(dir, yaml), "features.yaml:10: feature view 'customer_stats': unknown entity 'shopper'");

  yaml = ValidRepo();
  yaml.replace(yaml.find("source: orders"), 14, "source: order");
  EXPECT_EQ(LoadError(dir, yaml), "features.yaml:10: feature view 'customer_stats': unknown source 'order'");
}

TEST(LoadFeatureRepoTest, UnknownOnDemandInput) {
  TempDir dir;
  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("inputs: [customer_stats:avg_amount]"), 35, "inputs: [customer_stats:avg_amt]");
  EXPECT_EQ(LoadError(dir, yaml),
            "features.yaml:20: on-demand feature view 'order_request': feature view 'customer_stats' has no feature 'avg_amt'");
}

TEST(LoadFeatureRepoTest, CycleBetweenQuerySources) {
  TempDir dir;
  EXPECT_EQ(LoadError(dir,
                      "sources:\n"                                 // 1
                      "  - name: a\n"                              // 2
                      "    query: SELECT * FROM b WHERE x > 1\n"   // 3
                      "    timestamp_field: ts\n"                  // 4
                      "  - name: b\n"                              // 5
                      "    query: SELECT * FROM a\n"               // 6
                      "    timestamp_field: ts\n"),                // 7
            "features.yaml:2: cycle between query sources: a -> b -> a");
}

TEST(LoadFeatureRepoTest, QuerySourceOverItselfIsNotACycle) {
  // A query naming only real files and other sources that do not refer back is fine.
  TempDir dir;
  auto repo = LoadYaml(dir,
                       "sources:\n"
                       "  - name: base\n"
                       "    path: orders.csv\n"
                       "    timestamp_field: order_ts\n"
                       "  - name: big\n"
                       "    query: SELECT * FROM base WHERE amount > 6\n"
                       "    timestamp_field: order_ts\n");
  FS_ASSERT_OK(repo);
}

TEST(LoadFeatureRepoTest, CycleBetweenOnDemandViews) {
  TempDir dir;
  EXPECT_EQ(LoadError(dir,
                      "on_demand_feature_views:\n"            // 1
                      "  - name: first\n"                     // 2
                      "    inputs: [second:y]\n"              // 3
                      "    features: [{name: x, expression: y + 1}]\n"  // 4
                      "  - name: second\n"                    // 5
                      "    inputs: [first:x]\n"               // 6
                      "    features: [{name: y, expression: x + 1}]\n"),  // 7
            "features.yaml:2: cycle between on-demand feature views: first -> second -> first");
}

TEST(LoadFeatureRepoTest, InvalidNames) {
  TempDir dir;
  EXPECT_EQ(LoadError(dir, "entities:\n  - name: 9lives\n    join_keys: [id]\n"),
            "features.yaml:2: invalid entity name '9lives': use letters, digits and _, not starting with a digit or __");
  EXPECT_EQ(LoadError(dir, "entities:\n  - name: customer-id\n    join_keys: [id]\n"),
            "features.yaml:2: invalid entity name 'customer-id': use letters, digits and _, not starting with a digit or __");
  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("name: last_amount"), 17, "name: __last");
  EXPECT_EQ(LoadError(dir, yaml),
            "features.yaml:17: invalid feature name '__last': use letters, digits and _, not starting with a digit or __");
  EXPECT_EQ(LoadError(dir, "entities:\n  - name: customer\n    join_keys: [{name: id, type: uuid}]\n"),
            "features.yaml:3: unknown type 'uuid' for 'id' (expected int64 or string)");
}

TEST(LoadFeatureRepoTest, Durations) {
  TempDir dir;
  for (const char* bad : {"30x", "1w", "-1d", "30", "d", "30 d"}) {
    std::string yaml = ValidRepo();
    yaml.replace(yaml.find("ttl: 30d"), 8, std::string("ttl: \"") + bad + "\"");
    EXPECT_EQ(LoadError(dir, yaml),
              std::string("features.yaml:13: invalid duration '") + bad + "': expected e.g. 30d, 12h, 15m, 45s, 500ms")
        << bad;
  }
  for (auto [text, seconds] : std::vector<std::pair<std::string, int64_t>>{{"0", 0}, {"12h", 43200}, {"15m", 900}, {"45s", 45}}) {
    std::string yaml = ValidRepo();
    yaml.replace(yaml.find("ttl: 30d"), 8, "ttl: " + text);
    auto repo = LoadYaml(dir, yaml);
    FS_ASSERT_OK(repo);
    EXPECT_EQ(repo->views[0].ttl_seconds, seconds) << text;
  }
}

TEST(LoadFeatureRepoTest, MissingPathIsAnError) {
  TempDir dir;
  auto repo = LoadFeatureRepo(dir.path() / "nope.yaml");
  ASSERT_FALSE(repo.ok());
  EXPECT_TRUE(Contains(repo.status().message(), "does not exist")) << repo.status().message();
  auto empty = LoadFeatureRepo(dir.path());
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(Contains(empty.status().message(), "no YAML files")) << empty.status().message();
}

TEST(LoadFeatureRepoTest, FolderOfYamlFiles) {
  TempDir dir;
  WriteFile(dir.path() / "repo" / "01_entities.yaml",
            "project: shop\n"
            "entities:\n"
            "  - name: customer\n"
            "    join_keys: [customer_id]\n");
  WriteFile(dir.path() / "repo" / "sub" / "ignored.yaml", "this: [is not read\n");
  WriteFile(dir.path() / "repo" / "notes.txt", "not: yaml: at: all: [\n");
  WriteFile(dir.path() / "repo" / "02_sources.yml",
            "sources:\n"
            "  - name: orders\n"
            "    path: data/orders.csv\n"
            "    timestamp_field: order_ts\n");
  WriteFile(dir.path() / "repo" / "03_views.yaml",
            "feature_views:\n"
            "  - name: customer_stats\n"
            "    entities: [customer]\n"
            "    source: orders\n"
            "    features: [{name: last_amount, expression: amount}]\n");
  WriteFile(dir.path() / "repo" / "data" / "orders.csv", kOrdersCsv);
  auto repo = LoadFeatureRepo(dir.path() / "repo");
  FS_ASSERT_OK(repo);
  EXPECT_EQ(repo->project, "shop");
  ASSERT_EQ(repo->entities.size(), 1u);
  ASSERT_EQ(repo->sources.size(), 1u);
  ASSERT_EQ(repo->views.size(), 1u);
  EXPECT_EQ(repo->sources[0].path, (dir.path() / "repo" / "data" / "orders.csv").string());
  EXPECT_EQ(repo->sources[0].location.Describe(), "02_sources.yml:2");
  EXPECT_EQ(repo->views[0].location.Describe(), "03_views.yaml:2");
  auto db = testing::OpenTestDb();
  ASSERT_TRUE(db);
  FS_ASSERT_OK(ValidateAgainstData(*repo, *db));
  EXPECT_EQ(repo->views[0].features[0].type, "double");

  // An error in a later file names that file, and the first declaration in the other one.
  WriteFile(dir.path() / "repo" / "04_more.yaml",
            "entities:\n"
            "  - name: customer\n"
            "    join_keys: [customer_id]\n");
  auto duplicate = LoadFeatureRepo(dir.path() / "repo");
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.status().message(), "04_more.yaml:2: duplicate entity 'customer' (first declared at 01_entities.yaml:3)");
}

// ---- Validation against data ----

TEST(ValidateAgainstDataTest, InfersTypes) {
  TempDir dir;
  WriteFile(dir.path() / "orders.csv", kOrdersCsv);
  auto repo = LoadYaml(dir, ValidRepo());
  FS_ASSERT_OK(repo);
  auto db = testing::OpenTestDb();
  ASSERT_TRUE(db);
  FS_ASSERT_OK(ValidateAgainstData(*repo, *db));
  EXPECT_EQ(repo->views[0].features[0].type, "double");
  EXPECT_EQ(repo->views[0].features[1].type, "double");
  EXPECT_EQ(repo->on_demand_views[0].features[0].type, "double");
}

TEST(ValidateAgainstDataTest, IntegerDeclaredDoubleIsWidened) {
  TempDir dir;
  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("        expression: amount\n"), 27, "        expression: customer_id * 2\n        type: double\n");
  WriteFile(dir.path() / "orders.csv", kOrdersCsv);
  auto repo = LoadYaml(dir, yaml);
  FS_ASSERT_OK(repo);
  auto db = testing::OpenTestDb();
  ASSERT_TRUE(db);
  FS_ASSERT_OK(ValidateAgainstData(*repo, *db));
  EXPECT_EQ(repo->views[0].features[1].type, "double");
}

TEST(ValidateAgainstDataTest, UnknownColumnInExpression) {
  TempDir dir;
  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("        expression: amount\n"), 27, "        expression: amount2 * 2\n");
  std::string message = ValidateError(dir, yaml);
  EXPECT_EQ(message.rfind("features.yaml:17: feature 'customer_stats:last_amount': ", 0), 0u) << message;
  EXPECT_TRUE(Contains(message, "Binder Error")) << message;
  EXPECT_TRUE(Contains(message, "amount2")) << message;
}

TEST(ValidateAgainstDataTest, UnknownColumnInOnDemandExpression) {
  TempDir dir;
  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("request_amount / avg_amount"), 27, "request_amount / amount");
  std::string message = ValidateError(dir, yaml);
  EXPECT_EQ(message.rfind("features.yaml:24: feature 'order_request:ratio': ", 0), 0u) << message;
  EXPECT_TRUE(Contains(message, "Binder Error")) << message;
}

TEST(ValidateAgainstDataTest, TypeErrorAddingTextToANumber) {
  // BUG: ValidateAgainstData only DESCRIBEs `SELECT (expr) FROM source`, which binds but does not
  // run; DuckDB binds `amount + 'x'` as DOUBLE and only raises "Conversion Error: Could not convert
  // string 'x' to DOUBLE" when the query runs. So apply accepts the feature and every historical
  // or materialize run over it fails later.
  TempDir dir;
  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("        expression: amount\n"), 27, "        expression: amount + 'x'\n");
  std::string message = ValidateError(dir, yaml);
  EXPECT_EQ(message.rfind("features.yaml:17: feature 'customer_stats:last_amount': ", 0), 0u) << message;
}

TEST(ValidateAgainstDataTest, TypeErrorUnknownDatePart) {
  TempDir dir;
  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("        expression: amount\n"), 27, "        expression: date_part('foo', order_ts)\n");
  std::string message = ValidateError(dir, yaml);
  EXPECT_EQ(message.rfind("features.yaml:17: feature 'customer_stats:last_amount': ", 0), 0u) << message;
  EXPECT_TRUE(Contains(message, "foo")) << message;
}

TEST(ValidateAgainstDataTest, DeclaredTypeMismatch) {
  TempDir dir;
  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("        expression: amount\n"), 27, "        expression: amount\n        type: string\n");
  EXPECT_EQ(ValidateError(dir, yaml),
            "features.yaml:17: feature 'customer_stats:last_amount' is declared string but its expression gives double (DOUBLE)");

  yaml = ValidRepo();
  yaml.replace(yaml.find("        expression: amount\n"), 27, "        expression: label\n        type: int64\n");
  EXPECT_EQ(ValidateError(dir, yaml),
            "features.yaml:17: feature 'customer_stats:last_amount' is declared int64 but its expression gives string (VARCHAR)");
}

TEST(ValidateAgainstDataTest, MissingJoinKeyColumn) {
  TempDir dir;
  std::string csv = "cust,order_ts,amount,label\n1,2024-01-01 00:00:00,10.0,a\n";
  EXPECT_EQ(ValidateError(dir, ValidRepo(), csv),
            "features.yaml:10: feature view 'customer_stats': source 'orders' has no join key column 'customer_id' "
            "(columns: cust, order_ts, amount, label)");
}

TEST(ValidateAgainstDataTest, MissingTimestampColumn) {
  TempDir dir;
  std::string csv = "customer_id,ts,amount,label\n1,2024-01-01 00:00:00,10.0,a\n";
  EXPECT_EQ(ValidateError(dir, ValidRepo(), csv),
            "features.yaml:6: source 'orders' has no column 'order_ts' (columns: customer_id, ts, amount, label)");

  std::string yaml = ValidRepo();
  yaml.insert(yaml.find("feature_views:"), "    created_timestamp_field: created_ts\n");
  EXPECT_EQ(ValidateError(dir, yaml),
            "features.yaml:6: source 'orders' has no column 'created_ts' (columns: customer_id, order_ts, amount, label)");
}

TEST(ValidateAgainstDataTest, TimestampColumnOfAnotherType) {
  TempDir dir;
  std::string csv = "customer_id,order_ts,amount,label\n1,7,10.0,a\n";
  EXPECT_EQ(ValidateError(dir, ValidRepo(), csv), "features.yaml:6: source 'orders': column 'order_ts' is BIGINT, not a timestamp");
}

TEST(ValidateAgainstDataTest, JoinKeyTypeMismatch) {
  TempDir dir;
  std::string csv = "customer_id,order_ts,amount,label\nc1,2024-01-01 00:00:00,10.0,a\n";
  EXPECT_EQ(ValidateError(dir, ValidRepo(), csv),
            "features.yaml:10: feature view 'customer_stats': join key 'customer_id' is declared int64 but source 'orders' has VARCHAR");

  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("type: int64}"), 11, "type: string");
  EXPECT_EQ(ValidateError(dir, yaml),
            "features.yaml:10: feature view 'customer_stats': join key 'customer_id' is declared string but source 'orders' has BIGINT");
}

TEST(ValidateAgainstDataTest, UnreadableSource) {
  TempDir dir;
  std::string yaml = ValidRepo();
  auto repo = LoadYaml(dir, yaml);  // orders.csv is never written
  FS_ASSERT_OK(repo);
  auto db = testing::OpenTestDb();
  ASSERT_TRUE(db);
  Status status = ValidateAgainstData(*repo, *db);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().rfind("features.yaml:6: source 'orders': ", 0), 0u) << status.message();
}

// ---- Hash, diff, JSON ----

Result<std::string> ValidatedHash(const TempDir& dir, const std::string& yaml, FeatureRepo* out = nullptr) {
  WriteFile(dir.path() / "orders.csv", kOrdersCsv);
  auto repo = LoadYaml(dir, yaml);
  if (!repo.ok()) return repo.status();
  auto db = testing::OpenTestDb();
  if (!db) return Status::Internal("no duckdb");
  LATHE_RETURN_IF_ERROR(ValidateAgainstData(*repo, *db));
  if (out) *out = *repo;
  return HashRepo(*repo, *db);
}

TEST(HashRepoTest, StableAcrossLoadsAndChangedByAnExpression) {
  TempDir dir;
  auto first = ValidatedHash(dir, ValidRepo());
  auto second = ValidatedHash(dir, ValidRepo());
  FS_ASSERT_OK(first);
  FS_ASSERT_OK(second);
  EXPECT_EQ(*first, *second);
  EXPECT_TRUE(std::regex_match(*first, std::regex("[0-9a-f]{64}"))) << *first;

  // Comments and layout are not part of the canonical form.
  std::string commented = "# the shop's features\n" + ValidRepo();
  auto third = ValidatedHash(dir, commented);
  FS_ASSERT_OK(third);
  EXPECT_EQ(*first, *third);

  auto changed = ValidatedHash(dir, ValidRepo("avg(amount) OVER (PARTITION BY customer_id ORDER BY order_ts DESC)"));
  FS_ASSERT_OK(changed);
  EXPECT_NE(*first, *changed);
}

TEST(DiffReposTest, NewRepositoryListsEverything) {
  TempDir dir;
  FeatureRepo repo;
  FS_ASSERT_OK(ValidatedHash(dir, ValidRepo(), &repo));
  EXPECT_EQ(DiffRepos(nullptr, repo),
            (std::vector<std::string>{"+ entity customer", "+ source orders", "+ feature view customer_stats",
                                      "+ on-demand feature view order_request"}));
  EXPECT_TRUE(DiffRepos(&repo, repo).empty());
}

TEST(DiffReposTest, ChangedTtlIsOneLine) {
  TempDir dir;
  FeatureRepo before, after;
  FS_ASSERT_OK(ValidatedHash(dir, ValidRepo(), &before));
  std::string yaml = ValidRepo();
  yaml.replace(yaml.find("ttl: 30d"), 8, "ttl: 1d");
  FS_ASSERT_OK(ValidatedHash(dir, yaml, &after));
  EXPECT_EQ(DiffRepos(&before, after), std::vector<std::string>{"~ feature view customer_stats: ttl_seconds 2592000 -> 86400"});
}

TEST(DiffReposTest, AddedAndRemovedViewsAndEntities) {
  TempDir dir;
  FeatureRepo before, after;
  FS_ASSERT_OK(ValidatedHash(dir, ValidRepo(), &before));
  std::string yaml = ValidRepo();
  yaml.erase(yaml.find("on_demand_feature_views:"));
  yaml.insert(yaml.find("sources:"), "  - name: store\n    join_keys: [{name: store_id, type: string}]\n");
  FS_ASSERT_OK(ValidatedHash(dir, yaml, &after));
  EXPECT_EQ(DiffRepos(&before, after), (std::vector<std::string>{"+ entity store", "- on-demand feature view order_request"}));
}

TEST(DiffReposTest, FeatureLevelChangesAsTheHeaderDocuments) {
  // BUG: definitions.h documents one line per change at the feature level ("~ feature v:f type
  // double -> string", "- feature v:f"); DiffRepos compares whole views, so a changed or removed
  // feature comes out as one "~ feature view v: features [<whole list>] -> [<whole list>]" line.
  TempDir dir;
  FeatureRepo before, after;
  FS_ASSERT_OK(ValidatedHash(dir, ValidRepo(), &before));
  std::string yaml = ValidRepo();
  yaml.erase(yaml.find("      - name: last_amount\n"), std::string("      - name: last_amount\n        expression: amount\n").size());
  FS_ASSERT_OK(ValidatedHash(dir, yaml, &after));
  auto changes = DiffRepos(&before, after);
  EXPECT_EQ(changes, std::vector<std::string>{"- feature customer_stats:last_amount"});
}

TEST(RepoJsonTest, RoundTrip) {
  TempDir dir;
  FeatureRepo repo;
  auto hash = ValidatedHash(dir, ValidRepo(), &repo);
  FS_ASSERT_OK(hash);
  nlohmann::json json = ToJson(repo);
  EXPECT_EQ(json["feature_views"][0]["ttl_seconds"], 2592000);
  EXPECT_EQ(json["feature_views"][0]["features"][0]["type"], "double");
  EXPECT_FALSE(json.dump().find("features.yaml") != std::string::npos) << "locations are not canonical";
  auto back = FromJson(json);
  FS_ASSERT_OK(back);
  EXPECT_EQ(ToJson(*back), json);
  EXPECT_TRUE(DiffRepos(&repo, *back).empty());
  auto db = testing::OpenTestDb();
  ASSERT_TRUE(db);
  auto again = HashRepo(*back, *db);
  FS_ASSERT_OK(again);
  EXPECT_EQ(*again, *hash);

  nlohmann::json broken = json;
  broken.erase("sources");
  auto bad = FromJson(broken);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInternalError);
}

TEST(ParseFeatureRefsTest, Errors) {
  TempDir dir;
  auto repo = LoadYaml(dir, ValidRepo());
  FS_ASSERT_OK(repo);
  auto ok = ParseFeatureRefs(*repo, {"customer_stats:avg_amount", "order_request:ratio"});
  FS_ASSERT_OK(ok);
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].Name(), "order_request:ratio");

  auto unknown_feature = ParseFeatureRefs(*repo, {"customer_stats:nope"});
  ASSERT_FALSE(unknown_feature.ok());
  EXPECT_EQ(unknown_feature.status().code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(unknown_feature.status().message(), "feature view 'customer_stats' has no feature 'nope'");
  auto unknown_view = ParseFeatureRefs(*repo, {"stats:avg_amount"});
  ASSERT_FALSE(unknown_view.ok());
  EXPECT_EQ(unknown_view.status().message(), "unknown feature view 'stats' in 'stats:avg_amount'");
  auto malformed = ParseFeatureRefs(*repo, {"avg_amount"});
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.status().code(), ErrorCode::kInvalidParameterValue);
  auto twice = ParseFeatureRefs(*repo, {"customer_stats:avg_amount", "customer_stats:avg_amount"});
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().message(), "feature 'customer_stats:avg_amount' is requested twice");
  EXPECT_FALSE(ParseFeatureRefs(*repo, {}).ok());
}

}  // namespace
}  // namespace lathe::features
