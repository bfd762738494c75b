// Adaptive batching for one loaded model: concurrent requests are merged into one Predict call.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/status.h"
#include "models/model.h"

namespace lathe::serving {

struct BatchingOptions {
  uint32_t max_batch_size = 64;       // rows merged into one predict call
  uint32_t max_batch_delay_us = 0;    // how long a loaded batcher may wait to fill a batch (see below)
  uint32_t max_queue_rows = 4096;     // rows waiting beyond this are refused with kUnavailable (503)
  // Predict calls in flight at once for this model; 0: automatic (one per HTTP thread, or 1 for a
  // model whose calls serialize internally, which then gets its concurrent requests merged).
  uint32_t workers = 0;
};

// What one merged predict looked like, for the batch-size histogram.
struct BatchObservation {
  uint32_t rows = 0;
  uint32_t requests = 0;
};

// Leader/follower batching, as LevelDB's group commit: a request joins the queue; when a worker
// slot is free, the request at the head becomes the leader, takes every compatible request queued
// behind it (up to max_batch_size rows), predicts them in one call on its own thread and hands each
// follower its rows. So a lone request is predicted at once on the caller's thread (batching adds
// no latency at low load and no thread hop), and under load requests that queued while the workers
// were busy share one call. `max_batch_delay_us` only applies when other predicts are already in
// flight: then a leader with a partial batch waits up to that long for more rows.
class DynamicBatcher {
 public:
  DynamicBatcher(std::shared_ptr<const models::Model> model, const BatchingOptions& options);
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Predicts `inputs` (bound to the model's signature) and appends the outputs for exactly these
  // rows to `outputs`. Blocks the caller until done. kUnavailable when the queue is full.
  // `observe`, when set, is called by the leader with each merged batch.
  Status Predict(std::vector<models::Tensor> inputs, std::vector<models::Tensor>* outputs,
                 const std::function<void(const BatchObservation&)>& observe = {});

  uint32_t queued_rows() const;
  const models::Model& model() const { return *model_; }
  const BatchingOptions& options() const { return options_; }

 private:
  struct Pending;
  static bool Compatible(const Pending& a, const Pending& b);
  Status RunBatch(std::vector<Pending*>& group, const std::function<void(const BatchObservation&)>& observe);

  std::shared_ptr<const models::Model> model_;
  const BatchingOptions options_;
  mutable std::mutex mutex_;
  std::deque<Pending*> queue_;
  uint32_t queued_rows_ = 0;
  uint32_t active_workers_ = 0;
};

}  // namespace lathe::serving
