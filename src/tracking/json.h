// MLflow's JSON rendering of tracking entities (proto field names, int64 as JSON numbers, ids as
// strings, empty repeated fields omitted), shared by the tracking API and the CLI.
#pragma once

#include <nlohmann/json.hpp>

#include "storage/store.h"
#include "tracking/search_filter.h"

namespace lathe::tracking {

nlohmann::json TagsJson(const std::vector<storage::Tag>& tags);
nlohmann::json MetricJson(const storage::Metric& metric);
nlohmann::json ExperimentJson(const storage::Experiment& experiment);
nlohmann::json RunInfoJson(const storage::RunInfo& info);
nlohmann::json RunJson(const storage::Run& run);
// A search answer: `field` holds the page's items (omitted when empty, as MLflow does) and
// `next_page_token` appears when another page follows.
template <typename T, typename ToJson>
nlohmann::json PageJson(const storage::Page<T>& page, const char* field, int64_t offset, ToJson to_json) {
  nlohmann::json body = nlohmann::json::object();
  if (!page.items.empty()) {
    auto& items = body[field] = nlohmann::json::array();
    for (const auto& item : page.items) items.push_back(to_json(item));
  }
  if (page.has_more) body["next_page_token"] = EncodePageToken(offset + static_cast<int64_t>(page.items.size()));
  return body;
}


}  // namespace lathe::tracking
