// The prediction log: every served row appended in the background, in batches, to newline-delimited
// JSON segment files that DuckDB reads in place. Several server processes may write to one data
// directory at once without a lock, because each process writes only to files it created.
//
// Layout: <root>/<deployment>/<YYYYMMDDTHH>-<hostname>-<pid>-<seq>.jsonl, the hour (UTC) being that
// of the rows' timestamps; files are append-only, and a flush adds whole lines (one write() per
// MiB, so usually one) and then fdatasync()s. One flat JSON object per row: prediction_id,
// request_id, deployment, model, model_version, timestamp_ms (integer), latency_ms; then each input
// under its name (input_<name> when the name is a meta key or an output's key) and each output as
// output_<name>. A value is a scalar, or for a tensor with more than one element per row a flat
// JSON array; NaN, infinities and null BYTES are null.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "monitoring/prediction_event.h"

namespace lathe::monitoring {

struct DeploymentLogPolicy {
  // The fraction of rows kept, in [0, 1]. A row is kept when a hash of its prediction id falls
  // under it, so that reruns and other processes keep the same rows.
  double sampling = 1.0;
  // Segments whose hour ended more than this before now are deleted; > 0.
  int64_t retention_ms = 30LL * 24 * 3600 * 1000;
  // Column as written (the input's key, or output_<name>) -> "hash" or "drop", applied before the
  // row reaches disk. "hash" writes the lowercase hex SHA-256 of salt + the value's text (a string
  // itself, a number or an array as its JSON text); nulls stay null.
  std::map<std::string, std::string> sensitive;
};

struct PredictionLogOptions {
  std::filesystem::path root;        // created when missing; must not contain *, ? or [ (read as globs)
  int64_t flush_interval_ms = 1000;  // the most a crash may lose; 1 ms to one day
  int64_t retention_every_ms = 5 * 60 * 1000;  // how often the writer applies retention itself; 0: never
  size_t queue_rows = 100000;        // rows waiting for the writer; beyond it Append drops; > 0
  std::string salt;                  // for hashed columns; required when any policy hashes
  std::map<std::string, DeploymentLogPolicy> policies;  // by deployment name
  DeploymentLogPolicy default_policy;                   // for deployments not in `policies`
};

class PredictionLog {
 public:
  // Validates the options, creates the root and starts the background writer.
  static Result<std::unique_ptr<PredictionLog>> Open(PredictionLogOptions options);
  // Writes what is queued, durably, and stops the writer. No other call may run concurrently.
  ~PredictionLog();
  PredictionLog(const PredictionLog&) = delete;
  PredictionLog& operator=(const PredictionLog&) = delete;

  // Samples the event's rows and queues the kept ones; thread-safe and never waits for I/O. Returns
  // false, counting the rows, when the queue cannot take them all (dropped_rows) or the event is
  // malformed: a deployment name unsafe for a path, a tensor whose rows or element count do not
  // match prediction_ids, a timestamp outside years 1970..9999 (invalid_rows).
  bool Append(PredictionEvent&& event);

  // Returns once everything queued before the call is on disk and synced; the error of a failed
  // write or sync since the call (those rows are counted in write_errors and not retried).
  Status Flush();

  // Replaces the deployment's policy (thread-safe): its sampling applies to rows appended from now
  // on, its sensitive columns to rows written from now on (the next flush).
  Status SetPolicy(const std::string& deployment, DeploymentLogPolicy policy);

  // Every row given to Append ends in exactly one of logged, dropped, sampled_out, invalid or
  // write_errors (or is still queued).
  struct Stats {
    uint64_t logged_rows = 0;   // on disk and synced
    uint64_t dropped_rows = 0;  // refused because the queue was full
    uint64_t sampled_out_rows = 0;
    uint64_t invalid_rows = 0;  // refused as malformed (see Append), or with duplicate column keys
    uint64_t write_errors = 0;  // rows lost to a failed write() or fdatasync()
    uint64_t queued_rows = 0;   // appended, not yet written (or failed)
  };
  Stats stats() const;

  // Deletes the segments, of every deployment under the root (whichever process wrote them), whose
  // hour ended at or before now_ms - that deployment's retention. The writer calls it every
  // retention_every_ms. Returns the first failure after trying every file.
  Status ApplyRetention(int64_t now_ms);

 private:
  struct Impl;
  explicit PredictionLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A parenthesised DuckDB query over one deployment's rows with timestamp_ms in [from_ms, to_ms),
// usable wherever a table name is. Only the hours overlapping the range are read (one glob per
// hour, <hour>-*.jsonl). Its columns are those of the rows, typed now by reading them all once (in
// a DuckDB of its own): meta columns always as VARCHAR, timestamp_ms BIGINT and latency_ms DOUBLE;
// strings stay VARCHAR, where DuckDB would guess UUID, DATE or TIMESTAMP from their text. A torn
// last line of a crashed writer reads as a row of nulls, which the range filter drops. With no
// segment in range, or from_ms >= to_ms, a relation of the meta columns and no rows.
Result<std::string> PredictionLogSql(const std::filesystem::path& root, const std::string& deployment, int64_t from_ms,
                                     int64_t to_ms);

// Writes the deployment's rows in [from_ms, to_ms) to `out_path`, Parquet or CSV by its extension,
// through a temporary file renamed into place; returns the number of rows.
Result<int64_t> ExportPredictionLog(const std::filesystem::path& root, const std::string& deployment, int64_t from_ms,
                                    int64_t to_ms, const std::string& out_path);

}  // namespace lathe::monitoring
