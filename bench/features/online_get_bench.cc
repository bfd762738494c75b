// The in-process cost of one online read (10 features, 1 entity) against its floor, one SQLite
// point read of the same row: what the feature store adds on top of its storage.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "features/online.h"
#include "features/online_store.h"

namespace {

using namespace lathe::features;

constexpr int kEntities = 100000;
constexpr int kFeatures = 10;

struct Fixture {
  std::filesystem::path dir;
  std::shared_ptr<OnlineStore> store;
  std::unique_ptr<OnlineFeatures> online;

  Fixture() {
    dir = std::filesystem::temp_directory_path() / fmt::format("lathe-online-bench-{}", ::getpid());
    std::filesystem::create_directories(dir);
    store = std::move(OpenSqliteOnlineStore(dir / "online.db").value());
    FeatureRepo repo;
    repo.entities.push_back({"customer", {{"customer_id", "int64"}}, {}});
    FeatureView view{"stats", {"customer"}, "source", 0, {}, {}};
    for (int f = 0; f < kFeatures; ++f) view.features.push_back({fmt::format("f{}", f), "x", "double", {}});
    repo.views.push_back(view);
    repo.sources.push_back({"source", "/dev/null", "", "", "", "ts", "", {}});
    auto run = std::move(store->BeginRun("bench").value());
    std::vector<OnlineRow> rows;
    for (int e = 0; e < kEntities; ++e) {
      nlohmann::json payload;
      for (int f = 0; f < kFeatures; ++f) payload[fmt::format("f{}", f)] = e * 0.5 + f;
      rows.push_back({std::to_string(e), 1700000000000000, payload.dump()});
    }
    (void)run->Write("stats", rows);
    (void)run->Commit();
    online = std::make_unique<OnlineFeatures>(repo, "hash", store);
  }
  ~Fixture() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

Fixture& Shared() {
  static Fixture fixture;
  return fixture;
}

void BM_StoreRead(benchmark::State& state) {
  auto& fixture = Shared();
  std::mt19937 random(1);
  std::vector<OnlineValue> out;
  for (auto _ : state) {
    std::string key = std::to_string(random() % kEntities);
    (void)fixture.store->Read("stats", std::span<const std::string>(&key, 1), out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_StoreRead);

void BM_OnlineGet(benchmark::State& state) {
  auto& fixture = Shared();
  std::mt19937 random(1);
  nlohmann::json features = nlohmann::json::array();
  for (int f = 0; f < kFeatures; ++f) features.push_back(fmt::format("stats:f{}", f));
  for (auto _ : state) {
    // What the HTTP handler does: parse the body, answer, serialise.
    std::string body = nlohmann::json{{"features", features}, {"entities", {{"customer_id", {random() % kEntities}}}}}.dump();
    auto request = nlohmann::json::parse(body);
    auto result = fixture.online->Read(request);
    std::string text = ToText(*result);
    benchmark::DoNotOptimize(text);
  }
}
BENCHMARK(BM_OnlineGet);

}  // namespace

BENCHMARK_MAIN();
