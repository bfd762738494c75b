// Native tree-ensemble evaluator against XGBoost's own in-place predict (XGBoosterPredictFromDense)
// on the same model and rows; prints the speedup. Usage: evaluator_bench <model file>.
#include <xgboost/c_api.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "models/dense_predictor.h"

namespace {

std::string g_model_path;

struct Fixture {
  std::unique_ptr<lathe::models::DensePredictor> native;
  BoosterHandle booster = nullptr;
  size_t features = 0;
  std::vector<double> rows;       // 64 rows, as Lathe receives them
  std::vector<float> rows_float;  // the same rows, as XGBoost takes them
};

Fixture& Shared() {
  static Fixture fixture = [] {
    Fixture f;
    auto native = lathe::models::LoadXgboostPredictor(g_model_path, "");
    if (!native.ok()) {
      std::fprintf(stderr, "cannot load %s: %s\n", g_model_path.c_str(), native.status().message().c_str());
      std::exit(2);
    }
    f.native = std::move(*native);
    f.features = f.native->num_features();
    XGBoosterCreate(nullptr, 0, &f.booster);
    if (XGBoosterLoadModel(f.booster, g_model_path.c_str()) != 0) std::exit(2);
    XGBoosterSetParam(f.booster, "nthread", "1");
    std::mt19937 generator(42);
    std::normal_distribution<double> normal;
    for (size_t i = 0; i < 64 * f.features; ++i) f.rows.push_back(normal(generator));
    f.rows_float.assign(f.rows.begin(), f.rows.end());
    return f;
  }();
  return fixture;
}

void BM_NativeEvaluator(benchmark::State& state) {
  Fixture& f = Shared();
  const auto rows = static_cast<size_t>(state.range(0));
  std::vector<double> out(rows * f.native->num_outputs());
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.native->Predict(f.rows.data(), rows, out.data()));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * rows);
}

void BM_XgboostPredictFromDense(benchmark::State& state) {
  Fixture& f = Shared();
  const auto rows = static_cast<size_t>(state.range(0));
  const std::string array = fmt::format(R"({{"data": [{}, true], "shape": [{}, {}], "typestr": "<f4", "version": 3}})",
                                        reinterpret_cast<uintptr_t>(f.rows_float.data()), rows, f.features);
  const char* config =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "missing": NaN, "cache_id": 0})";
  const bst_ulong* shape = nullptr;
  bst_ulong dimensions = 0;
  const float* result = nullptr;
  for (auto _ : state) {
    if (XGBoosterPredictFromDense(f.booster, array.c_str(), config, nullptr, &shape, &dimensions, &result) != 0) {
      state.SkipWithError(XGBGetLastError());
      break;
    }
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations() * rows);
}

BENCHMARK(BM_NativeEvaluator)->Arg(1)->Arg(64);
BENCHMARK(BM_XgboostPredictFromDense)->Arg(1)->Arg(64);

// Keeps each benchmark's time per iteration to print the ratio after the table.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_Tabular) {}  // no colour codes: the output goes to files
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) nanoseconds_[run.benchmark_name()] = run.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
  void PrintRatios() const {
    for (const char* rows : {"1", "64"}) {
      auto native = nanoseconds_.find(std::string("BM_NativeEvaluator/") + rows);
      auto xgboost = nanoseconds_.find(std::string("BM_XgboostPredictFromDense/") + rows);
      if (native == nanoseconds_.end() || xgboost == nanoseconds_.end()) continue;
      std::printf("batch %s: native evaluator %.2f us, XGBoosterPredictFromDense %.2f us: %.1fx faster\n", rows,
                  native->second / 1000, xgboost->second / 1000, xgboost->second / native->second);
    }
  }

 private:
  std::map<std::string, double> nanoseconds_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: evaluator_bench <xgboost model file> [benchmark flags]\n");
    return 2;
  }
  g_model_path = argv[1];
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
