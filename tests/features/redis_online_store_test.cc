// The Redis online store against a real redis-server started on an ephemeral port.
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "features/online_store.h"

namespace lathe::features {
namespace {

// Not `"k" + std::to_string(i)`: GCC 12 warns falsely (-Wrestrict) on that.
std::string Numbered(const char* prefix, int i) {
  std::string text = prefix;
  text += std::to_string(i);
  return text;
}

constexpr const char* kRedisServer = "/usr/bin/redis-server";

// A port nothing listens on right now (the kernel's pick for an ephemeral bind).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

struct ReplyDeleter {
  void operator()(redisReply* reply) const {
    if (reply) freeReplyObject(reply);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// A plain hiredis connection for looking at the store's keys from outside.
class RawRedis {
 public:
  explicit RawRedis(int port) {
    timeval timeout{2, 0};
    context_ = redisConnectWithTimeout("127.0.0.1", port, timeout);
  }
  ~RawRedis() {
    if (context_) redisFree(context_);
  }
  bool ok() const { return context_ && !context_->err; }
  Reply Command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const auto& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    return Reply(static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data())));
  }
  long long Exists(const std::string& key) {
    Reply reply = Command({"EXISTS", key});
    return reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
  }

 private:
  redisContext* context_ = nullptr;
};

class RedisOnlineStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (access(kRedisServer, X_OK) != 0) {
      skip_reason_ = std::string(kRedisServer) + " is not installed (apt-get install redis-server)";
      return;
    }
    char pattern[] = "/tmp/lathe-redis-test-XXXXXX";
    if (!mkdtemp(pattern)) {
      skip_reason_ = "cannot create a temporary directory";
      return;
    }
    dir_ = pattern;
    port_ = FreePort();
    std::string port = std::to_string(port_);
    std::string log = (dir_ / "redis.log").string();
    pid_ = fork();
    if (pid_ == 0) {
      // The server must not outlive a crashed test.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      execl(kRedisServer, kRedisServer, "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", dir_.c_str(), "--logfile", log.c_str(), "--daemonize", "no",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    if (pid_ < 0) {
      skip_reason_ = "cannot fork redis-server";
      return;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        skip_reason_ = "redis-server exited at start; see " + log;
        return;
      }
      RawRedis raw(port_);
      if (raw.ok()) {
        Reply pong = raw.Command({"PING"});
        if (pong && pong->type == REDIS_REPLY_STATUS && std::string(pong->str) == "PONG") return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    skip_reason_ = "redis-server did not answer PING within 10 s; see " + log;
  }

  static void TearDownTestSuite() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << "Redis online store tests skipped: " << skip_reason_;
    // Each test has its own key namespace.
    project_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    auto opened = OpenRedisOnlineStore("127.0.0.1", port_, 0, project_);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
  }

  std::string RunKey(const std::string& run_id, const std::string& view) const {
    return "lathe:" + project_ + ":run:" + run_id + ":" + view;
  }

  // Commits one run writing `rows` to `view`.
  void CommitRun(const std::string& run_id, const std::string& view, const std::vector<OnlineRow>& rows) {
    auto run = store_->BeginRun(run_id);
    ASSERT_TRUE(run.ok()) << run.status().message();
    Status written = (*run)->Write(view, rows);
    ASSERT_TRUE(written.ok()) << written.message();
    Status committed = (*run)->Commit();
    ASSERT_TRUE(committed.ok()) << committed.message();
  }

  std::vector<OnlineValue> ReadKeys(const std::string& view, const std::vector<std::string>& keys) {
    std::vector<OnlineValue> out;
    Status read = store_->Read(view, keys, out);
    EXPECT_TRUE(read.ok()) << read.message();
    EXPECT_EQ(out.size(), keys.size());
    return out;
  }

  static inline std::string skip_reason_;
  static inline std::filesystem::path dir_;
  static inline pid_t pid_ = -1;
  static inline int port_ = 0;
  std::string project_;
  std::unique_ptr<OnlineStore> store_;
};

