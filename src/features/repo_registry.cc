#include "features/repo_registry.h"

#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace lathe::features {

Result<std::optional<AppliedRepo>> LoadAppliedRepo(storage::Store& store) {
  LATHE_ASSIGN_OR_RETURN(auto latest, store.GetLatestFeatureRepoVersion());
  if (!latest) return std::optional<AppliedRepo>();
  auto json = nlohmann::json::parse(latest->definition, nullptr, false);
  if (json.is_discarded()) return Status::Internal(fmt::format("feature repository version {} is corrupt", latest->version));
  LATHE_ASSIGN_OR_RETURN(auto repo, FromJson(json));
  return std::optional<AppliedRepo>(AppliedRepo{std::move(repo), latest->hash, latest->version});
}

storage::DatasetInput TrainingSetInput(const std::string& name, const std::string& repo_hash,
                                       const std::vector<FeatureRef>& features) {
  nlohmann::json source = {{"feature_repo_hash", repo_hash}, {"features", nlohmann::json::array()}};
  for (const auto& ref : features) source["features"].push_back(ref.Name());
  storage::DatasetInput input;
  input.dataset.name = name;
  input.dataset.digest = repo_hash.substr(0, 8);
  input.dataset.source_type = kTrainingSetSourceType;
  input.dataset.source = source.dump();
  input.tags.push_back({"mlflow.data.context", "training"});
  return input;
}

namespace {

// Features that registered model versions were trained on: "view:feature" -> (type at training,
// "model version N").
Result<std::map<std::string, std::pair<std::string, std::string>>> FeaturesInUse(storage::Store& store) {
  std::map<std::string, std::pair<std::string, std::string>> in_use;
  LATHE_ASSIGN_OR_RETURN(auto versions, store.ListFeatureRepoVersions(1000000));
  std::map<std::string, FeatureRepo> by_hash;
  for (const auto& version : versions) {
    auto json = nlohmann::json::parse(version.definition, nullptr, false);
    if (json.is_discarded()) continue;
    auto repo = FromJson(json);
    if (repo.ok()) by_hash.emplace(version.hash, std::move(*repo));
  }
  storage::ModelVersionSearch search;
  search.max_results = 1000;
  std::set<std::string> seen_runs;
  for (;;) {
    LATHE_ASSIGN_OR_RETURN(auto page, store.SearchModelVersions(search));
    for (const auto& model_version : page.items) {
      if (model_version.run_id.empty()) continue;
      auto run = store.GetRun(model_version.run_id);
      if (!run.ok()) continue;
      for (const auto& input : run->inputs) {
        if (input.dataset.source_type != kTrainingSetSourceType) continue;
        auto source = nlohmann::json::parse(input.dataset.source, nullptr, false);
        if (!source.is_object() || !source.contains("features")) continue;
        auto repo = by_hash.find(source.value("feature_repo_hash", ""));
        for (const auto& name : source["features"]) {
          if (!name.is_string()) continue;
          std::string text = name.get<std::string>();
          auto colon = text.find(':');
          if (colon == std::string::npos) continue;
          std::string type;
          if (repo != by_hash.end()) {
            if (const Feature* feature = FindFeature(repo->second, {text.substr(0, colon), text.substr(colon + 1)})) type = feature->type;
          }
          in_use.emplace(text, std::make_pair(type, fmt::format("{} version {}", model_version.name, model_version.version)));
        }
      }
    }
    if (!page.has_more) break;
    search.offset += static_cast<int64_t>(page.items.size());
  }
  return in_use;
}

}  // namespace

Result<ApplyOutcome> ApplyRepo(storage::Store& store, const storage::WriteContext& context, const FeatureRepo& repo,
                               const std::string& hash, bool dry_run, bool allow_breaking) {
  LATHE_ASSIGN_OR_RETURN(auto current, LoadAppliedRepo(store));
  ApplyOutcome outcome;
  outcome.hash = hash;
  if (current && current->hash == hash) {
    outcome.version = current->version;
    return outcome;
  }
  outcome.changed = true;
  outcome.changes = DiffRepos(current ? &current->repo : nullptr, repo);
  if (!allow_breaking) {
    LATHE_ASSIGN_OR_RETURN(auto in_use, FeaturesInUse(store));
    std::vector<std::string> broken;
    for (const auto& [name, use] : in_use) {
      auto colon = name.find(':');
      const Feature* feature = FindFeature(repo, {name.substr(0, colon), name.substr(colon + 1)});
      if (!feature) {
        broken.push_back(fmt::format("{} would be removed but model {} was trained on it", name, use.second));
      } else if (!use.first.empty() && feature->type != use.first) {
        broken.push_back(fmt::format("{} would change type {} -> {} but model {} was trained on it", name, use.first,
                                     feature->type, use.second));
      }
    }
    if (!broken.empty()) {
      std::string message = "the change breaks features that registered models use: ";
      for (size_t i = 0; i < broken.size(); ++i) message += (i ? "; " : "") + broken[i];
      return Status::InvalidState(message + " (--allow-breaking applies it anyway)");
    }
  }
  if (dry_run) {
    outcome.version = current ? current->version + 1 : 1;
    return outcome;
  }
  LATHE_ASSIGN_OR_RETURN(auto saved, store.SaveFeatureRepoVersion(context, hash, ToJson(repo).dump()));
  outcome.version = saved.version;
  return outcome;
}

}  // namespace lathe::features
