// Deployments: loading, routing, eviction, alias following, shadow recording and persistence.
#include "serving/deployment_manager.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/json_dump.h"

namespace lathe::serving {

using nlohmann::json;

struct DeploymentManager::Deployment {
  DeploymentSpec spec;
  // Guarded by the manager's mutex_.
  std::shared_ptr<ServedModel> primary;
  std::shared_ptr<ServedModel> canary;
  std::shared_ptr<ServedModel> shadow;
  std::string last_error;
  // Serialises loads of this deployment's models, so that concurrent first requests load once.
  std::mutex load_mutex;

  std::shared_ptr<ServedModel>& Slot(const std::string& role) {
    return role == "canary" ? canary : role == "shadow" ? shadow : primary;
  }
  const std::string& UriFor(const std::string& role) const {
    return role == "canary" ? spec.canary_uri : role == "shadow" ? spec.shadow_uri : spec.model_uri;
  }
};

struct DeploymentManager::ShadowJob {
  std::shared_ptr<ServedModel> shadow;
  std::vector<models::Tensor> inputs;
  std::vector<std::string> prediction_ids;
};

namespace {

constexpr size_t kShadowQueueLimit = 1024;

Status SpecError(const std::string& message) { return Status::InvalidParameter("deployment: " + message); }

template <typename T>
Status ReadUnsigned(const json& object, const char* key, uint64_t low, uint64_t high, T* out) {
  auto found = object.find(key);
  if (found == object.end()) return Status::Ok();
  if (!found->is_number_unsigned() || found->get<uint64_t>() < low || found->get<uint64_t>() > high) {
    return SpecError(fmt::format("'{}' must be an integer from {} to {}", key, low, high));
  }
  *out = static_cast<T>(found->get<uint64_t>());
  return Status::Ok();
}

Status CheckKeys(const json& object, std::initializer_list<std::string_view> allowed, std::string_view where) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (auto name : allowed) known |= key == name;
    if (!known) {
      return SpecError(fmt::format("unknown field '{}' in {} (known: {})", key, where, fmt::join(allowed, ", ")));
    }
  }
  return Status::Ok();
}

std::string ReadString(const json& object, const char* key) {
  auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// Synthetic one-row inputs: a first predict pays for lazy allocations before real traffic does.
std::vector<models::Tensor> WarmUpInputs(const models::ModelMetadata& metadata) {
  std::vector<models::Tensor> inputs;
  for (const auto& spec : metadata.inputs) {
    models::Tensor tensor;
    tensor.name = spec.name;
    tensor.datatype = spec.datatype;
    tensor.shape = {1};
    int64_t width = 1;
    for (size_t i = 1; i < spec.shape.size(); ++i) {
      const int64_t dimension = spec.shape[i] > 0 ? spec.shape[i] : 1;
      tensor.shape.push_back(dimension);
      width *= dimension;
    }
    if (tensor.is_bytes()) {
      tensor.strings.assign(width, std::string());
      tensor.nulls.assign(width, 1);
    } else {
      tensor.numbers.assign(width, 0.0);
    }
    inputs.push_back(std::move(tensor));
  }
  return inputs;
}

json TensorValues(const models::Tensor& tensor) {
  json values = json::array();
  if (tensor.is_bytes()) {
    for (size_t i = 0; i < tensor.strings.size(); ++i) {
      values.push_back(tensor.is_null(i) ? json(nullptr) : json(tensor.strings[i]));
    }
  } else {
    for (double value : tensor.numbers) values.push_back(std::isfinite(value) ? json(value) : json(nullptr));
  }
  return values;
}

// Writes `bytes` to `path` so that a crash leaves either the old or the new file, never a torn one.
Status WriteFileAtomically(const std::filesystem::path& path, const std::string& bytes) {
  const auto staging = path.string() + ".tmp";
  int fd = ::open(staging.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Internal(fmt::format("cannot write {}: {}", staging, std::strerror(errno)));
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return Status::Internal(fmt::format("cannot write {}: {}", staging, std::strerror(errno)));
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(staging.c_str(), path.c_str()) != 0) {
    return Status::Internal(fmt::format("cannot replace {}: {}", path.string(), std::strerror(errno)));
  }
  int directory = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (directory >= 0) {
    ::fsync(directory);
    ::close(directory);
  }
  return Status::Ok();
}

bool FollowsAlias(const std::string& uri, const AliasChange& change) {
  auto parsed = ParseModelUri(uri);
  return parsed.ok() && parsed->kind == ModelUri::Kind::kRegistryAlias && parsed->name == change.name &&
         parsed->alias == change.alias;
}

}  // namespace

