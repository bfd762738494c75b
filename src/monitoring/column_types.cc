#include "monitoring/column_types.h"

#include <fmt/format.h>

namespace lathe::monitoring {

std::string_view ColumnKindName(ColumnKind kind) {
  switch (kind) {
    case ColumnKind::kNumerical:
      return "numerical";
    case ColumnKind::kCategorical:
      return "categorical";
    case ColumnKind::kText:
      return "text";
    case ColumnKind::kDatetime:
      return "datetime";
  }
  return "";
}

std::optional<ColumnKind> ParseColumnKind(std::string_view name) {
  for (ColumnKind kind : {ColumnKind::kNumerical, ColumnKind::kCategorical, ColumnKind::kText, ColumnKind::kDatetime}) {
    if (ColumnKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

Result<std::map<std::string, ColumnKind>> ParseColumnKindList(const std::vector<std::string>& items) {
  std::map<std::string, ColumnKind> kinds;
  for (const auto& item : items) {
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return Status::InvalidParameter(fmt::format("'{}' is not column:kind (e.g. note:text)", item));
    }
    const std::string column = item.substr(0, colon);
    auto kind = ParseColumnKind(std::string_view(item).substr(colon + 1));
    if (!kind) {
      return Status::InvalidParameter(fmt::format("column '{}': kind must be {}, not '{}'", column, kColumnKindNames, item.substr(colon + 1)));
    }
    if (!kinds.emplace(column, *kind).second) return Status::InvalidParameter(fmt::format("column '{}' is given a kind twice", column));
  }
  return kinds;
}

std::optional<ColumnKind> InferColumnKind(std::string_view type, std::optional<int64_t> integer_distinct) {
  if (IsFloatType(type)) return ColumnKind::kNumerical;
  if (IsCategoricalType(type)) return ColumnKind::kCategorical;
  if (IsDatetimeType(type)) return ColumnKind::kDatetime;
  if (IsIntegerType(type) && integer_distinct) return *integer_distinct <= 10 ? ColumnKind::kCategorical : ColumnKind::kNumerical;
  return std::nullopt;
}

}  // namespace lathe::monitoring
