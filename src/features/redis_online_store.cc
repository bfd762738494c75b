// The Redis online store.
//
// Layout, namespaced by project:
//   lathe:<project>:run:<run_id>:<view>  hash entity_key -> "<event_micros>\t<payload>"
//   lathe:<project>:current              hash view -> JSON ViewState (+ previous_run_id)
// A run copies the current hash of each view it touches (server-side COPY), upserts into its copy
// and, on Commit(), moves every view's pointer in one MULTI/EXEC. Readers resolve the pointer and
// read the run hash inside one MULTI/EXEC, so they see one complete run even while old run hashes
// are being deleted.
#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/json_dump.h"
#include "features/online_store.h"

namespace lathe::features {
namespace {

constexpr int kTimeoutSeconds = 5;
// Rows (or keys) per command; bounds the size of one round trip.
constexpr size_t kBatch = 1000;
constexpr size_t kMaxIdleConnections = 8;
// A read retries when a commit moves the pointer between its resolve and its read; more than a
// handful of commits during one read means something is wrong.
constexpr int kMaxReadAttempts = 8;
// Commit retries when another commit (of any view) touches the pointer hash under its WATCH.
constexpr int kMaxCommitAttempts = 16;

using Command = std::vector<std::string>;

struct ReplyDeleter {
  void operator()(redisReply* reply) const {
    if (reply) freeReplyObject(reply);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* context) const {
    if (context) redisFree(context);
  }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

std::string ReplyText(const redisReply* reply) { return std::string(reply->str, reply->len); }

// The state stored behind a view's pointer: the public ViewState and the run it replaced, whose
// hash the next commit deletes.
struct StoredState {
  ViewState state;
  std::string previous_run_id;
};

std::string EncodeState(const StoredState& stored) {
  nlohmann::json json = {
      {"repo_hash", stored.state.repo_hash},
      {"run_id", stored.state.run_id},
      {"materialized_until_micros", stored.state.materialized_until_micros},
      {"committed_at_millis", stored.state.committed_at_millis},
      {"previous_run_id", stored.previous_run_id},
  };
  return DumpJson(json);
}

Result<StoredState> DecodeState(const std::string& view, const std::string& text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("run_id") || !json["run_id"].is_string()) {
    return Status::Internal(fmt::format("the Redis online store's state of view '{}' is not valid: {}", view, text));
  }
  StoredState stored;
  stored.state.run_id = json["run_id"].get<std::string>();
  stored.state.repo_hash = json.value("repo_hash", "");
  stored.state.materialized_until_micros = json.value("materialized_until_micros", int64_t{0});
  stored.state.committed_at_millis = json.value("committed_at_millis", int64_t{0});
  stored.previous_run_id = json.value("previous_run_id", "");
  return stored;
}

std::string EncodeValue(const OnlineRow& row) {
  std::string value = std::to_string(row.event_micros);
  value += '\t';
  value += row.payload;
  return value;
}

// Parses "<event_micros>\t<payload>"; event_micros alone is enough for the upsert comparison.
bool DecodeValue(const char* data, size_t size, int64_t& event_micros, std::string* payload) {
  const char* end = data + size;
  const char* tab = std::find(data, end, '\t');
  if (tab == end) return false;
  auto [ptr, ec] = std::from_chars(data, tab, event_micros);
  if (ec != std::errc() || ptr != tab) return false;
  if (payload) payload->assign(tab + 1, end);
  return true;
}

// Connections to one Redis server. The mutex only guards the idle list: connecting and every
// command happen outside it.
class ConnectionPool {
 public:
  ConnectionPool(std::string host, int port, int database)
      : host_(std::move(host)), port_(port), database_(database) {}

  std::string Where() const { return fmt::format("{}:{}", host_, port_); }

