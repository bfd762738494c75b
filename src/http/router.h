// Finds the route for a method and path: exact paths by hash lookup, then prefix routes, longest
// first. `/ajax-api/2.0/...` is MLflow's UI alias of `/api/2.0/...` and resolves to the same route.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/api.h"

namespace lathe::http {

class Router {
 public:
  explicit Router(std::vector<Route> routes);

  struct Match {
    const Route* route = nullptr;
    std::string suffix;            // for prefix routes: the path after the prefix
    bool path_exists = false;      // some method serves this path (405 rather than 404)
  };
  Match Find(std::string_view method, std::string_view path) const;

 private:
  std::vector<Route> routes_;
  std::unordered_map<std::string, std::vector<const Route*>> exact_;  // path -> routes of each method
  std::vector<const Route*> prefixes_;                                // longest prefix first
};

}  // namespace lathe::http
