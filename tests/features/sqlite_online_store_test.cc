// The SQLite online store against a real database file in a temporary directory.
#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "feature_fixtures.h"
#include "features/online_store.h"

namespace lathe::features {
namespace {

using testing::Contains;
using testing::TempDir;

std::unique_ptr<OnlineStore> OpenStore(const TempDir& dir) {
  auto store = OpenSqliteOnlineStore(dir.path() / "online.db");
  EXPECT_TRUE(store.ok()) << store.status().message();
  return store.ok() ? std::move(store).value() : nullptr;
}

// "<micros>:<payload>" per key, "-" when not found.
std::vector<std::string> Read(OnlineStore& store, const std::string& view, const std::vector<std::string>& keys) {
  std::vector<OnlineValue> out{OnlineValue{true, 99, "stale"}};  // Read must reset what was there
  Status status = store.Read(view, keys, out);
  EXPECT_TRUE(status.ok()) << status.message();
  std::vector<std::string> text;
  for (const auto& value : out) text.push_back(value.found ? std::to_string(value.event_micros) + ":" + value.payload : "-");
  return text;
}

Status WriteOne(OnlineStore& store, const std::string& view, const std::vector<OnlineRow>& rows, const ViewState* state = nullptr) {
  auto run = store.BeginRun("run");
  if (!run.ok()) return run.status();
  LATHE_RETURN_IF_ERROR((*run)->Write(view, rows));
  if (state) LATHE_RETURN_IF_ERROR((*run)->SetViewState(view, *state));
  return (*run)->Commit();
}

TEST(SqliteOnlineStoreTest, OpenByUri) {
  TempDir dir;
  auto by_default = OpenOnlineStore("sqlite", dir.path() / "data", "shop");
  FS_ASSERT_OK(by_default);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "data" / "features" / "online.db"));
  EXPECT_EQ((*by_default)->Describe(), "sqlite:" + (dir.path() / "data" / "features" / "online.db").string());

  std::string absolute = (dir.path() / "elsewhere" / "store.db").string();
  auto by_path = OpenOnlineStore("sqlite://" + absolute, dir.path() / "data", "shop");
  FS_ASSERT_OK(by_path);
  EXPECT_TRUE(std::filesystem::exists(absolute));
  EXPECT_EQ((*by_path)->Describe(), "sqlite:" + absolute);

  auto unknown = OpenOnlineStore("postgres://x", dir.path(), "shop");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_TRUE(Contains(unknown.status().message(), "unknown online store 'postgres://x'")) << unknown.status().message();
  auto bad_port = OpenOnlineStore("redis://localhost:abc", dir.path(), "shop");
  ASSERT_FALSE(bad_port.ok());
  EXPECT_EQ(bad_port.status().message(), "invalid Redis port in 'redis://localhost:abc'");
}

TEST(SqliteOnlineStoreTest, WritesBecomeVisibleOnCommit) {
  TempDir dir;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  EXPECT_EQ(Read(*store, "v", {"1", "2"}), (std::vector<std::string>{"-", "-"}));
  auto run = store->BeginRun("r1");
  FS_ASSERT_OK(run);
  std::vector<OnlineRow> rows = {{"1", 100, R"({"f":1})"}, {"2", 200, R"({"f":2})"}};
  FS_ASSERT_OK((*run)->Write("v", rows));
  FS_ASSERT_OK((*run)->SetViewState("v", ViewState{"hash", "r1", 500, 0}));
  // Not yet committed: readers see the previous (empty) state.
  EXPECT_EQ(Read(*store, "v", {"1", "2"}), (std::vector<std::string>{"-", "-"}));
  auto state = store->GetViewState("v");
  FS_ASSERT_OK(state);
  EXPECT_FALSE(state->has_value());
  FS_ASSERT_OK((*run)->Commit());
  EXPECT_EQ(Read(*store, "v", {"2", "3", "1"}), (std::vector<std::string>{"200:{\"f\":2}", "-", "100:{\"f\":1}"}));
  EXPECT_EQ(Read(*store, "other_view", {"1"}), (std::vector<std::string>{"-"}));
  EXPECT_EQ(Read(*store, "v", {}), (std::vector<std::string>{}));
  state = store->GetViewState("v");
  FS_ASSERT_OK(state);
  ASSERT_TRUE(state->has_value());
  EXPECT_EQ((*state)->repo_hash, "hash");
  EXPECT_EQ((*state)->run_id, "r1");
  EXPECT_EQ((*state)->materialized_until_micros, 500);
  EXPECT_GT((*state)->committed_at_millis, 1700000000000);  // stamped at commit time
}