  Result<Context> Connect() const {
    timeval timeout{kTimeoutSeconds, 0};
    Context context(redisConnectWithTimeout(host_.c_str(), port_, timeout));
    if (!context) return Status::Unavailable(fmt::format("cannot connect to Redis at {}: out of memory", Where()));
    if (context->err) {
      return Status::Unavailable(fmt::format("cannot connect to Redis at {}: {}", Where(), context->errstr));
    }
    if (redisSetTimeout(context.get(), timeout) != REDIS_OK) {
      return Status::Unavailable(fmt::format("cannot set timeouts on the Redis connection to {}: {}", Where(),
                                             context->errstr));
    }
    (void)redisEnableKeepAlive(context.get());
    if (database_ != 0) {
      std::string db = std::to_string(database_);
      Reply reply(static_cast<redisReply*>(redisCommand(context.get(), "SELECT %s", db.c_str())));
      if (!reply) {
        return Status::Unavailable(fmt::format("cannot select database {} of Redis at {}: {}", database_, Where(),
                                               context->errstr));
      }
      if (reply->type == REDIS_REPLY_ERROR) {
        return Status::InvalidParameter(fmt::format("cannot select database {} of Redis at {}: {}", database_,
                                                    Where(), ReplyText(reply.get())));
      }
    }
    return context;
  }

  Context TakeIdle() {
    std::lock_guard lock(mutex_);
    if (idle_.empty()) return nullptr;
    Context context = std::move(idle_.back());
    idle_.pop_back();
    return context;
  }

  void Return(Context context) {
    if (!context || context->err) return;  // broken: freed here
    std::lock_guard lock(mutex_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(context));
  }

 private:
  const std::string host_;
  const int port_;
  const int database_;
  std::mutex mutex_;
  std::vector<Context> idle_;
};

// One connection taken from the pool for a while; returned (if healthy) on destruction.
class Lease {
 public:
  explicit Lease(std::shared_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}
  ~Lease() { pool_->Return(std::move(context_)); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  // Sends `commands` in one pipeline and collects one reply each (error replies included: the
  // caller checks them). A broken connection is replaced and the pipeline re-sent once, unless
  // `may_resend` is false (the pipeline depends on state of the old connection, such as WATCH).
  Status Pipeline(const std::vector<Command>& commands, std::vector<Reply>& replies, bool may_resend = true) {
    for (int attempt = 0;; ++attempt) {
      if (!context_) {
        // An idle connection may have been closed by the server; the retry takes a fresh one.
        if (attempt == 0) context_ = pool_->TakeIdle();
        if (!context_) {
          LATHE_ASSIGN_OR_RETURN(context_, pool_->Connect());
        }
      }
      Status sent = SendAndReceive(commands, replies);
      if (sent.ok()) return sent;
      context_.reset();
      if (attempt >= 1 || !may_resend) return sent;
    }
  }

  Result<Reply> Run(Command command) {
    std::vector<Reply> replies;
    LATHE_RETURN_IF_ERROR(Pipeline({std::move(command)}, replies));
    return std::move(replies.front());
  }

  std::string Where() const { return pool_->Where(); }

 private:
  Status SendAndReceive(const std::vector<Command>& commands, std::vector<Reply>& replies) {
    replies.clear();
    replies.reserve(commands.size());
    std::vector<const char*> argv;
    std::vector<size_t> argv_len;
    for (const Command& command : commands) {
      argv.clear();
      argv_len.clear();
      for (const std::string& arg : command) {
        argv.push_back(arg.data());
        argv_len.push_back(arg.size());
      }
      if (redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(), argv_len.data()) !=
          REDIS_OK) {
        return IoError();
      }
    }
    for (size_t i = 0; i < commands.size(); ++i) {
      void* reply = nullptr;
      if (redisGetReply(context_.get(), &reply) != REDIS_OK || reply == nullptr) return IoError();
      replies.emplace_back(static_cast<redisReply*>(reply));
    }
    return Status::Ok();
  }

  Status IoError() const {
    return Status::Unavailable(fmt::format("Redis at {}: {}", pool_->Where(),
                                           context_->errstr[0] ? context_->errstr : "connection lost"));
  }

