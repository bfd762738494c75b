// Prometheus metrics: counters and histograms with labels, rendered in the text exposition format.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lathe::serving {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Cumulative buckets as Prometheus defines them; observations are lock-free.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  // Per-bucket (non-cumulative) counts, the +Inf bucket last; the sum; the count.
  std::vector<uint64_t> bucket_counts() const;
  double sum() const;
  uint64_t count() const;

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // upper_bounds_.size() + 1
  std::atomic<uint64_t> sum_micro_{0};               // the sum in millionths, to stay lock-free
  std::atomic<uint64_t> count_{0};
};

// Owns every metric. Get* returns the one metric for (name, labels), creating it on first use;
// references stay valid for the registry's lifetime, so hot paths look a metric up once and keep
// the reference.
class MetricsRegistry {
 public:
  Counter& GetCounter(std::string_view name, std::string_view help, const Labels& labels);
  Histogram& GetHistogram(std::string_view name, std::string_view help, const Labels& labels,
                          const std::vector<double>& upper_bounds);
  // Adds metrics that another module keeps itself (e.g. the prediction log's counters): `render`
  // returns complete families in the exposition format, appended at every scrape.
  void AddCollector(std::function<std::string()> render);
  // Text exposition format 0.0.4, families sorted by name, then the collectors' output.
  std::string Render() const;

 private:
  struct Family {
    std::string help;
    std::string type;  // "counter" or "histogram"
    std::map<std::string, std::unique_ptr<Counter>> counters;      // by rendered label set
    std::map<std::string, std::unique_ptr<Histogram>> histograms;  // by rendered label set
  };
  Family& FamilyFor(std::string_view name, std::string_view help, std::string_view type);

  mutable std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;
  std::vector<std::function<std::string()>> collectors_;
};

// `{a="x",b="y"}` with Prometheus escaping; empty for no labels.
std::string RenderLabels(const Labels& labels);
// Latency buckets in seconds, from 50 µs to 10 s.
const std::vector<double>& LatencyBuckets();
// Batch-size buckets in rows.
const std::vector<double>& BatchSizeBuckets();

}  // namespace lathe::serving