TEST(SqliteOnlineStoreTest, RunWithoutCommitIsDiscarded) {
  TempDir dir;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  FS_ASSERT_OK(WriteOne(*store, "v", {{"1", 100, "{\"f\":1}"}}));
  {
    auto run = store->BeginRun("r2");
    FS_ASSERT_OK(run);
    std::vector<OnlineRow> rows = {{"1", 300, "{\"f\":3}"}, {"2", 300, "{\"f\":3}"}};
    FS_ASSERT_OK((*run)->Write("v", rows));
    FS_ASSERT_OK((*run)->SetViewState("v", ViewState{"hash", "r2", 300, 0}));
  }  // destroyed without Commit()
  EXPECT_EQ(Read(*store, "v", {"1", "2"}), (std::vector<std::string>{"100:{\"f\":1}", "-"}));
  auto state = store->GetViewState("v");
  FS_ASSERT_OK(state);
  EXPECT_FALSE(state->has_value());
  // The write lock was released: a new run can start at once.
  FS_ASSERT_OK(WriteOne(*store, "v", {{"2", 50, "{\"f\":5}"}}));
  EXPECT_EQ(Read(*store, "v", {"1", "2"}), (std::vector<std::string>{"100:{\"f\":1}", "50:{\"f\":5}"}));
}

TEST(SqliteOnlineStoreTest, OnlyEqualOrNewerEventTimesReplace) {
  TempDir dir;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  FS_ASSERT_OK(WriteOne(*store, "v", {{"a", 100, "{\"f\":1}"}, {"b", 100, "{\"f\":1}"}, {"c", 100, "{\"f\":1}"}}));
  FS_ASSERT_OK(WriteOne(*store, "v", {{"a", 99, "{\"f\":\"older\"}"}, {"b", 100, "{\"f\":\"equal\"}"}, {"c", 101, "{\"f\":\"newer\"}"}}));
  EXPECT_EQ(Read(*store, "v", {"a", "b", "c"}),
            (std::vector<std::string>{"100:{\"f\":1}", "100:{\"f\":\"equal\"}", "101:{\"f\":\"newer\"}"}));
  // Views are separate namespaces for the same key.
  FS_ASSERT_OK(WriteOne(*store, "w", {{"a", 1, "{\"g\":1}"}}));
  EXPECT_EQ(Read(*store, "v", {"a"}), (std::vector<std::string>{"100:{\"f\":1}"}));
  EXPECT_EQ(Read(*store, "w", {"a"}), (std::vector<std::string>{"1:{\"g\":1}"}));
}

TEST(SqliteOnlineStoreTest, KeysAreExactText) {
  TempDir dir;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  std::string composite = std::string("1") + '\x1f' + "s1";
  FS_ASSERT_OK(WriteOne(*store, "v", {{composite, 1, "{}"}, {"01", 2, "{}"}, {"héllo 'quoted'", 3, "{}"}}));
  EXPECT_EQ(Read(*store, "v", {composite, "1", "01", "héllo 'quoted'", "HÉLLO 'QUOTED'"}),
            (std::vector<std::string>{"1:{}", "-", "2:{}", "3:{}", "-"}));
}

TEST(SqliteOnlineStoreTest, ValuesSurviveReopening) {
  TempDir dir;
  {
    auto store = OpenStore(dir);
    ASSERT_TRUE(store);
    ViewState state{"h", "r", 7, 0};
    FS_ASSERT_OK(WriteOne(*store, "v", {{"1", 5, "{\"f\":1}"}}, &state));
  }
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  EXPECT_EQ(Read(*store, "v", {"1"}), (std::vector<std::string>{"5:{\"f\":1}"}));
  auto state = store->GetViewState("v");
  FS_ASSERT_OK(state);
  ASSERT_TRUE(state->has_value());
  EXPECT_EQ((*state)->materialized_until_micros, 7);
}

// Each run rewrites every key with the run's number in many Write() calls; a reader must never see
// two run numbers in one batch read.
TEST(SqliteOnlineStoreTest, ConcurrentReaderSeesOnlyCompleteRuns) {
  TempDir dir;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  constexpr int kKeys = 1000;
  constexpr int kRuns = 15;
  std::vector<std::string> keys;
  for (int k = 0; k < kKeys; ++k) keys.push_back(std::to_string(k));
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, torn{0}, errors{0};
  std::thread reader([&] {
    while (!stop.load()) {
      std::vector<OnlineValue> out;
      if (!store->Read("v", keys, out).ok()) {
        ++errors;
        continue;
      }
      std::set<std::string> distinct;
      for (const auto& value : out) distinct.insert(value.found ? value.payload : "-");
      if (distinct.size() != 1) ++torn;
      ++reads;
    }
  });
  // No ASSERT while the reader runs: returning early would leave the thread unjoined.
  for (int run = 1; run <= kRuns; ++run) {
    auto writer = store->BeginRun("run");
    EXPECT_TRUE(writer.ok()) << writer.status().message();
    if (!writer.ok()) break;
    for (int start = 0; start < kKeys; start += 100) {
      std::vector<OnlineRow> rows;
      for (int k = start; k < start + 100; ++k) rows.push_back({keys[k], run, "{\"run\":" + std::to_string(run) + "}"});
      EXPECT_TRUE((*writer)->Write("v", rows).ok());
      std::this_thread::yield();
    }
    EXPECT_TRUE((*writer)->Commit().ok());
  }
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(Read(*store, "v", {"0", "999"}),
            (std::vector<std::string>{"15:{\"run\":15}", "15:{\"run\":15}"}));
}

}  // namespace
}  // namespace lathe::features