  std::shared_ptr<ConnectionPool> pool_;
  Context context_;
};

Status ReplyError(const Lease& lease, const redisReply* reply, std::string_view what) {
  return Status::Internal(fmt::format("Redis at {}: {} failed: {}", lease.Where(), what, ReplyText(reply)));
}

Status ExpectType(const Lease& lease, const redisReply* reply, int type, std::string_view what) {
  if (reply->type == REDIS_REPLY_ERROR) return ReplyError(lease, reply, what);
  if (reply->type != type) {
    return Status::Internal(fmt::format("Redis at {}: unexpected reply type {} to {}", lease.Where(), reply->type,
                                        what));
  }
  return Status::Ok();
}

class RedisKeys {
 public:
  explicit RedisKeys(const std::string& project) : prefix_("lathe:" + project + ":") {}
  std::string Current() const { return prefix_ + "current"; }
  std::string Run(const std::string& run_id, const std::string& view) const {
    return prefix_ + "run:" + run_id + ":" + view;
  }

 private:
  std::string prefix_;
};

class RedisWriteRun final : public OnlineWriteRun {
 public:
  RedisWriteRun(std::shared_ptr<ConnectionPool> pool, RedisKeys keys, std::string run_id)
      : lease_(std::move(pool)), keys_(std::move(keys)), run_id_(std::move(run_id)) {}

  ~RedisWriteRun() override {
    // An EXEC whose reply was lost may have switched the pointers to our hashes: keep them then.
    if (committed_ || maybe_committed_ || views_.empty()) return;
    Command unlink = {"UNLINK"};
    for (const auto& [view, base] : views_) unlink.push_back(keys_.Run(run_id_, view));
    std::vector<Reply> replies;
    Status status = lease_.Pipeline({unlink}, replies);
    if (!status.ok()) {
      spdlog::warn("cannot delete the uncommitted online store run {}: {}", run_id_, status.message());
    }
  }

  Status Write(const std::string& view, std::span<const OnlineRow> rows) override {
    LATHE_RETURN_IF_ERROR(CheckOpen());
    LATHE_RETURN_IF_ERROR(StartView(view));
    // Within a batch the same rule applies as against stored values: a later row replaces an
    // earlier one unless its event time is older.
    std::vector<const OnlineRow*> latest;
    std::unordered_map<std::string_view, size_t> index;
    latest.reserve(rows.size());
    for (const OnlineRow& row : rows) {
      auto [it, inserted] = index.try_emplace(row.entity_key, latest.size());
      if (inserted) {
        latest.push_back(&row);
      } else if (row.event_micros >= latest[it->second]->event_micros) {
        latest[it->second] = &row;
      }
    }
    const std::string hash = keys_.Run(run_id_, view);
    // Each round trip writes one chunk and fetches the existing values of the next.
    std::optional<Command> pending_set;
    for (size_t begin = 0; begin < latest.size() || pending_set; begin += kBatch) {
      size_t end = std::min(begin + kBatch, latest.size());
      std::vector<Command> commands;
      if (pending_set) commands.push_back(std::move(*pending_set));
      pending_set.reset();
      bool has_get = begin < end;
      if (has_get) {
        Command get = {"HMGET", hash};
        for (size_t i = begin; i < end; ++i) get.push_back(latest[i]->entity_key);
        commands.push_back(std::move(get));
      }
      std::vector<Reply> replies;
      LATHE_RETURN_IF_ERROR(lease_.Pipeline(commands, replies));
      if (commands.front()[0] == "HSET") {
        LATHE_RETURN_IF_ERROR(ExpectType(lease_, replies.front().get(), REDIS_REPLY_INTEGER, "HSET " + hash));
      }
      if (!has_get) break;
      const redisReply* existing = replies.back().get();
      LATHE_RETURN_IF_ERROR(ExpectType(lease_, existing, REDIS_REPLY_ARRAY, "HMGET " + hash));
      if (existing->elements != end - begin) {
        return Status::Internal(fmt::format("Redis at {}: HMGET {} answered {} values for {} keys", lease_.Where(),
                                            hash, existing->elements, end - begin));
      }
      Command set = {"HSET", hash};
      for (size_t i = begin; i < end; ++i) {
        const redisReply* old = existing->element[i - begin];
        if (old->type == REDIS_REPLY_STRING) {
          int64_t old_micros = 0;
          // An unreadable stored value is replaced rather than blocking the view forever.
          if (DecodeValue(old->str, old->len, old_micros, nullptr) && latest[i]->event_micros < old_micros) continue;
        }
        set.push_back(latest[i]->entity_key);
        set.push_back(EncodeValue(*latest[i]));
      }
      if (set.size() > 2) pending_set = std::move(set);
    }
    return Status::Ok();
  }

