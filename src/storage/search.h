// The parsed form of MLflow search requests (filter, order_by, paging) that a Store executes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lathe::storage {

// What a filter or order_by clause refers to: `metrics.rmse`, `params.alpha`, `tags.team`,
// `attributes.status` (also the bare `name` of registry searches), `datasets.digest`.
enum class Entity { kMetric, kParam, kTag, kAttribute, kDataset };

enum class Comparator { kEq, kNe, kLt, kLe, kGt, kGe, kLike, kILike, kIn, kNotIn };

// A number for metrics and numeric attributes, a string for the rest, a list for IN / NOT IN.
using FilterValue = std::variant<double, std::string, std::vector<std::string>>;

// One `entity.key comparator value` term; a filter is the AND of its clauses (MLflow has no OR).
struct FilterClause {
  Entity entity = Entity::kAttribute;
  std::string key;  // attribute keys are canonical: "run_name" for `run name`, "start_time" for `created`
  Comparator comparator = Comparator::kEq;
  FilterValue value;
};

struct OrderClause {
  Entity entity = Entity::kAttribute;
  std::string key;
  bool ascending = true;
};

enum class ViewType { kActiveOnly, kDeletedOnly, kAll };

// What every search has: the parsed filter and order, and which page.
struct SearchTerms {
  std::vector<FilterClause> filter;
  std::vector<OrderClause> order_by;
  int64_t max_results = 1000;
  int64_t offset = 0;  // decoded from the page token
};

struct RunSearch : SearchTerms {
  std::vector<int64_t> experiment_ids;
  ViewType view = ViewType::kActiveOnly;
};

struct ExperimentSearch : SearchTerms {
  ViewType view = ViewType::kActiveOnly;
};

struct RegisteredModelSearch : SearchTerms {};

struct ModelVersionSearch : SearchTerms {};

// How a comparator is written in a filter, and in SQL for the ones SQL shares.
inline std::string_view ComparatorSymbol(Comparator comparator) {
  switch (comparator) {
    case Comparator::kEq: return "=";
    case Comparator::kNe: return "!=";
    case Comparator::kLt: return "<";
    case Comparator::kLe: return "<=";
    case Comparator::kGt: return ">";
    case Comparator::kGe: return ">=";
    case Comparator::kLike: return "LIKE";
    case Comparator::kILike: return "ILIKE";
    case Comparator::kIn: return "IN";
    case Comparator::kNotIn: return "NOT IN";
  }
  return "?";
}

}  // namespace lathe::storage