Result<DeploymentSpec> DeploymentSpecFromJson(const json& body) {
  if (!body.is_object()) return SpecError("expected a JSON object");
  LATHE_RETURN_IF_ERROR(
      CheckKeys(body, {"name", "model_uri", "lazy", "default", "batching", "canary", "shadow"}, "the deployment"));
  DeploymentSpec spec;
  spec.name = ReadString(body, "name");
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");
  if (!std::regex_match(spec.name, kName)) {
    return SpecError(fmt::format("'name' must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or "
                                 "digit; got '{}'",
                                 spec.name));
  }
  spec.model_uri = ReadString(body, "model_uri");
  if (spec.model_uri.empty()) return SpecError("'model_uri' is required (a path, runs:/..., models:/name/version or models:/name@alias)");
  LATHE_RETURN_IF_ERROR(ParseModelUri(spec.model_uri).status());
  for (const char* flag : {"lazy", "default"}) {
    auto found = body.find(flag);
    if (found != body.end() && !found->is_boolean()) return SpecError(fmt::format("'{}' must be true or false", flag));
  }
  spec.lazy = body.value("lazy", false);
  spec.is_default = body.value("default", false);
  if (auto batching = body.find("batching"); batching != body.end()) {
    if (!batching->is_object()) return SpecError("'batching' must be an object");
    LATHE_RETURN_IF_ERROR(CheckKeys(*batching, {"max_batch_size", "max_batch_delay_us", "max_queue_rows", "workers"},
                                    "'batching'"));
    LATHE_RETURN_IF_ERROR(ReadUnsigned(*batching, "max_batch_size", 1, 65536, &spec.batching.max_batch_size));
    LATHE_RETURN_IF_ERROR(ReadUnsigned(*batching, "max_batch_delay_us", 0, 1000000, &spec.batching.max_batch_delay_us));
    LATHE_RETURN_IF_ERROR(ReadUnsigned(*batching, "max_queue_rows", 1, 10000000, &spec.batching.max_queue_rows));
    LATHE_RETURN_IF_ERROR(ReadUnsigned(*batching, "workers", 0, 64, &spec.batching.workers));
  }
  if (auto canary = body.find("canary"); canary != body.end() && !canary->is_null()) {
    if (!canary->is_object()) return SpecError("'canary' must be an object {\"model_uri\", \"weight\"}");
    LATHE_RETURN_IF_ERROR(CheckKeys(*canary, {"model_uri", "weight"}, "'canary'"));
    spec.canary_uri = ReadString(*canary, "model_uri");
    if (spec.canary_uri.empty()) return SpecError("'canary.model_uri' is required");
    LATHE_RETURN_IF_ERROR(ParseModelUri(spec.canary_uri).status());
    if (!canary->contains("weight")) return SpecError("'canary.weight' (percent of requests, 0-100) is required");
    LATHE_RETURN_IF_ERROR(ReadUnsigned(*canary, "weight", 0, 100, &spec.canary_weight));
  }
  if (auto shadow = body.find("shadow"); shadow != body.end() && !shadow->is_null()) {
    if (!shadow->is_object()) return SpecError("'shadow' must be an object {\"model_uri\"}");
    LATHE_RETURN_IF_ERROR(CheckKeys(*shadow, {"model_uri"}, "'shadow'"));
    spec.shadow_uri = ReadString(*shadow, "model_uri");
    if (spec.shadow_uri.empty()) return SpecError("'shadow.model_uri' is required");
    LATHE_RETURN_IF_ERROR(ParseModelUri(spec.shadow_uri).status());
  }
  return spec;
}

