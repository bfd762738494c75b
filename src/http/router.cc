// Route lookup.
#include "http/router.h"

#include <algorithm>

namespace lathe::http {

Router::Router(std::vector<Route> routes) : routes_(std::move(routes)) {
  for (const auto& route : routes_) {
    if (route.prefix) {
      prefixes_.push_back(&route);
    } else {
      exact_[route.path].push_back(&route);
    }
  }
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const Route* a, const Route* b) { return a->path.size() > b->path.size(); });
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  // HEAD is GET without the body (as Flask answers it), for load balancers' probes among others.
  if (method == "HEAD") method = "GET";
  static constexpr std::string_view kAjaxPrefix = "/ajax-api/";
  std::string canonical;
  if (path.starts_with(kAjaxPrefix)) {
    canonical = "/api/";
    canonical.append(path.substr(kAjaxPrefix.size()));
    path = canonical;
  }
  Match match;
  if (auto it = exact_.find(std::string(path)); it != exact_.end()) {
    match.path_exists = true;
    for (const Route* route : it->second) {
      if (route->method == method) {
        match.route = route;
        return match;
      }
    }
  }
  for (const Route* route : prefixes_) {
    if (!path.starts_with(route->path)) continue;
    match.path_exists = true;
    if (route->method == method) {
      match.route = route;
      match.suffix = std::string(path.substr(route->path.size()));
      return match;
    }
  }
  return match;
}

}  // namespace lathe::http