  Status SetViewState(const std::string& view, const ViewState& state) override {
    LATHE_RETURN_IF_ERROR(CheckOpen());
    if (view.empty()) return Status::InvalidParameter("the view name is empty");
    states_[view] = state;
    return Status::Ok();
  }

  Status Commit() override {
    LATHE_RETURN_IF_ERROR(CheckOpen());
    // A view with a state but no writes keeps its values: its run hash is a copy of the current one.
    for (const auto& [view, state] : states_) LATHE_RETURN_IF_ERROR(StartView(view));
    if (views_.empty()) {
      committed_ = true;
      return Status::Ok();
    }
    const std::string current = keys_.Current();
    std::vector<std::string> views;
    for (const auto& [view, base] : views_) views.push_back(view);

    Status last_error;
    for (int attempt = 0; attempt < kMaxCommitAttempts; ++attempt) {
      Command get = {"HMGET", current};
      get.insert(get.end(), views.begin(), views.end());
      std::vector<Reply> replies;
      Status status = lease_.Pipeline({{"WATCH", current}, get}, replies);
      if (!status.ok()) {
        last_error = status;
        continue;
      }
      LATHE_RETURN_IF_ERROR(Unwatching(ExpectType(lease_, replies[0].get(), REDIS_REPLY_STATUS, "WATCH")));
      LATHE_RETURN_IF_ERROR(Unwatching(ExpectType(lease_, replies[1].get(), REDIS_REPLY_ARRAY, "HMGET " + current)));
      const redisReply* now = replies[1].get();
      if (now->elements != views.size()) {
        return Unwatching(Status::Internal(fmt::format("Redis at {}: HMGET {} answered {} values for {} views",
                                                       lease_.Where(), current, now->elements, views.size())));
      }
      Command set = {"HSET", current};
      std::vector<std::string> two_back;
      size_t already_switched = 0;
      for (size_t i = 0; i < views.size(); ++i) {
        const std::string& view = views[i];
        const redisReply* element = now->element[i];
        StoredState replaced;
        if (element->type == REDIS_REPLY_STRING) {
          auto decoded = DecodeState(view, ReplyText(element));
          if (!decoded.ok()) return Unwatching(decoded.status());
          replaced = std::move(decoded).value();
        }
        if (replaced.state.run_id == run_id_ && maybe_committed_) {
          ++already_switched;  // our earlier EXEC did apply; its reply was lost
          continue;
        }
        // The run's copy was taken from the base; a run committed since would be overwritten.
        if (replaced.state.run_id != views_[view]) {
          return Unwatching(Status::InvalidState(fmt::format(
              "view '{}' was committed by run '{}' while run '{}' was in progress; run the materialisation again",
              view, replaced.state.run_id, run_id_)));
        }
        StoredState next;
        auto explicit_state = states_.find(view);
        if (explicit_state != states_.end()) {
          next.state = explicit_state->second;
        } else {
          // Written without a state: the values still cover what the replaced run covered.
          next.state.repo_hash = replaced.state.repo_hash;
          next.state.materialized_until_micros = replaced.state.materialized_until_micros;
        }
        next.state.run_id = run_id_;
        if (next.state.committed_at_millis == 0) next.state.committed_at_millis = NowMillis();
        next.previous_run_id = replaced.state.run_id;
        set.push_back(view);
        set.push_back(EncodeState(next));
        // Readers may still hold the replaced pointer, never the one before it.
        if (!replaced.previous_run_id.empty() && replaced.previous_run_id != run_id_) {
          two_back.push_back(keys_.Run(replaced.previous_run_id, view));
        }
      }
      if (already_switched == views.size()) {
        (void)lease_.Pipeline({{"UNWATCH"}}, replies);
        committed_ = true;
        return Status::Ok();
      }
      // The WATCH lives on this connection: after a reconnect the EXEC must not run unguarded.
      maybe_committed_ = true;
      status = lease_.Pipeline({{"MULTI"}, set, {"EXEC"}}, replies, /*may_resend=*/false);
      if (!status.ok()) {
        last_error = status;
        continue;
      }
      const redisReply* exec = replies.back().get();
      if (exec->type == REDIS_REPLY_NIL) {
        // Another commit touched the pointer hash; nothing was applied.
        if (already_switched == 0) maybe_committed_ = false;
        last_error = Status::Unavailable("the pointer hash kept changing under concurrent commits");
        continue;
      }
      if (exec->type == REDIS_REPLY_ERROR) {
        if (already_switched == 0) maybe_committed_ = false;
        return ReplyError(lease_, exec, "MULTI/EXEC HSET " + current);
      }
      for (size_t i = 0; i + 1 < replies.size(); ++i) {
        if (replies[i]->type == REDIS_REPLY_ERROR) return ReplyError(lease_, replies[i].get(), "MULTI/EXEC");
      }
      committed_ = true;
      if (!two_back.empty()) {
        Command unlink = {"UNLINK"};
        unlink.insert(unlink.end(), two_back.begin(), two_back.end());
        Status deleted = lease_.Pipeline({unlink}, replies);
        if (!deleted.ok()) spdlog::warn("cannot delete old online store runs: {}", deleted.message());
      }
      return Status::Ok();
    }
    return Status(last_error.code(), fmt::format("cannot commit online store run '{}' to Redis: {}", run_id_,
                                                 last_error.message()));
  }