TEST_F(RedisOnlineStoreTest, WriteCommitRead) {
  EXPECT_EQ(store_->Describe(), "redis://127.0.0.1:" + std::to_string(port_) + "/0");
  auto run = store_->BeginRun("r1");
  ASSERT_TRUE(run.ok()) << run.status().message();
  std::vector<OnlineRow> rows = {{"a", 100, R"({"x":1})"}, {"b", 200, R"({"x":2})"}};
  ASSERT_TRUE((*run)->Write("v", rows).ok());
  auto before = ReadKeys("v", {"a", "b"});
  EXPECT_FALSE(before[0].found);
  EXPECT_FALSE(before[1].found);
  Status committed = (*run)->Commit();
  ASSERT_TRUE(committed.ok()) << committed.message();

  auto after = ReadKeys("v", {"b", "missing", "a"});
  ASSERT_TRUE(after[0].found);
  EXPECT_EQ(after[0].event_micros, 200);
  EXPECT_EQ(after[0].payload, R"({"x":2})");
  EXPECT_FALSE(after[1].found);
  ASSERT_TRUE(after[2].found);
  EXPECT_EQ(after[2].event_micros, 100);
  EXPECT_EQ(after[2].payload, R"({"x":1})");

  EXPECT_EQ((*run)->Write("v", rows).code(), ErrorCode::kInvalidState);
  EXPECT_EQ((*run)->Commit().code(), ErrorCode::kInvalidState);
}

TEST_F(RedisOnlineStoreTest, ManyRowsCrossBatches) {
  std::vector<OnlineRow> rows;
  std::vector<std::string> keys;
  for (int i = 0; i < 2500; ++i) {
    rows.push_back({Numbered("k", i), i, Numbered("p", i)});
    keys.push_back(Numbered("k", i));
  }
  CommitRun("r1", "v", rows);
  // A second run that touches a few keys keeps all the others (its hash started as a copy).
  CommitRun("r2", "v", {{"k7", 1000, "new"}});
  auto values = ReadKeys("v", keys);
  for (int i = 0; i < 2500; ++i) {
    ASSERT_TRUE(values[i].found) << i;
    EXPECT_EQ(values[i].payload, i == 7 ? "new" : Numbered("p", i));
  }
}

TEST_F(RedisOnlineStoreTest, UpsertKeepsNewestEventTime) {
  CommitRun("r1", "v", {{"a", 100, "first"}, {"b", 100, "first"}});
  // Older event time: ignored. Equal: replaces. Within one batch the same rule holds.
  CommitRun("r2", "v",
            {{"a", 50, "older"}, {"b", 100, "equal"}, {"c", 10, "x"}, {"c", 5, "y"}, {"c", 10, "z"}});
  auto values = ReadKeys("v", {"a", "b", "c"});
  EXPECT_EQ(values[0].payload, "first");
  EXPECT_EQ(values[0].event_micros, 100);
  EXPECT_EQ(values[1].payload, "equal");
  EXPECT_EQ(values[2].payload, "z");
  EXPECT_EQ(values[2].event_micros, 10);

  // Across several Write calls of one run, too.
  auto run = store_->BeginRun("r3");
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE((*run)->Write("v", std::vector<OnlineRow>{{"a", 300, "newer"}}).ok());
  ASSERT_TRUE((*run)->Write("v", std::vector<OnlineRow>{{"a", 200, "between"}}).ok());
  ASSERT_TRUE((*run)->Commit().ok());
  values = ReadKeys("v", {"a"});
  EXPECT_EQ(values[0].payload, "newer");
  EXPECT_EQ(values[0].event_micros, 300);
}

