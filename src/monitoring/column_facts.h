#pragma once
// What the drift report learns about a column while it holds its values, beyond drift: the counts
// the integrity checks would otherwise scan the column again for (CheckIntegrity takes them from a
// drift report over the same two relations).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lathe::monitoring {

struct ColumnFacts {
  // The DuckDB types the counts were made on; CheckIntegrity uses them only when its own are the same.
  std::string reference_type;
  std::string current_type;
  int64_t reference_non_null = 0;
  int64_t current_non_null = 0;
  // Floating-point columns: the reference's smallest and largest non-NaN values (infinities
  // included; none when it has no such value), and how many non-null current values lie outside
  // that range, NaN included (as integrity's range check counts them).
  struct Range {
    std::optional<double> reference_min;
    std::optional<double> reference_max;
    int64_t current_outside = 0;
  };
  std::optional<Range> range;
  // Text columns: the current values the reference never has, with their counts, the most frequent
  // first (ties by value).
  std::optional<std::vector<std::pair<std::string, int64_t>>> unseen;
};

}  // namespace lathe::monitoring