 private:
  Status CheckOpen() const {
    if (committed_) return Status::InvalidState(fmt::format("online store run '{}' is already committed", run_id_));
    return Status::Ok();
  }

  // Releases a WATCH before an early return so that the connection goes back to the pool clean.
  Status Unwatching(Status status) {
    if (!status.ok()) {
      std::vector<Reply> replies;
      (void)lease_.Pipeline({{"UNWATCH"}}, replies, /*may_resend=*/false);
    }
    return status;
  }

  // The first touch of a view in this run: its run hash starts as a copy of the current one.
  Status StartView(const std::string& view) {
    if (view.empty()) return Status::InvalidParameter("the view name is empty");
    if (views_.contains(view)) return Status::Ok();
    const std::string current = keys_.Current();
    LATHE_ASSIGN_OR_RETURN(Reply pointer, lease_.Run({"HGET", current, view}));
    std::string base;
    if (pointer->type == REDIS_REPLY_STRING) {
      LATHE_ASSIGN_OR_RETURN(StoredState stored, DecodeState(view, ReplyText(pointer.get())));
      // Reusing a live run id would write into the hash readers are reading.
      if (stored.state.run_id == run_id_ || stored.previous_run_id == run_id_) {
        return Status::InvalidState(
            fmt::format("run id '{}' was already committed for view '{}'; a run needs a new id", run_id_, view));
      }
      base = stored.state.run_id;
    } else if (pointer->type != REDIS_REPLY_NIL) {
      return ExpectType(lease_, pointer.get(), REDIS_REPLY_STRING, "HGET " + current);
    }
    views_.emplace(view, base);  // from here on the destructor cleans the hash up
    const std::string hash = keys_.Run(run_id_, view);
    // REPLACE / UNLINK: leftovers of a crashed run with the same id must not leak in.
    Command command = base.empty() ? Command{"UNLINK", hash} : Command{"COPY", keys_.Run(base, view), hash, "REPLACE"};
    LATHE_ASSIGN_OR_RETURN(Reply copied, lease_.Run(command));
    if (copied->type == REDIS_REPLY_ERROR) {
      return Status::Internal(fmt::format("Redis at {}: {} failed (the online store needs Redis >= 6.2): {}",
                                          lease_.Where(), command[0], ReplyText(copied.get())));
    }
    return Status::Ok();
  }