TEST_F(RedisOnlineStoreTest, UncommittedRunIsInvisibleAndDiscarded) {
  CommitRun("r1", "v", {{"a", 1, "one"}});
  {
    auto run = store_->BeginRun("r2");
    ASSERT_TRUE(run.ok());
    ASSERT_TRUE((*run)->Write("v", std::vector<OnlineRow>{{"a", 2, "two"}, {"b", 2, "two"}}).ok());
    ASSERT_TRUE((*run)->Write("w", std::vector<OnlineRow>{{"a", 2, "two"}}).ok());
    auto during = ReadKeys("v", {"a", "b"});
    EXPECT_EQ(during[0].payload, "one");
    EXPECT_FALSE(during[1].found);
    EXPECT_FALSE(ReadKeys("w", {"a"})[0].found);
    RawRedis raw(port_);
    EXPECT_EQ(raw.Exists(RunKey("r2", "v")), 1);
  }
  auto after = ReadKeys("v", {"a", "b"});
  EXPECT_EQ(after[0].payload, "one");
  EXPECT_FALSE(after[1].found);
  RawRedis raw(port_);
  EXPECT_EQ(raw.Exists(RunKey("r2", "v")), 0);
  EXPECT_EQ(raw.Exists(RunKey("r2", "w")), 0);
  auto state = store_->GetViewState("v");
  ASSERT_TRUE(state.ok());
  ASSERT_TRUE(state->has_value());
  EXPECT_EQ((*state)->run_id, "r1");
}

TEST_F(RedisOnlineStoreTest, CommitSwitchesAllViewsAtOnce) {
  CommitRun("r1", "v1", {{"a", 1, "r1"}});
  auto run = store_->BeginRun("r2");
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE((*run)->Write("v1", std::vector<OnlineRow>{{"a", 2, "r2"}}).ok());
  ASSERT_TRUE((*run)->Write("v2", std::vector<OnlineRow>{{"a", 2, "r2"}}).ok());
  ASSERT_TRUE((*run)->Write("v3", std::vector<OnlineRow>{{"a", 2, "r2"}}).ok());
  EXPECT_EQ(ReadKeys("v1", {"a"})[0].payload, "r1");
  EXPECT_FALSE(ReadKeys("v2", {"a"})[0].found);
  ASSERT_TRUE((*run)->Commit().ok());
  for (const char* view : {"v1", "v2", "v3"}) {
    EXPECT_EQ(ReadKeys(view, {"a"})[0].payload, "r2") << view;
    auto state = store_->GetViewState(view);
    ASSERT_TRUE(state.ok() && state->has_value()) << view;
    EXPECT_EQ((*state)->run_id, "r2");
    EXPECT_GT((*state)->committed_at_millis, 0);
  }
}

TEST_F(RedisOnlineStoreTest, MissingKeysAndViews) {
  EXPECT_FALSE(ReadKeys("never", {"a", "b"})[1].found);
  CommitRun("r1", "v", {{"a", 1, "x"}});
  auto values = ReadKeys("v", {"zz", "a", ""});
  EXPECT_FALSE(values[0].found);
  EXPECT_TRUE(values[1].found);
  EXPECT_FALSE(values[2].found);
  EXPECT_TRUE(ReadKeys("v", {}).empty());
  auto state = store_->GetViewState("never");
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->has_value());
}

TEST_F(RedisOnlineStoreTest, ViewStateRoundTrip) {
  CommitRun("r0", "v", {{"a", 1, "kept"}});
  auto run = store_->BeginRun("r1");
  ASSERT_TRUE(run.ok());
  ViewState state;
  state.repo_hash = "abc123";
  state.run_id = "r1";
  state.materialized_until_micros = 1700000000000000;
  state.committed_at_millis = 1700000000123;
  // A state without writes: the view's values stay.
  ASSERT_TRUE((*run)->SetViewState("v", state).ok());
  EXPECT_EQ(store_->GetViewState("v")->value().run_id, "r0");
  ASSERT_TRUE((*run)->Commit().ok());
  auto read = store_->GetViewState("v");
  ASSERT_TRUE(read.ok()) << read.status().message();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->repo_hash, "abc123");
  EXPECT_EQ((*read)->run_id, "r1");
  EXPECT_EQ((*read)->materialized_until_micros, 1700000000000000);
  EXPECT_EQ((*read)->committed_at_millis, 1700000000123);
  EXPECT_EQ(ReadKeys("v", {"a"})[0].payload, "kept");
  // Written without a state: switched all the same, the coverage carried over.
  CommitRun("r2", "v", {{"b", 1, "x"}});
  read = store_->GetViewState("v");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->run_id, "r2");
  EXPECT_EQ((*read)->repo_hash, "abc123");
  EXPECT_EQ((*read)->materialized_until_micros, 1700000000000000);
}