json DeploymentSpecToJson(const DeploymentSpec& spec) {
  json out = {{"name", spec.name},
              {"model_uri", spec.model_uri},
              {"lazy", spec.lazy},
              {"default", spec.is_default},
              {"batching",
               {{"max_batch_size", spec.batching.max_batch_size},
                {"max_batch_delay_us", spec.batching.max_batch_delay_us},
                {"max_queue_rows", spec.batching.max_queue_rows},
                {"workers", spec.batching.workers}}}};
  if (!spec.canary_uri.empty()) out["canary"] = {{"model_uri", spec.canary_uri}, {"weight", spec.canary_weight}};
  if (!spec.shadow_uri.empty()) out["shadow"] = {{"model_uri", spec.shadow_uri}};
  return out;
}

DeploymentManager::DeploymentManager(ModelSource& source, MetricsRegistry& metrics, ManagerOptions options)
    : source_(source), metrics_(metrics), options_(std::move(options)) {}

DeploymentManager::~DeploymentManager() { Stop(); }

Status DeploymentManager::Start() {
  if (!options_.state_file.empty() && std::filesystem::exists(options_.state_file)) {
    std::ifstream file(options_.state_file);
    json state = json::parse(file, nullptr, /*allow_exceptions=*/false);
    if (!state.is_object() || !state.contains("deployments") || !state["deployments"].is_array()) {
      return Status::InvalidParameter(fmt::format("{} is not a deployments file", options_.state_file.string()));
    }
    for (const auto& item : state["deployments"]) {
      auto spec = DeploymentSpecFromJson(item);
      if (!spec.ok()) {
        spdlog::error("skipping a saved deployment: {}", spec.status().message());
        continue;
      }
      auto deployment = std::make_shared<Deployment>();
      deployment->spec = std::move(*spec);
      std::lock_guard lock(mutex_);
      deployments_[deployment->spec.name] = deployment;
    }
    for (const auto& name : Names()) {
      std::shared_ptr<Deployment> deployment;
      {
        std::lock_guard lock(mutex_);
        deployment = deployments_[name];
      }
      if (deployment->spec.lazy) continue;
      for (const char* role : {"primary", "canary", "shadow"}) {
        if (deployment->UriFor(role).empty()) continue;
        auto loaded = EnsureLoaded(*deployment, role);
        if (!loaded.ok()) spdlog::error("deployment {}: {} not loaded: {}", name, role, loaded.status().message());
      }
    }
  }
  auto latest = source_.LatestAliasChangeId();
  if (!latest.ok()) return latest.status();
  const int64_t start_after = *latest;
  watcher_ = std::thread([this, start_after] {
    int64_t after = start_after;
    std::unique_lock lock(watcher_mutex_);
    while (!stopping_) {
      watcher_wake_.wait_for(lock, std::chrono::milliseconds(options_.alias_poll_ms));
      if (stopping_) break;
      lock.unlock();
      auto changes = source_.AliasChangesAfter(after);
      if (!changes.ok()) {
        spdlog::warn("cannot read alias moves: {}", changes.status().message());
      } else {
        for (const auto& change : *changes) {
          ReloadFollowers(change);
          after = change.id;
        }
      }
      lock.lock();
    }
  });
  shadow_thread_ = std::thread([this] { RecordShadows(); });
  return Status::Ok();
}

void DeploymentManager::Stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(watcher_mutex_);
    watcher_wake_.notify_all();
  }
  {
    std::lock_guard lock(shadow_mutex_);
    shadow_wake_.notify_all();
  }
  if (watcher_.joinable()) watcher_.join();
  if (shadow_thread_.joinable()) shadow_thread_.join();
}

