// Deployments: the models a server serves, each with its batcher; lazy loading, LRU eviction
// within a memory budget, canary and shadow versions, and reloads when a registry alias moves.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"
#include "models/model.h"
#include "serving/dynamic_batcher.h"
#include "serving/metrics.h"
#include "serving/model_source.h"

namespace lathe::serving {

struct DeploymentSpec {
  std::string name;
  std::string model_uri;     // path, runs:/..., models:/name/version or models:/name@alias
  bool lazy = false;         // load on the first request instead of at deploy time
  bool is_default = false;   // answers POST /invocations in `lathe server`
  BatchingOptions batching;
  std::string canary_uri;    // optional second version that receives canary_weight % of requests
  uint32_t canary_weight = 0;
  std::string shadow_uri;    // optional version that sees every request; its outputs are only recorded
};

// Reads a spec from the REST/CLI JSON form, with precise errors; ToJson writes the same form.
Result<DeploymentSpec> DeploymentSpecFromJson(const nlohmann::json& body);
nlohmann::json DeploymentSpecToJson(const DeploymentSpec& spec);

// One loaded version of a deployment. Requests hold a shared_ptr while they use it, so a version
// swapped out or evicted is freed only when its last request finishes (draining).
struct ServedModel {
  std::string deployment;
  std::string role;  // "primary", "canary" or "shadow"
  ResolvedModel resolved;
  std::shared_ptr<const models::Model> model;
  std::unique_ptr<DynamicBatcher> batcher;
  double load_seconds = 0;
  std::atomic<int64_t> last_used_ms{0};
  // Looked up once at load so that the request path touches only atomics.
  Histogram* latency = nullptr;     // request duration, seconds
  Histogram* batch_rows = nullptr;  // rows per merged predict
  Counter* ok_requests = nullptr;   // successful requests
};

struct ManagerOptions {
  uint64_t memory_budget_bytes = 0;  // 0: no budget
  int alias_poll_ms = 1000;
  std::filesystem::path state_file;  // where deployments persist (empty: not persisted)
  std::filesystem::path shadow_log;  // JSON lines of shadow outputs (empty: not recorded)
  int http_threads = 1;              // the automatic worker count of a model (BatchingOptions::workers)
};

class DeploymentManager {
 public:
  DeploymentManager(ModelSource& source, MetricsRegistry& metrics, ManagerOptions options);
  ~DeploymentManager();
  DeploymentManager(const DeploymentManager&) = delete;
  DeploymentManager& operator=(const DeploymentManager&) = delete;

  // Reloads the persisted deployments (each failure is logged and leaves that deployment
  // unloaded) and starts following registry aliases.
  Status Start();
  void Stop();

  // Creates (or with `replace`, replaces) a deployment. Validates the URIs and, unless lazy, loads
  // and warms the model before answering, so that a bad package is reported to the caller.
  Status Deploy(const DeploymentSpec& spec, bool replace);
  Status Undeploy(const std::string& name);

  std::vector<std::string> Names() const;
  Result<nlohmann::json> Describe(const std::string& name) const;
  nlohmann::json DescribeAll() const;
  // The name of the deployment that answers bare /invocations: the one marked default, or the
  // only one. kInvalidParameterValue naming the deployments otherwise.
  Result<std::string> DefaultDeployment() const;

  // The model that serves a request to `name`: with `version`, exactly that version (primary or
  // canary); otherwise primary or canary by weight, sticky for a non-empty `routing_key`.
  // Loads a lazy or evicted model first. With `shadow`, also sets it to the deployment's shadow
  // model when it has one that loads (nullptr otherwise).
  Result<std::shared_ptr<ServedModel>> Route(const std::string& name, const std::string& version,
                                             const std::string& routing_key,
                                             std::shared_ptr<ServedModel>* shadow = nullptr);
  // Records a shadow's outputs (JSON lines) in the background; drops and counts when too far behind.
  void RecordShadow(std::shared_ptr<ServedModel> shadow, std::vector<models::Tensor> inputs,
                    std::vector<std::string> prediction_ids);

  // True when every non-lazy deployment is loaded (OIP server readiness).
  bool Ready() const;
  // Gauges computed at scrape time (queue depth, loaded models, memory).
  std::string RenderGauges() const;

 private:
  struct Deployment;
  struct ShadowJob;

  Result<std::shared_ptr<ServedModel>> Load(const DeploymentSpec& spec, const std::string& role,
                                            const std::string& uri);
  Result<std::shared_ptr<ServedModel>> EnsureLoaded(Deployment& deployment, const std::string& role);
  void EnforceMemoryBudget(const ServedModel* keep);
  Status Persist() const;
  void WatchAliases();
  void ReloadFollowers(const AliasChange& change);
  void RecordShadows();

  ModelSource& source_;
  MetricsRegistry& metrics_;
  const ManagerOptions options_;

  mutable std::mutex mutex_;  // guards deployments_ and the ServedModel pointers in it; never held across I/O
  std::map<std::string, std::shared_ptr<Deployment>> deployments_;
  mutable std::mutex persist_mutex_;

  std::atomic<bool> stopping_{false};
  std::mutex watcher_mutex_;
  std::condition_variable watcher_wake_;
  std::thread watcher_;

  std::mutex shadow_mutex_;
  std::condition_variable shadow_wake_;
  std::vector<std::unique_ptr<ShadowJob>> shadow_queue_;
  std::thread shadow_thread_;
};

}  // namespace lathe::serving