TEST_F(RedisOnlineStoreTest, DeletesRunsTwoBack) {
  RawRedis raw(port_);
  CommitRun("r1", "v", {{"a", 1, "1"}});
  CommitRun("r2", "v", {{"a", 2, "2"}});
  EXPECT_EQ(raw.Exists(RunKey("r1", "v")), 1);  // the replaced run stays for readers in flight
  CommitRun("r3", "v", {{"a", 3, "3"}});
  EXPECT_EQ(raw.Exists(RunKey("r1", "v")), 0);
  EXPECT_EQ(raw.Exists(RunKey("r2", "v")), 1);
  EXPECT_EQ(raw.Exists(RunKey("r3", "v")), 1);
  EXPECT_EQ(ReadKeys("v", {"a"})[0].payload, "3");
}

TEST_F(RedisOnlineStoreTest, RejectsConflictingAndReusedRuns) {
  CommitRun("r1", "v", {{"a", 1, "1"}});
  auto first = store_->BeginRun("r2");
  auto second = store_->BeginRun("r3");
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE((*first)->Write("v", std::vector<OnlineRow>{{"a", 2, "2"}}).ok());
  ASSERT_TRUE((*second)->Write("v", std::vector<OnlineRow>{{"b", 3, "3"}}).ok());
  ASSERT_TRUE((*first)->Commit().ok());
  Status conflict = (*second)->Commit();
  EXPECT_EQ(conflict.code(), ErrorCode::kInvalidState) << conflict.message();
  EXPECT_EQ(ReadKeys("v", {"a"})[0].payload, "2");

  auto reused = store_->BeginRun("r2");
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ((*reused)->Write("v", std::vector<OnlineRow>{{"a", 9, "9"}}).code(), ErrorCode::kInvalidState);
  EXPECT_EQ(ReadKeys("v", {"a"})[0].payload, "2");
}

TEST_F(RedisOnlineStoreTest, ReconnectsAfterTheServerDropsConnections) {
  CommitRun("r1", "v", {{"a", 1, "1"}});
  EXPECT_TRUE(ReadKeys("v", {"a"})[0].found);  // leaves a pooled connection
  RawRedis raw(port_);
  Reply killed = raw.Command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  ASSERT_TRUE(killed && killed->type == REDIS_REPLY_INTEGER);
  EXPECT_GE(killed->integer, 1);
  EXPECT_EQ(ReadKeys("v", {"a"})[0].payload, "1");
}