Result<std::shared_ptr<ServedModel>> DeploymentManager::Load(const DeploymentSpec& spec, const std::string& role,
                                                             const std::string& uri) {
  LATHE_ASSIGN_OR_RETURN(ModelUri parsed, ParseModelUri(uri));
  LATHE_ASSIGN_OR_RETURN(ResolvedModel resolved, source_.Resolve(parsed));
  const auto started = std::chrono::steady_clock::now();
  auto model = models::LoadModel(resolved.directory);
  if (!model.ok()) {
    return Status(model.status().code(), fmt::format("cannot load {} ({}): {}", uri, resolved.directory.string(),
                                                     model.status().message()));
  }
  auto served = std::make_shared<ServedModel>();
  served->deployment = spec.name;
  served->role = role;
  served->resolved = std::move(resolved);
  served->model = std::shared_ptr<const models::Model>(std::move(*model));
  std::vector<models::Tensor> warm_outputs;
  auto warmed = served->model->Predict(WarmUpInputs(served->model->metadata()), &warm_outputs);
  if (!warmed.ok()) spdlog::debug("deployment {}: warm-up predict failed: {}", spec.name, warmed.message());
  BatchingOptions batching = spec.batching;
  if (batching.workers == 0) {
    batching.workers = served->model->metadata().concurrent_predicts ? std::max(1, options_.http_threads) : 1;
  }
  served->batcher = std::make_unique<DynamicBatcher>(served->model, batching);
  served->load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  served->last_used_ms = NowMillis();
  const Labels labels = {{"model", spec.name}, {"version", served->resolved.version}};
  served->latency = &metrics_.GetHistogram("lathe_inference_request_duration_seconds",
                                           "Inference request duration, from decoded request to encoded response",
                                           labels, LatencyBuckets());
  served->batch_rows = &metrics_.GetHistogram("lathe_inference_batch_rows", "Rows per merged predict call", labels,
                                              BatchSizeBuckets());
  served->ok_requests = &metrics_.GetCounter("lathe_inference_requests_total", "Inference requests by outcome",
                                             {{"model", spec.name}, {"version", served->resolved.version}, {"status", "200"}});
  metrics_.GetCounter("lathe_model_loads_total", "Models loaded", {{"model", spec.name}}).Increment();
  metrics_.GetHistogram("lathe_model_load_duration_seconds", "Time to load and warm a model", {{"model", spec.name}},
                        LatencyBuckets())
      .Observe(served->load_seconds);
  spdlog::info("deployment={} role={} uri={} version={} evaluator={} loaded in {:.1f} ms", spec.name, role, uri,
               served->resolved.version, served->model->metadata().evaluator, served->load_seconds * 1000);
  return served;
}

Result<std::shared_ptr<ServedModel>> DeploymentManager::EnsureLoaded(Deployment& deployment, const std::string& role) {
  {
    std::lock_guard lock(mutex_);
    if (auto& slot = deployment.Slot(role)) return slot;
  }
  std::lock_guard load_lock(deployment.load_mutex);
  DeploymentSpec spec;
  {
    std::lock_guard lock(mutex_);
    if (auto& slot = deployment.Slot(role)) return slot;  // loaded while we waited
    spec = deployment.spec;
  }
  auto loaded = Load(spec, role, deployment.UriFor(role));
  std::shared_ptr<ServedModel> served;
  {
    std::lock_guard lock(mutex_);
    if (!loaded.ok()) {
      deployment.last_error = loaded.status().message();
      return loaded.status();
    }
    deployment.last_error.clear();
    deployment.Slot(role) = *loaded;
    served = *loaded;
  }
  EnforceMemoryBudget(served.get());
  return served;
}

void DeploymentManager::EnforceMemoryBudget(const ServedModel* keep) {
  if (options_.memory_budget_bytes == 0) return;
  std::vector<std::pair<std::string, std::string>> evicted;
  {
    std::lock_guard lock(mutex_);
    while (true) {
      uint64_t total = 0;
      std::shared_ptr<ServedModel>* oldest = nullptr;
      for (auto& [name, deployment] : deployments_) {
        for (auto* slot : {&deployment->primary, &deployment->canary, &deployment->shadow}) {
          if (!*slot) continue;
          total += (*slot)->model->metadata().memory_bytes;
          if (slot->get() != keep && (oldest == nullptr || (*slot)->last_used_ms < (*oldest)->last_used_ms)) {
            oldest = slot;
          }
        }
      }
      if (total <= options_.memory_budget_bytes || oldest == nullptr) break;
      evicted.emplace_back((*oldest)->deployment, (*oldest)->role);
      oldest->reset();  // in-flight requests keep it alive until they finish
    }
  }
  for (const auto& [name, role] : evicted) {
    metrics_.GetCounter("lathe_model_evictions_total", "Models unloaded to stay within the memory budget",
                        {{"model", name}})
        .Increment();
    spdlog::info("deployment={} role={} evicted to stay within the memory budget of {} bytes", name, role,
                 options_.memory_budget_bytes);
  }
}

