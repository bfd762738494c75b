// The DuckDB wrapper's columnar read of DOUBLE columns, against the values the SQL defines.
#include "storage/duckdb.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lathe::storage {
namespace {

std::unique_ptr<DuckDb> OpenDb() {
  DuckDbOptions options;
  options.threads = 2;
  auto db = DuckDb::Open(options);
  EXPECT_TRUE(db.ok()) << db.status().message();
  return std::move(db).value();
}

// Several chunks (DuckDB's are 2,048 rows), NULLs inside and across validity words, a NaN that is
// a value and not a NULL.
TEST(DuckDbTest, QueryDoublesReadsColumnsWithNullsAsNaN) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Exec("CREATE TABLE t AS SELECT i, CASE WHEN i % 97 = 3 THEN NULL ELSE (i * 0.5)::DOUBLE END AS x, "
                       "CASE WHEN i = 10 THEN 'NaN'::DOUBLE ELSE -i END AS y FROM range(10000) r(i) ORDER BY i")
                  .ok());
  std::vector<std::vector<double>> columns;
  ASSERT_TRUE(db->QueryDoubles("SELECT x, y FROM t ORDER BY i", columns).ok());
  ASSERT_EQ(columns.size(), 2u);
  ASSERT_EQ(columns[0].size(), 10000u);
  ASSERT_EQ(columns[1].size(), 10000u);
  for (int i = 0; i < 10000; ++i) {
    if (i % 97 == 3) {
      EXPECT_TRUE(std::isnan(columns[0][i])) << i;
    } else {
      EXPECT_EQ(columns[0][i], i * 0.5) << i;
    }
    if (i != 10) {
      EXPECT_EQ(columns[1][i], -i) << i;
    }
  }
  EXPECT_TRUE(std::isnan(columns[1][10]));
  std::vector<int64_t> nulls = {42};
  ASSERT_TRUE(db->QueryDoubles("SELECT x, y FROM t", columns, &nulls).ok());
  EXPECT_EQ(nulls, (std::vector<int64_t>{104, 0}));  // i % 97 == 3 for 104 values of i
}

// The vectors are refilled, not appended to, and keep their storage when the next result fits.
TEST(DuckDbTest, QueryDoublesReusesTheCallersVectors) {
  auto db = OpenDb();
  std::vector<std::vector<double>> columns;
  ASSERT_TRUE(db->QueryDoubles("SELECT i::DOUBLE FROM range(5000) r(i)", columns).ok());
  const double* storage = columns[0].data();
  ASSERT_TRUE(db->QueryDoubles("SELECT (i * 2)::DOUBLE FROM range(3000) r(i)", columns).ok());
  ASSERT_EQ(columns.size(), 1u);
  ASSERT_EQ(columns[0].size(), 3000u);
  EXPECT_EQ(columns[0].data(), storage);
  EXPECT_EQ(columns[0][2999], 5998.0);
  ASSERT_TRUE(db->QueryDoubles("SELECT 1.5::DOUBLE WHERE false", columns).ok());
  EXPECT_TRUE(columns[0].empty());
}

TEST(DuckDbTest, QueryDoublesErrors) {
  auto db = OpenDb();
  std::vector<std::vector<double>> columns;
  Status wrong_type = db->QueryDoubles("SELECT 1::DOUBLE AS a, 'x' AS b", columns);
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.message(), "column 'b' of the query is VARCHAR, not DOUBLE");
  Status bad_sql = db->QueryDoubles("SELECT nope FROM range(3)", columns);
  ASSERT_FALSE(bad_sql.ok());
  EXPECT_EQ(bad_sql.message().find('\n'), std::string::npos) << bad_sql.message();
  // A failure past the first chunks.
  Status late = db->QueryDoubles("SELECT CAST(CASE WHEN i < 9000 THEN i::VARCHAR ELSE 'x' END AS DOUBLE) FROM range(10000) r(i)", columns);
  EXPECT_FALSE(late.ok());
}

TEST(DuckDbTest, QueryUint64sReadsTheWholeRange) {
  auto db = OpenDb();
  std::vector<uint64_t> values = {7};
  ASSERT_TRUE(db->QueryUint64s("SELECT CASE WHEN i = 0 THEN 18446744073709551615::UBIGINT ELSE (i * 3)::UBIGINT END "
                               "FROM range(5000) r(i) ORDER BY i",
                               values)
                  .ok());
  ASSERT_EQ(values.size(), 5000u);
  EXPECT_EQ(values[0], UINT64_MAX);
  EXPECT_EQ(values[4999], 14997u);
  ASSERT_TRUE(db->QueryUint64s("SELECT hash(i) FROM range(3) r(i) WHERE false", values).ok());
  EXPECT_TRUE(values.empty());
}

TEST(DuckDbTest, QueryUint64sErrors) {
  auto db = OpenDb();
  std::vector<uint64_t> values;
  Status wrong_type = db->QueryUint64s("SELECT 1::BIGINT AS a", values);
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.message(), "column 'a' of the query is BIGINT, not UBIGINT");
  Status two_columns = db->QueryUint64s("SELECT 1::UBIGINT, 2::UBIGINT", values);
  EXPECT_FALSE(two_columns.ok());
  Status null_value = db->QueryUint64s("SELECT CASE WHEN i = 4000 THEN NULL ELSE i::UBIGINT END FROM range(5000) r(i)", values);
  ASSERT_FALSE(null_value.ok());
  EXPECT_NE(null_value.message().find("NULL"), std::string::npos) << null_value.message();
}

}  // namespace
}  // namespace lathe::storage