  Lease lease_;
  const RedisKeys keys_;
  const std::string run_id_;
  std::map<std::string, std::string> views_;  // view -> the run id its copy was taken from ("" none)
  std::map<std::string, ViewState> states_;
  bool committed_ = false;
  bool maybe_committed_ = false;
};

class RedisOnlineStore final : public OnlineStore {
 public:
  RedisOnlineStore(std::shared_ptr<ConnectionPool> pool, const std::string& project, std::string description)
      : pool_(std::move(pool)), keys_(project), description_(std::move(description)) {}

  Result<std::unique_ptr<OnlineWriteRun>> BeginRun(const std::string& run_id) override {
    if (run_id.empty()) return Status::InvalidParameter("the online store run id is empty");
    return std::unique_ptr<OnlineWriteRun>(new RedisWriteRun(pool_, keys_, run_id));
  }

  Status Read(const std::string& view, std::span<const std::string> keys, std::vector<OnlineValue>& out) override {
    out.assign(keys.size(), OnlineValue{});
    if (keys.empty()) return Status::Ok();
    Lease lease(pool_);
    const std::string current = keys_.Current();
    std::string run_id = RunHint(view);
    for (int attempt = 0; attempt < kMaxReadAttempts; ++attempt) {
      if (run_id.empty()) {
        LATHE_ASSIGN_OR_RETURN(Reply pointer, lease.Run({"HGET", current, view}));
        if (pointer->type == REDIS_REPLY_NIL) return Status::Ok();  // never committed: nothing found
        LATHE_RETURN_IF_ERROR(ExpectType(lease, pointer.get(), REDIS_REPLY_STRING, "HGET " + current));
        LATHE_ASSIGN_OR_RETURN(StoredState stored, DecodeState(view, ReplyText(pointer.get())));
        run_id = stored.state.run_id;
      }
      // The pointer is read again in the same transaction: the values are the pointed run's only
      // if it still points there.
      const std::string hash = keys_.Run(run_id, view);
      std::vector<Command> commands = {{"MULTI"}, {"HGET", current, view}};
      for (size_t begin = 0; begin < keys.size(); begin += kBatch) {
        Command get = {"HMGET", hash};
        get.insert(get.end(), keys.begin() + begin, keys.begin() + std::min(begin + kBatch, keys.size()));
        commands.push_back(std::move(get));
      }
      commands.push_back({"EXEC"});
      std::vector<Reply> replies;
      LATHE_RETURN_IF_ERROR(lease.Pipeline(commands, replies));
      const redisReply* exec = replies.back().get();
      LATHE_RETURN_IF_ERROR(ExpectType(lease, exec, REDIS_REPLY_ARRAY, "MULTI/EXEC HMGET " + hash));
      if (exec->elements != commands.size() - 2) {
        return Status::Internal(fmt::format("Redis at {}: EXEC answered {} replies for {} commands", lease.Where(),
                                            exec->elements, commands.size() - 2));
      }
      const redisReply* pointer = exec->element[0];
      if (pointer->type == REDIS_REPLY_NIL) {
        SetRunHint(view, "");
        return Status::Ok();
      }
      LATHE_RETURN_IF_ERROR(ExpectType(lease, pointer, REDIS_REPLY_STRING, "HGET " + current));
      LATHE_ASSIGN_OR_RETURN(StoredState stored, DecodeState(view, ReplyText(pointer)));
      if (stored.state.run_id != run_id) {
        run_id = stored.state.run_id;  // a commit moved it: read the new run
        continue;
      }
      SetRunHint(view, run_id);
      size_t i = 0;
      for (size_t e = 1; e < exec->elements; ++e) {
        const redisReply* values = exec->element[e];
        LATHE_RETURN_IF_ERROR(ExpectType(lease, values, REDIS_REPLY_ARRAY, "HMGET " + hash));
        for (size_t j = 0; j < values->elements && i < keys.size(); ++j, ++i) {
          const redisReply* value = values->element[j];
          if (value->type != REDIS_REPLY_STRING) continue;
          OnlineValue& answer = out[i];
          if (!DecodeValue(value->str, value->len, answer.event_micros, &answer.payload)) {
            return Status::Internal(fmt::format("Redis at {}: the value of '{}' in {} is not valid", lease.Where(),
                                                keys[i], hash));
          }
          answer.found = true;
        }
      }
      if (i != keys.size()) {
        return Status::Internal(fmt::format("Redis at {}: HMGET {} answered {} values for {} keys", lease.Where(),
                                            hash, i, keys.size()));
      }
      return Status::Ok();
    }
    return Status::Unavailable(fmt::format(
        "view '{}' was committed {} times during one read from Redis at {}; try again", view, kMaxReadAttempts,
        lease.Where()));
  }