Status DeploymentManager::Deploy(const DeploymentSpec& spec, bool replace) {
  {
    std::lock_guard lock(mutex_);
    if (!replace && deployments_.contains(spec.name)) {
      return Status::AlreadyExists(fmt::format("deployment '{}' already exists", spec.name));
    }
    if (replace && !deployments_.contains(spec.name)) {
      return Status::NotFound(fmt::format("deployment '{}' does not exist", spec.name));
    }
  }
  auto deployment = std::make_shared<Deployment>();
  deployment->spec = spec;
  for (const char* role : {"primary", "canary", "shadow"}) {
    const std::string& uri = deployment->UriFor(role);
    if (uri.empty()) continue;
    LATHE_ASSIGN_OR_RETURN(ModelUri parsed, ParseModelUri(uri));
    if (spec.lazy) {
      LATHE_RETURN_IF_ERROR(source_.Resolve(parsed).status());  // a typo fails now, not at the first request
    } else {
      LATHE_ASSIGN_OR_RETURN(deployment->Slot(role), Load(spec, role, uri));
    }
  }
  {
    std::lock_guard lock(mutex_);
    if (spec.is_default) {
      for (auto& [name, other] : deployments_) other->spec.is_default = false;
    }
    deployments_[spec.name] = deployment;  // a replaced deployment drains as its requests finish
  }
  EnforceMemoryBudget(deployment->primary.get());
  return Persist();
}

Status DeploymentManager::Undeploy(const std::string& name) {
  {
    std::lock_guard lock(mutex_);
    if (deployments_.erase(name) == 0) return Status::NotFound(fmt::format("deployment '{}' does not exist", name));
  }
  spdlog::info("deployment={} undeployed", name);
  return Persist();
}

std::vector<std::string> DeploymentManager::Names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [name, deployment] : deployments_) names.push_back(name);
  return names;
}

Result<json> DeploymentManager::Describe(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto found = deployments_.find(name);
  if (found == deployments_.end()) return Status::NotFound(fmt::format("deployment '{}' does not exist", name));
  const Deployment& deployment = *found->second;
  json out = DeploymentSpecToJson(deployment.spec);
  json loaded = json::object();
  for (const auto& [role, slot] : {std::pair{"primary", deployment.primary}, std::pair{"canary", deployment.canary},
                                   std::pair{"shadow", deployment.shadow}}) {
    if (!slot) continue;
    const auto& metadata = slot->model->metadata();
    loaded[role] = {{"version", slot->resolved.version},
                    {"registered_model", slot->resolved.registered_name},
                    {"directory", slot->resolved.directory.string()},
                    {"flavor", metadata.flavor},
                    {"evaluator", metadata.evaluator},
                    {"input_mode", models::InputModeName(metadata.input_mode)},
                    {"memory_bytes", metadata.memory_bytes},
                    {"load_seconds", slot->load_seconds},
                    {"queued_rows", slot->batcher->queued_rows()},
                    {"workers", slot->batcher->options().workers}};
  }
  out["loaded"] = std::move(loaded);
  if (!deployment.last_error.empty()) out["last_error"] = deployment.last_error;
  return out;
}

json DeploymentManager::DescribeAll() const {
  json list = json::array();
  for (const auto& name : Names()) {
    auto one = Describe(name);
    if (one.ok()) list.push_back(std::move(*one));
  }
  return list;
}

Result<std::string> DeploymentManager::DefaultDeployment() const {
  std::lock_guard lock(mutex_);
  for (const auto& [name, deployment] : deployments_) {
    if (deployment->spec.is_default) return name;
  }
  if (deployments_.size() == 1) return deployments_.begin()->first;
  if (deployments_.empty()) return Status::InvalidParameter("no model is deployed: deploy one first (lathe deploy)");
  std::vector<std::string> names;
  for (const auto& [name, deployment] : deployments_) names.push_back(name);
  return Status::InvalidParameter(
      fmt::format("/invocations needs a default deployment; none is marked default among {}: call "
                  "/models/<name>/invocations or deploy one with \"default\": true",
                  fmt::join(names, ", ")));
}

