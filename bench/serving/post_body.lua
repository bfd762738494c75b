-- wrk script for the serving benchmark: POSTs the JSON body in the file named by BENCH_BODY and
-- prints one machine-readable line with the request count, error counts and latency percentiles.
-- Without BENCH_BODY it sends GETs (the transport floor: /ping).
local body_path = os.getenv("BENCH_BODY") or ""
if body_path ~= "" then
  local file = assert(io.open(body_path, "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  wrk.headers["Content-Type"] = "application/json"
  file:close()
end

-- wrk counts answers with a status >= 400 as status errors.
function done(summary, latency, requests)
  io.write(string.format(
      "BENCH_RESULT requests=%d duration_us=%d status_errors=%d socket_errors=%d " ..
      "p50_us=%d p90_us=%d p99_us=%d\n",
      summary.requests, summary.duration, summary.errors.status,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
