-- Shared by the wrk ingest scripts: a thread id per wrk thread, and one machine-readable result line.

-- Each wrk thread gets its own id, so steps built from (id, request counter) never repeat across threads.
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

-- The driver parses this line rather than wrk's human summary: it needs the error counts split by kind.
-- wrk counts answers with a status >= 400 as status errors; neither server redirects these POSTs.
function done(summary, latency, requests)
  io.write(string.format(
      "BENCH_RESULT requests=%d duration_us=%d status_errors=%d connect_errors=%d read_errors=%d " ..
      "write_errors=%d timeouts=%d p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
      summary.errors.read, summary.errors.write, summary.errors.timeout,
      latency:percentile(50), latency:percentile(99)))
end