Result<std::shared_ptr<ServedModel>> DeploymentManager::Route(const std::string& name, const std::string& version,
                                                              const std::string& routing_key,
                                                              std::shared_ptr<ServedModel>* shadow) {
  std::shared_ptr<Deployment> deployment;
  {
    std::lock_guard lock(mutex_);
    auto found = deployments_.find(name);
    if (found == deployments_.end()) {
      std::vector<std::string> names;
      for (const auto& [known, unused] : deployments_) names.push_back(known);
      return Status::NotFound(fmt::format("model '{}' is not deployed (deployed: {})", name,
                                          names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
    }
    deployment = found->second;
  }
  if (shadow != nullptr && !deployment->spec.shadow_uri.empty()) {
    auto loaded = EnsureLoaded(*deployment, "shadow");  // a shadow that fails to load never fails a request
    if (loaded.ok()) *shadow = *loaded;
  }
  std::string role = "primary";
  const bool has_canary = !deployment->spec.canary_uri.empty();
  if (!version.empty()) {
    LATHE_ASSIGN_OR_RETURN(auto primary, EnsureLoaded(*deployment, "primary"));
    if (primary->resolved.version != version) {
      std::string served = primary->resolved.version;
      if (has_canary) {
        LATHE_ASSIGN_OR_RETURN(auto canary, EnsureLoaded(*deployment, "canary"));
        if (canary->resolved.version == version) {
          canary->last_used_ms.store(NowMillis(), std::memory_order_relaxed);
          return canary;
        }
        served += " and " + canary->resolved.version;
      }
      return Status::NotFound(fmt::format("model '{}' has no version '{}' deployed (serving {})", name, version, served));
    }
    primary->last_used_ms.store(NowMillis(), std::memory_order_relaxed);
    return primary;
  }
  if (has_canary && deployment->spec.canary_weight > 0) {
    uint64_t draw;
    if (routing_key.empty()) {
      thread_local std::minstd_rand generator{std::random_device{}()};
      draw = generator();
    } else {
      draw = std::hash<std::string>{}(routing_key);  // the same key always lands on the same side
    }
    if (draw % 100 < deployment->spec.canary_weight) role = "canary";
  }
  LATHE_ASSIGN_OR_RETURN(auto served, EnsureLoaded(*deployment, role));
  served->last_used_ms.store(NowMillis(), std::memory_order_relaxed);
  return served;
}

void DeploymentManager::RecordShadow(std::shared_ptr<ServedModel> shadow, std::vector<models::Tensor> inputs,
                                     std::vector<std::string> prediction_ids) {
  {
    std::lock_guard lock(shadow_mutex_);
    if (shadow_queue_.size() < kShadowQueueLimit && !stopping_) {
      shadow_queue_.push_back(std::make_unique<ShadowJob>(ShadowJob{std::move(shadow), std::move(inputs),
                                                                    std::move(prediction_ids)}));
      shadow_wake_.notify_one();
      return;
    }
  }
  metrics_.GetCounter("lathe_shadow_dropped_total", "Shadow predictions dropped because the shadow fell behind",
                      {{"model", shadow->deployment}})
      .Increment();
}

void DeploymentManager::RecordShadows() {
  std::ofstream log;
  if (!options_.shadow_log.empty()) log.open(options_.shadow_log, std::ios::app);
  std::unique_lock lock(shadow_mutex_);
  while (true) {
    shadow_wake_.wait(lock, [&] { return stopping_ || !shadow_queue_.empty(); });
    if (shadow_queue_.empty() && stopping_) return;
    auto jobs = std::move(shadow_queue_);
    shadow_queue_.clear();
    lock.unlock();
    for (auto& job : jobs) {
      std::vector<models::Tensor> outputs;
      Status status = job->shadow->batcher->Predict(std::move(job->inputs), &outputs);
      metrics_.GetCounter("lathe_shadow_predictions_total", "Shadow predictions by outcome",
                          {{"model", job->shadow->deployment}, {"version", job->shadow->resolved.version},
                           {"status", status.ok() ? "ok" : "error"}})
          .Increment();
      if (!log.is_open()) continue;
      json line = {{"time_ms", NowMillis()},
                   {"deployment", job->shadow->deployment},
                   {"version", job->shadow->resolved.version},
                   {"prediction_ids", job->prediction_ids}};
      if (status.ok()) {
        json out = json::object();
        for (const auto& tensor : outputs) out[tensor.name] = TensorValues(tensor);
        line["outputs"] = std::move(out);
      } else {
        line["error"] = status.message();
      }
      log << DumpJson(line) << '\n';
    }
    log.flush();
    lock.lock();
  }
}

void DeploymentManager::ReloadFollowers(const AliasChange& change) {
  std::vector<std::pair<std::shared_ptr<Deployment>, std::string>> targets;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, deployment] : deployments_) {
      for (const char* role : {"primary", "canary", "shadow"}) {
        if (!FollowsAlias(deployment->UriFor(role), change)) continue;
        // A lazy model that is not loaded resolves the alias afresh when first used.
        if (deployment->Slot(role) || !deployment->spec.lazy) targets.emplace_back(deployment, role);
      }
    }
  }
  for (auto& [deployment, role] : targets) {
    std::lock_guard load_lock(deployment->load_mutex);
    std::string old_version;
    DeploymentSpec spec;
    {
      std::lock_guard lock(mutex_);
      if (auto& slot = deployment->Slot(role)) old_version = slot->resolved.version;
      spec = deployment->spec;
    }
    auto loaded = Load(spec, role, deployment->UriFor(role));
    if (!loaded.ok()) {
      spdlog::error("deployment={} role={}: alias {}@{} moved but the new version did not load; still serving version "
                    "{}: {}",
                    spec.name, role, change.name, change.alias, old_version.empty() ? "none" : old_version,
                    loaded.status().message());
      std::lock_guard lock(mutex_);
      deployment->last_error = loaded.status().message();
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      deployment->Slot(role) = *loaded;  // atomic for requests: they copy the pointer under this lock
      deployment->last_error.clear();
    }
    metrics_.GetCounter("lathe_model_reloads_total", "Models swapped because a registry alias moved",
                        {{"model", spec.name}})
        .Increment();
    spdlog::info("deployment={} role={}: alias {}@{} moved, serving version {} (was {})", spec.name, role, change.name,
                 change.alias, (*loaded)->resolved.version, old_version.empty() ? "none" : old_version);
    EnforceMemoryBudget(loaded->get());
  }
}