  Result<std::optional<ViewState>> GetViewState(const std::string& view) override {
    Lease lease(pool_);
    const std::string current = keys_.Current();
    LATHE_ASSIGN_OR_RETURN(Reply pointer, lease.Run({"HGET", current, view}));
    if (pointer->type == REDIS_REPLY_NIL) return std::optional<ViewState>();
    LATHE_RETURN_IF_ERROR(ExpectType(lease, pointer.get(), REDIS_REPLY_STRING, "HGET " + current));
    LATHE_ASSIGN_OR_RETURN(StoredState stored, DecodeState(view, ReplyText(pointer.get())));
    return std::optional<ViewState>(std::move(stored.state));
  }

  std::string Describe() const override { return description_; }

 private:
  // The run a view pointed to at the last read: saves the pointer round trip. It is only a guess,
  // checked inside every read's transaction.
  std::string RunHint(const std::string& view) {
    std::lock_guard lock(hint_mutex_);
    auto it = run_hints_.find(view);
    return it == run_hints_.end() ? std::string() : it->second;
  }
  void SetRunHint(const std::string& view, const std::string& run_id) {
    std::lock_guard lock(hint_mutex_);
    run_hints_[view] = run_id;
  }

  std::shared_ptr<ConnectionPool> pool_;
  const RedisKeys keys_;
  const std::string description_;
  std::mutex hint_mutex_;
  std::unordered_map<std::string, std::string> run_hints_;
};

// "redis_version:7.0.15" from INFO server, as {major, minor}.
std::pair<int, int> RedisVersion(const std::string& info) {
  static constexpr std::string_view kField = "redis_version:";
  size_t at = info.find(kField);
  if (at == std::string::npos) return {0, 0};
  const char* begin = info.data() + at + kField.size();
  const char* end = info.data() + info.size();
  int major = 0;
  int minor = 0;
  auto parsed = std::from_chars(begin, end, major);
  if (parsed.ec == std::errc() && parsed.ptr < end && *parsed.ptr == '.') {
    (void)std::from_chars(parsed.ptr + 1, end, minor);
  }
  return {major, minor};
}

}  // namespace

Result<std::unique_ptr<OnlineStore>> OpenRedisOnlineStore(const std::string& host, int port, int database,
                                                          const std::string& project) {
  if (host.empty()) return Status::InvalidParameter("the Redis host is empty");
  if (port <= 0 || port > 65535) return Status::InvalidParameter(fmt::format("invalid Redis port {}", port));
  if (database < 0) return Status::InvalidParameter(fmt::format("invalid Redis database {}", database));
  auto pool = std::make_shared<ConnectionPool>(host, port, database);
  {
    // Fail at open, with a clear message, rather than on the first materialisation or request.
    Lease lease(pool);
    LATHE_ASSIGN_OR_RETURN(Reply info, lease.Run({"INFO", "server"}));
    if (info->type == REDIS_REPLY_ERROR) return ReplyError(lease, info.get(), "INFO server");
    if (info->type == REDIS_REPLY_STRING) {
      auto [major, minor] = RedisVersion(ReplyText(info.get()));
      if (major != 0 && (major < 6 || (major == 6 && minor < 2))) {
        return Status::InvalidState(fmt::format(
            "Redis at {} is version {}.{}; the online store needs Redis >= 6.2 (COPY)", lease.Where(), major, minor));
      }
    }
  }
  std::string description = fmt::format("redis://{}:{}/{}", host, port, database);
  return std::unique_ptr<OnlineStore>(new RedisOnlineStore(std::move(pool), project, std::move(description)));
}

}  // namespace lathe::features
