// The batcher merges queued requests, hands each caller its own rows, and bounds its queue.
#include "serving/dynamic_batcher.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <thread>

#include <gtest/gtest.h>

namespace lathe::serving {
namespace {

using models::Tensor;

// Predicts the sum of each row; can hold its callers at a gate to build up a queue.
class RowSumModel final : public models::Model {
 public:
  RowSumModel() {
    metadata_.inputs.push_back({"input", models::DataType::kFp64, {-1, 2}, "float64", true});
    metadata_.outputs.push_back({"sum", models::DataType::kFp64, {-1}, "float64", true});
  }
  const models::ModelMetadata& metadata() const override { return metadata_; }
  Status Predict(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) const override {
    {
      std::unique_lock lock(mutex_);
      ++entered_;
      entered_wake_.notify_all();
      gate_wake_.wait(lock, [&] { return gate_open_; });
      calls_.push_back(inputs[0].rows());
    }
    Tensor out;
    out.name = "sum";
    out.shape = {inputs[0].rows()};
    for (int64_t r = 0; r < inputs[0].rows(); ++r) out.numbers.push_back(inputs[0].numbers[2 * r] + inputs[0].numbers[2 * r + 1]);
    outputs->push_back(std::move(out));
    return Status::Ok();
  }
  void CloseGate() {
    std::lock_guard lock(mutex_);
    gate_open_ = false;
  }
  void OpenGate() {
    std::lock_guard lock(mutex_);
    gate_open_ = true;
    gate_wake_.notify_all();
  }
  void WaitEntered(int count) {
    std::unique_lock lock(mutex_);
    entered_wake_.wait(lock, [&] { return entered_ >= count; });
  }
  std::vector<int64_t> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  models::ModelMetadata metadata_;
  mutable std::mutex mutex_;
  mutable std::condition_variable gate_wake_;
  mutable std::condition_variable entered_wake_;
  mutable bool gate_open_ = true;
  mutable int entered_ = 0;
  mutable std::vector<int64_t> calls_;
};

std::vector<Tensor> Rows(double first, int64_t rows) {
  Tensor tensor;
  tensor.name = "input";
  tensor.shape = {rows, 2};
  for (int64_t r = 0; r < rows; ++r) {
    tensor.numbers.push_back(first + r);
    tensor.numbers.push_back(1000);
  }
  return {tensor};
}

void WaitQueued(const DynamicBatcher& batcher, uint32_t rows) {
  while (batcher.queued_rows() < rows) std::this_thread::yield();
}

TEST(DynamicBatcherTest, ALoneRequestIsPredictedAtOnceOnItsOwn) {
  auto model = std::make_shared<RowSumModel>();
  DynamicBatcher batcher(model, {});
  std::vector<Tensor> outputs;
  ASSERT_TRUE(batcher.Predict(Rows(1, 3), &outputs).ok());
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].numbers, (std::vector<double>{1001, 1002, 1003}));
  EXPECT_EQ(model->calls(), (std::vector<int64_t>{3}));
}

TEST(DynamicBatcherTest, RequestsQueuedBehindABusyWorkerShareOneCallAndGetTheirOwnRows) {
  auto model = std::make_shared<RowSumModel>();
  BatchingOptions options;
  options.max_batch_size = 64;
  DynamicBatcher batcher(model, options);
  model->CloseGate();
  std::vector<Tensor> first_out;
  std::thread first([&] { ASSERT_TRUE(batcher.Predict(Rows(0, 1), &first_out).ok()); });
  model->WaitEntered(1);
  constexpr int kFollowers = 5;
  std::vector<std::vector<Tensor>> outs(kFollowers);
  std::vector<std::thread> followers;
  for (int i = 0; i < kFollowers; ++i) {
    followers.emplace_back([&, i] { ASSERT_TRUE(batcher.Predict(Rows(10.0 * (i + 1), 2), &outs[i]).ok()); });
  }
  WaitQueued(batcher, 2 * kFollowers);
  model->OpenGate();
  first.join();
  for (auto& thread : followers) thread.join();
  EXPECT_EQ(model->calls(), (std::vector<int64_t>{1, 2 * kFollowers}));
  for (int i = 0; i < kFollowers; ++i) {
    ASSERT_EQ(outs[i].size(), 1u);
    EXPECT_EQ(outs[i][0].shape, (std::vector<int64_t>{2}));
    EXPECT_EQ(outs[i][0].numbers, (std::vector<double>{10.0 * (i + 1) + 1000, 10.0 * (i + 1) + 1001}));
  }
}

TEST(DynamicBatcherTest, BatchesStopAtMaxBatchSize) {
  auto model = std::make_shared<RowSumModel>();
  BatchingOptions options;
  options.max_batch_size = 4;
  DynamicBatcher batcher(model, options);
  model->CloseGate();
  std::thread first([&] {
    std::vector<Tensor> out;
    ASSERT_TRUE(batcher.Predict(Rows(0, 1), &out).ok());
  });
  model->WaitEntered(1);
  std::vector<std::thread> followers;
  for (int i = 0; i < 6; ++i) {
    followers.emplace_back([&] {
      std::vector<Tensor> out;
      ASSERT_TRUE(batcher.Predict(Rows(0, 1), &out).ok());
    });
  }
  WaitQueued(batcher, 6);
  model->OpenGate();
  first.join();
  for (auto& thread : followers) thread.join();
  EXPECT_EQ(model->calls(), (std::vector<int64_t>{1, 4, 2}));
}

TEST(DynamicBatcherTest, AFullQueueAnswersUnavailable) {
  auto model = std::make_shared<RowSumModel>();
  BatchingOptions options;
  options.max_queue_rows = 3;
  DynamicBatcher batcher(model, options);
  model->CloseGate();
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    std::vector<Tensor> out;
    ASSERT_TRUE(batcher.Predict(Rows(0, 1), &out).ok());
  });
  model->WaitEntered(1);
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      std::vector<Tensor> out;
      ASSERT_TRUE(batcher.Predict(Rows(0, 1), &out).ok());
    });
  }
  WaitQueued(batcher, 3);
  std::vector<Tensor> refused_out;
  Status refused = batcher.Predict(Rows(0, 1), &refused_out);
  EXPECT_EQ(refused.code(), ErrorCode::kUnavailable);
  EXPECT_NE(refused.message().find("queue is full"), std::string::npos);
  model->OpenGate();
  for (auto& thread : threads) thread.join();
}

TEST(DynamicBatcherTest, ManyConcurrentCallersEachGetExactlyTheirRows) {
  auto model = std::make_shared<RowSumModel>();
  BatchingOptions options;
  options.workers = 2;
  DynamicBatcher batcher(model, options);
  constexpr int kThreads = 8;
  constexpr int kRequests = 300;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        const double first = t * 100000.0 + i * 10;
        const int64_t rows = 1 + (i % 3);
        std::vector<Tensor> out;
        Status status = batcher.Predict(Rows(first, rows), &out);
        if (!status.ok() || out.size() != 1 || out[0].rows() != rows) {
          ++wrong;
          continue;
        }
        for (int64_t r = 0; r < rows; ++r) {
          if (out[0].numbers[r] != first + r + 1000) ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  const auto calls = model->calls();
  EXPECT_EQ(std::accumulate(calls.begin(), calls.end(), int64_t{0}), int64_t{kThreads} * (kRequests / 3) * 6);
}

}  // namespace
}  // namespace lathe::serving
