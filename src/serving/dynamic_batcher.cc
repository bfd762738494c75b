// Leader/follower batching of predict calls for one model.
#include "serving/dynamic_batcher.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include <fmt/format.h>

namespace lathe::serving {

using models::Tensor;

constexpr auto kSpinBeforeSleeping = std::chrono::microseconds(20);

struct DynamicBatcher::Pending {
  std::vector<Tensor> inputs;
  std::vector<Tensor>* outputs = nullptr;
  uint32_t rows = 0;
  std::atomic<bool> done{false};  // written under the mutex; read without it while spinning
  Status status;
  std::condition_variable wake;
};

namespace {
// The batcher itself needs a concrete worker count; the deployment resolves "automatic" (0) first.
BatchingOptions WithWorkers(BatchingOptions options) {
  options.workers = std::max<uint32_t>(1, options.workers);
  return options;
}
}  // namespace

DynamicBatcher::DynamicBatcher(std::shared_ptr<const models::Model> model, const BatchingOptions& options)
    : model_(std::move(model)), options_(WithWorkers(options)) {}

uint32_t DynamicBatcher::queued_rows() const {
  std::lock_guard lock(mutex_);
  return queued_rows_;
}

bool DynamicBatcher::Compatible(const Pending& a, const Pending& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    if (a.inputs[i].datatype != b.inputs[i].datatype || a.inputs[i].width() != b.inputs[i].width() ||
        a.inputs[i].shape.size() != b.inputs[i].shape.size()) {
      return false;
    }
  }
  return true;
}

Status DynamicBatcher::Predict(std::vector<Tensor> inputs, std::vector<Tensor>* outputs,
                               const std::function<void(const BatchObservation&)>& observe) {
  if (inputs.empty() || inputs[0].rows() < 1) return Status::InvalidParameter("empty batch: no rows to predict");
  Pending self;
  self.rows = static_cast<uint32_t>(inputs[0].rows());
  self.inputs = std::move(inputs);
  self.outputs = outputs;

  std::unique_lock lock(mutex_);
  // A request larger than the whole queue is still served when the queue is empty: the body
  // limit bounds it, and refusing it would make it unservable forever.
  if (queued_rows_ > 0 && queued_rows_ + self.rows > options_.max_queue_rows) {
    return Status::Unavailable(fmt::format("the model's queue is full ({} rows waiting, limit {}); retry later",
                                           queued_rows_, options_.max_queue_rows));
  }
  queue_.push_back(&self);
  queued_rows_ += self.rows;
  auto may_proceed = [&] {
    return self.done.load(std::memory_order_relaxed) ||
           (queue_.front() == &self && active_workers_ < options_.workers);
  };
  if (!may_proceed()) {
    // A predict takes microseconds: spinning that long is cheaper than sleeping on the condition
    // variable and paying two context switches to be woken.
    lock.unlock();
    const auto spin_until = std::chrono::steady_clock::now() + kSpinBeforeSleeping;
    while (!self.done.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < spin_until) {
      __builtin_ia32_pause();
    }
    lock.lock();
  }
  self.wake.wait(lock, may_proceed);
  if (self.done) return self.status;

  // This request leads: it takes compatible requests queued behind it and predicts for all.
  const bool others_predicting = active_workers_ > 0;
  ++active_workers_;
  std::vector<Pending*> group{&self};
  uint32_t rows = self.rows;
  queue_.pop_front();
  queued_rows_ -= self.rows;
  auto take_queued = [&] {
    while (!queue_.empty() && rows + queue_.front()->rows <= options_.max_batch_size &&
           Compatible(self, *queue_.front())) {
      Pending* next = queue_.front();
      queue_.pop_front();
      queued_rows_ -= next->rows;
      rows += next->rows;
      group.push_back(next);
    }
  };
  take_queued();
  if (others_predicting && options_.max_batch_delay_us > 0 && rows < options_.max_batch_size) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(options_.max_batch_delay_us);
    while (rows < options_.max_batch_size && std::chrono::steady_clock::now() < deadline) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(std::min<uint32_t>(50, options_.max_batch_delay_us)));
      lock.lock();
      take_queued();
    }
  }
  if (!queue_.empty()) queue_.front()->wake.notify_one();  // it may lead too if a worker slot is free
  lock.unlock();

  Status status = RunBatch(group, observe);

  lock.lock();
  for (Pending* member : group) {
    member->status = status;
    member->done.store(true, std::memory_order_release);
    // Notified under the lock: a follower cannot return and destroy its Pending before this ends.
    if (member != &self) member->wake.notify_one();
  }
  --active_workers_;
  if (!queue_.empty()) queue_.front()->wake.notify_one();
  return self.status;
}

Status DynamicBatcher::RunBatch(std::vector<Pending*>& group,
                                const std::function<void(const BatchObservation&)>& observe) {
  uint32_t total_rows = 0;
  for (const Pending* member : group) total_rows += member->rows;
  if (observe) observe({total_rows, static_cast<uint32_t>(group.size())});
  try {
    if (group.size() == 1) return model_->Predict(group[0]->inputs, group[0]->outputs);

    std::vector<Tensor> merged(group[0]->inputs.size());
    for (size_t t = 0; t < merged.size(); ++t) {
      const Tensor& first = group[0]->inputs[t];
      Tensor& into = merged[t];
      into.name = first.name;
      into.datatype = first.datatype;
      into.shape = first.shape;
      into.shape[0] = total_rows;
      const size_t elements = static_cast<size_t>(total_rows) * first.width();
      bool any_nulls = false;
      for (const Pending* member : group) any_nulls |= !member->inputs[t].nulls.empty();
      if (first.is_bytes()) {
        into.strings.reserve(elements);
        if (any_nulls) into.nulls.reserve(elements);
      } else {
        into.numbers.reserve(elements);
      }
      for (Pending* member : group) {
        Tensor& part = member->inputs[t];
        if (part.is_bytes()) {
          for (auto& text : part.strings) into.strings.push_back(std::move(text));
          if (any_nulls) {
            if (part.nulls.empty()) {
              into.nulls.insert(into.nulls.end(), part.strings.size(), 0);
            } else {
              into.nulls.insert(into.nulls.end(), part.nulls.begin(), part.nulls.end());
            }
          }
        } else {
          into.numbers.insert(into.numbers.end(), part.numbers.begin(), part.numbers.end());
        }
      }
    }
    std::vector<Tensor> results;
    LATHE_RETURN_IF_ERROR(model_->Predict(merged, &results));
    size_t row_offset = 0;
    for (Pending* member : group) {
      for (const Tensor& result : results) {
        Tensor slice;
        slice.name = result.name;
        slice.datatype = result.datatype;
        slice.shape = result.shape;
        slice.shape[0] = member->rows;
        const size_t width = static_cast<size_t>(result.width());
        const size_t begin = row_offset * width;
        const size_t end = begin + static_cast<size_t>(member->rows) * width;
        if (result.is_bytes()) {
          slice.strings.assign(result.strings.begin() + begin, result.strings.begin() + end);
          if (!result.nulls.empty()) slice.nulls.assign(result.nulls.begin() + begin, result.nulls.begin() + end);
        } else {
          slice.numbers.assign(result.numbers.begin() + begin, result.numbers.begin() + end);
        }
        member->outputs->push_back(std::move(slice));
      }
      row_offset += member->rows;
    }
    return Status::Ok();
  } catch (const std::exception& error) {
    return Status::Internal(fmt::format("predict failed: {}", error.what()));
  }
}

}  // namespace lathe::serving
