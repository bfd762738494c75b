// DuckDB's type names as monitoring reads them, and the kinds of columns they make: which columns
// are numbers, which categories. Shared by drift, integrity and the monitor so that they always
// agree on a column's family and kind.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

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
// DATE, TIME and the TIMESTAMP types (with time zone, _S, _MS, _NS).
inline bool IsDatetimeType(std::string_view type) { return type == "DATE" || type.starts_with("TIME"); }

// What a column holds, as Evidently's column types: it decides the drift test and the integrity
// checks. Text and datetime columns are not tested for drift (Evidently's data drift leaves
// datetime columns out, and tests text only with a trained classifier, which Lathe lacks).
enum class ColumnKind { kNumerical, kCategorical, kText, kDatetime };

// "numerical", "categorical", "text", "datetime".
std::string_view ColumnKindName(ColumnKind kind);
std::optional<ColumnKind> ParseColumnKind(std::string_view name);
inline constexpr std::string_view kColumnKindNames = "numerical, categorical, text or datetime";
// "column:kind" items (e.g. from --kind note:text or ?kinds=note:text,day:datetime) as a map; a
// malformed item, an unknown kind or a column named twice is an InvalidParameter error.
Result<std::map<std::string, ColumnKind>> ParseColumnKindList(const std::vector<std::string>& items);

// Evidently's inference (legacy ColumnMapping without declared features): floating point ->
// numerical; integers with at most 10 distinct non-null reference values -> categorical, else
// numerical; strings and booleans -> categorical; dates and times -> datetime. Text is never
// inferred, only declared, as in Evidently's ColumnMapping. `integer_distinct` is needed (and
// only read) for integer types; none for other types (nested, BLOB, ...).
std::optional<ColumnKind> InferColumnKind(std::string_view type, std::optional<int64_t> integer_distinct);

}  // namespace lathe::monitoring
