// The MLflow search grammar: entities, aliases, quoting, comparators, lists, errors, page tokens.
#include "tracking/search_filter.h"

#include <random>

#include <gtest/gtest.h>

namespace lathe::tracking {
namespace {

using storage::Comparator;
using storage::Entity;

TEST(SearchFilterTest, ParsesClausesJoinedByAnd) {
  auto clauses = ParseRunFilter("metrics.rmse < 0.5 and params.alpha = 'a1' AND tags.`team name` LIKE \"ml%\"");
  ASSERT_TRUE(clauses.ok()) << clauses.status().message();
  ASSERT_EQ(clauses->size(), 3u);
  EXPECT_EQ((*clauses)[0].entity, Entity::kMetric);
  EXPECT_EQ((*clauses)[0].key, "rmse");
  EXPECT_EQ((*clauses)[0].comparator, Comparator::kLt);
  EXPECT_EQ(std::get<double>((*clauses)[0].value), 0.5);
  EXPECT_EQ((*clauses)[1].entity, Entity::kParam);
  EXPECT_EQ(std::get<std::string>((*clauses)[1].value), "a1");
  EXPECT_EQ((*clauses)[2].entity, Entity::kTag);
  EXPECT_EQ((*clauses)[2].key, "team name");
  EXPECT_EQ((*clauses)[2].comparator, Comparator::kLike);
  EXPECT_EQ(std::get<std::string>((*clauses)[2].value), "ml%");
  EXPECT_TRUE(ParseRunFilter("  ")->empty());
}

TEST(SearchFilterTest, AliasesAndAttributes) {
  auto clauses = ParseRunFilter("metric.`a.b` >= -1e-3 and param.x != 'y' and attr.status = 'FINISHED' and "
                                "created > 5 and `Run name` ILIKE 'A%' and run_id IN ('a', 'b') and "
                                "attributes.run_name NOT IN ('c')");
  ASSERT_TRUE(clauses.ok()) << clauses.status().message();
  ASSERT_EQ(clauses->size(), 7u);
  EXPECT_EQ((*clauses)[0].key, "a.b");
  EXPECT_EQ(std::get<double>((*clauses)[0].value), -1e-3);
  EXPECT_EQ((*clauses)[3].key, "start_time");
  EXPECT_EQ((*clauses)[4].key, "run_name");
  EXPECT_EQ((*clauses)[4].comparator, Comparator::kILike);
  EXPECT_EQ(std::get<std::vector<std::string>>((*clauses)[5].value), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ((*clauses)[6].comparator, Comparator::kNotIn);
}

TEST(SearchFilterTest, RejectsWhatMlflowRejects) {
  struct Case {
    const char* filter;
    const char* fragment;
  };
  for (const auto& c : std::vector<Case>{{"metrics.rmse = 'x'", "Expected numeric value type for metric"},
                                         {"metrics.rmse LIKE '1'", "Invalid comparator 'LIKE'"},
                                         {"params.a < 'x'", "Invalid comparator '<'"},
                                         {"params.a = 1", "quoted string"},
                                         {"colour.a = 'x'", "Invalid entity type 'colour'"},
                                         {"attributes.colour = 'x'", "Invalid attribute key 'colour'"},
                                         {"start_time = 'yesterday'", "Expected numeric value"},
                                         {"params.a = 'x' or params.b = 'y'", "OR is not supported"},
                                         {"params.a = 'x' and", "ends with AND"},
                                         {"params.a = 'x' params.b = 'y'", "expected AND"},
                                         {"tags.t = 'open", "unterminated quote"},
                                         {"run_id IN 'a'", "parenthesised list"},
                                         {"run_id IN ('a' 'b')", "expected ',' or ')'"},
                                         {"status IN ('a')", ""}}) {
    auto parsed = ParseRunFilter(c.filter);
    if (std::string(c.fragment).empty()) {
      EXPECT_TRUE(parsed.ok()) << c.filter;
      continue;
    }
    ASSERT_FALSE(parsed.ok()) << c.filter;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidParameterValue);
    EXPECT_NE(parsed.status().message().find(c.fragment), std::string::npos)
        << c.filter << " -> " << parsed.status().message();
  }
}

TEST(SearchFilterTest, OrderBy) {
  auto order = ParseRunOrderBy("metrics.rmse DESC");
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(order->entity, Entity::kMetric);
  EXPECT_FALSE(order->ascending);
  auto by_attribute = ParseRunOrderBy("start_time");
  ASSERT_TRUE(by_attribute.ok());
  EXPECT_TRUE(by_attribute->ascending);
  EXPECT_FALSE(ParseRunOrderBy("metrics.rmse upward").ok());
  EXPECT_FALSE(ParseRunOrderBy("").ok());
  EXPECT_FALSE(ParseRunOrderBy("attributes.colour").ok());
  EXPECT_TRUE(ParseExperimentOrderBy("last_update_time DESC").ok());
  EXPECT_FALSE(ParseExperimentOrderBy("metrics.x").ok());
  EXPECT_TRUE(ParseRegisteredModelOrderBy("timestamp DESC").ok());
  EXPECT_TRUE(ParseModelVersionOrderBy("version_number").ok());
}

TEST(SearchFilterTest, RegistryGrammars) {
  EXPECT_TRUE(ParseRegisteredModelFilter("name LIKE 'churn%' and tags.task = 'cls'").ok());
  EXPECT_FALSE(ParseRegisteredModelFilter("metrics.x > 1").ok());
  auto versions = ParseModelVersionFilter("name = 'm' and run_id IN ('a','b') and version_number > 2");
  ASSERT_TRUE(versions.ok()) << versions.status().message();
  EXPECT_EQ(std::get<double>((*versions)[2].value), 2);
  EXPECT_FALSE(ParseModelVersionFilter("name NOT IN ('a')").ok());
  EXPECT_TRUE(ParseExperimentFilter("name = 'x' and tags.k != 'v' and creation_time > 5").ok());
  EXPECT_FALSE(ParseExperimentFilter("params.a = 'x'").ok());
}

TEST(SearchFilterTest, PageTokensRoundTrip) {
  for (int64_t offset : {0, 1, 99, 1000, 123456789}) {
    auto decoded = DecodePageToken(EncodePageToken(offset));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, offset);
  }
  EXPECT_EQ(EncodePageToken(100), "eyJvZmZzZXQiOjEwMH0=");  // base64 of {"offset":100}
  EXPECT_EQ(*DecodePageToken(""), 0);
  EXPECT_FALSE(DecodePageToken("!!").ok());
  EXPECT_FALSE(DecodePageToken("Zm9v").ok());                   // "foo"
  EXPECT_FALSE(DecodePageToken("eyJvZmZzZXQiOi0xfQ==").ok());   // {"offset":-1}
}

TEST(SearchFilterTest, RandomInputNeverCrashes) {
  std::mt19937 rng(7);
  const std::string alphabet = "metrics.params.tags'\"`()=<>!, andorINLIKE0123456789-.e ";
  for (int i = 0; i < 20000; ++i) {
    std::string filter;
    int length = static_cast<int>(rng() % 60);
    for (int j = 0; j < length; ++j) filter += alphabet[rng() % alphabet.size()];
    (void)ParseRunFilter(filter);
    (void)ParseRunOrderBy(filter);
    (void)ParseModelVersionFilter(filter);
    (void)DecodePageToken(filter);
  }
}

}  // namespace
}  // namespace lathe::tracking
