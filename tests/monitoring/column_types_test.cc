// Column kinds: their names, Evidently's inference from DuckDB's types, and "column:kind" lists.
#include "monitoring/column_types.h"

#include <gtest/gtest.h>

namespace lathe::monitoring {
namespace {

TEST(ColumnKindTest, NamesAndInference) {
  for (ColumnKind kind : {ColumnKind::kNumerical, ColumnKind::kCategorical, ColumnKind::kText, ColumnKind::kDatetime}) {
    EXPECT_EQ(ParseColumnKind(ColumnKindName(kind)), kind);
  }
  EXPECT_EQ(ParseColumnKind("Numerical"), std::nullopt);
  EXPECT_EQ(ParseColumnKind(""), std::nullopt);
  EXPECT_EQ(InferColumnKind("DOUBLE", std::nullopt), ColumnKind::kNumerical);
  EXPECT_EQ(InferColumnKind("DECIMAL(18,3)", std::nullopt), ColumnKind::kNumerical);
  EXPECT_EQ(InferColumnKind("BIGINT", 10), ColumnKind::kCategorical);
  EXPECT_EQ(InferColumnKind("BIGINT", 11), ColumnKind::kNumerical);
  EXPECT_EQ(InferColumnKind("BIGINT", std::nullopt), std::nullopt);
  EXPECT_EQ(InferColumnKind("VARCHAR", std::nullopt), ColumnKind::kCategorical);
  EXPECT_EQ(InferColumnKind("BOOLEAN", std::nullopt), ColumnKind::kCategorical);
  for (const char* type : {"DATE", "TIME", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"}) {
    EXPECT_EQ(InferColumnKind(type, std::nullopt), ColumnKind::kDatetime) << type;
  }
  EXPECT_EQ(InferColumnKind("BLOB", std::nullopt), std::nullopt);
  EXPECT_EQ(InferColumnKind("INTEGER[]", std::nullopt), std::nullopt);
  EXPECT_EQ(InferColumnKind("INTERVAL", std::nullopt), std::nullopt);
  auto parsed = ParseColumnKindList({"note:text", "a:b:datetime"});
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(*parsed, (std::map<std::string, ColumnKind>{{"note", ColumnKind::kText}, {"a:b", ColumnKind::kDatetime}}));
  EXPECT_EQ(ParseColumnKindList({"note"}).status().message(), "'note' is not column:kind (e.g. note:text)");
  EXPECT_EQ(ParseColumnKindList({":text"}).status().message(), "':text' is not column:kind (e.g. note:text)");
  EXPECT_EQ(ParseColumnKindList({"n:text", "n:text"}).status().message(), "column 'n' is given a kind twice");
  EXPECT_EQ(ParseColumnKindList({"n:ordinal"}).status().message(),
            "column 'n': kind must be numerical, categorical, text or datetime, not 'ordinal'");
}

}  // namespace
}  // namespace lathe::monitoring