TEST_F(RedisOnlineStoreTest, SelectsTheDatabase) {
  auto opened = OpenRedisOnlineStore("127.0.0.1", port_, 3, project_);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  store_ = std::move(opened).value();
  EXPECT_EQ(store_->Describe(), "redis://127.0.0.1:" + std::to_string(port_) + "/3");
  CommitRun("r1", "v", {{"a", 1, "1"}});
  RawRedis raw(port_);
  EXPECT_EQ(raw.Exists(RunKey("r1", "v")), 0);
  raw.Command({"SELECT", "3"});
  EXPECT_EQ(raw.Exists(RunKey("r1", "v")), 1);
  auto bad = OpenRedisOnlineStore("127.0.0.1", port_, 100000, project_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cannot select database 100000"), std::string::npos)
      << bad.status().message();
}

// Each run writes its number into every entity of two views; a reader must never see a mix.
TEST_F(RedisOnlineStoreTest, ConcurrentReaderSeesOnlyCompleteRuns) {
  constexpr int kEntities = 300;
  constexpr int kRuns = 15;
  std::vector<std::string> keys;
  for (int i = 0; i < kEntities; ++i) keys.push_back(Numbered("e", i));
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> failures{0};
  std::string first_failure;
  std::thread reader([&] {
    int last_run = -1;
    RawRedis raw(port_);
    while (!done.load()) {
      std::vector<OnlineValue> out;
      Status status = store_->Read("v1", keys, out);
      std::string problem;
      if (!status.ok()) {
        problem = "read failed: " + status.message();
      } else if (!out[0].found) {
        if (last_run >= 0) problem = Numbered("values gone after run ", last_run);
        for (const auto& value : out) {
          if (value.found) problem = "some keys found before the first commit";
        }
      } else {
        for (const auto& value : out) {
          if (!value.found || value.payload != out[0].payload) {
            problem = "mixed runs: " + out[0].payload + " and " + (value.found ? value.payload : "not found");
            break;
          }
        }
        int run = std::stoi(out[0].payload);
        if (run < last_run) problem = Numbered("went back from run ", last_run);
        last_run = run;
      }
      // Both views' pointers move together.
      Reply pointers = raw.Command({"HMGET", "lathe:" + project_ + ":current", "v1", "v2"});
      if (pointers && pointers->type == REDIS_REPLY_ARRAY && pointers->elements == 2) {
        auto run_of = [](const redisReply* element) {
          if (element->type != REDIS_REPLY_STRING) return std::string("none");
          std::string text(element->str, element->len);
          size_t at = text.find("\"run_id\":\"");
          return text.substr(at + 10, text.find('"', at + 10) - at - 10);
        };
        if (run_of(pointers->element[0]) != run_of(pointers->element[1])) problem = "views switched apart";
      }
      if (!problem.empty() && failures.fetch_add(1) == 0) first_failure = problem;
      reads.fetch_add(1);
    }
  });
  // The writer reports with EXPECT and stops: an ASSERT return would leave the reader running.
  auto write_runs = [&] {
    for (int run = 0; run < kRuns; ++run) {
      auto write_run = store_->BeginRun(Numbered("run", run));
      if (!write_run.ok()) return write_run.status();
      // Several Write calls per view: a half-written run must not show either.
      for (const char* view : {"v1", "v2"}) {
        for (int half = 0; half < 2; ++half) {
          std::vector<OnlineRow> rows;
          for (int i = half; i < kEntities; i += 2) rows.push_back({keys[i], run, std::to_string(run)});
          LATHE_RETURN_IF_ERROR((*write_run)->Write(view, rows));
        }
      }
      LATHE_RETURN_IF_ERROR((*write_run)->Commit());
    }
    return Status::Ok();
  };
  Status written = write_runs();
  EXPECT_TRUE(written.ok()) << written.message();
  // Let the reader see the last run too.
  int seen = reads.load();
  while (reads.load() < seen + 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GT(reads.load(), 3);
  std::printf("%d reads during %d runs\n", reads.load(), kRuns);
  EXPECT_EQ(ReadKeys("v1", {"e0"})[0].payload, std::to_string(kRuns - 1));
}

TEST(RedisOnlineStoreOpenTest, ConnectionRefusedIsClear) {
  int port = FreePort();
  ASSERT_GT(port, 0);
  auto opened = OpenRedisOnlineStore("127.0.0.1", port, 0, "p");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(opened.status().message(),
            "cannot connect to Redis at 127.0.0.1:" + std::to_string(port) + ": Connection refused");
  EXPECT_EQ(OpenRedisOnlineStore("", 6379, 0, "p").status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(OpenRedisOnlineStore("127.0.0.1", 0, 0, "p").status().code(), ErrorCode::kInvalidParameterValue);
}

}  // namespace
}  // namespace lathe::features
