// DuckDB's type names as monitoring reads them: which columns are numbers, which categories.
// Shared by drift, integrity and the monitor so that they always agree on a column's family.
#pragma once

#include <string_view>

namespace lathe::monitoring {

// Types that can hold NaN and infinities.
inline bool IsIeeeFloatType(std::string_view type) { return type == "DOUBLE" || type == "FLOAT"; }
// Non-integer numbers: IEEE floats and DECIMAL(p, s).
inline bool IsFloatType(std::string_view type) { return IsIeeeFloatType(type) || type.starts_with("DECIMAL"); }
inline bool IsIntegerType(std::string_view type) {
  for (std::string_view integer : {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                                   "UINTEGER", "UBIGINT", "UHUGEINT"}) {
    if (type == integer) return true;
  }
  return false;
}
inline bool IsNumericType(std::string_view type) { return IsFloatType(type) || IsIntegerType(type); }
// Text and booleans: categorical whatever their number of values.
inline bool IsCategoricalType(std::string_view type) { return type == "VARCHAR" || type == "BOOLEAN"; }

}  // namespace lathe::monitoring