bool DeploymentManager::Ready() const {
  std::lock_guard lock(mutex_);
  for (const auto& [name, deployment] : deployments_) {
    if (!deployment->spec.lazy && !deployment->primary) return false;
  }
  return true;
}

std::string DeploymentManager::RenderGauges() const {
  std::string out =
      "# HELP lathe_inference_queue_rows Rows waiting for a predict call\n# TYPE lathe_inference_queue_rows gauge\n";
  std::string memory =
      "# HELP lathe_model_memory_bytes Estimated memory of each loaded model\n# TYPE lathe_model_memory_bytes gauge\n";
  size_t loaded = 0;
  std::lock_guard lock(mutex_);
  for (const auto& [name, deployment] : deployments_) {
    for (const auto& slot : {deployment->primary, deployment->canary, deployment->shadow}) {
      if (!slot) continue;
      ++loaded;
      const std::string labels =
          RenderLabels({{"model", name}, {"version", slot->resolved.version}, {"role", slot->role}});
      out += fmt::format("lathe_inference_queue_rows{} {}\n", labels, slot->batcher->queued_rows());
      memory += fmt::format("lathe_model_memory_bytes{} {}\n", labels, slot->model->metadata().memory_bytes);
    }
  }
  out += memory;
  out += fmt::format(
      "# HELP lathe_models_loaded Models loaded now\n# TYPE lathe_models_loaded gauge\nlathe_models_loaded {}\n"
      "# HELP lathe_deployments Deployments configured\n# TYPE lathe_deployments gauge\nlathe_deployments {}\n",
      loaded, deployments_.size());
  return out;
}

Status DeploymentManager::Persist() const {
  if (options_.state_file.empty()) return Status::Ok();
  std::lock_guard persist_lock(persist_mutex_);
  json list = json::array();
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, deployment] : deployments_) list.push_back(DeploymentSpecToJson(deployment->spec));
  }
  return WriteFileAtomically(options_.state_file, DumpJson(json{{"deployments", std::move(list)}}, 2));
}

}  // namespace lathe::serving
