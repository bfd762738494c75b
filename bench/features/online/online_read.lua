-- wrk script for the online-read benchmark: each request POSTs a read of the features listed in
-- BENCH_FEATURES (comma-separated view:feature) for one customer drawn uniformly from
-- 1..BENCH_ENTITIES, so the store is read across its whole key range rather than one hot row.
-- Prints one machine-readable line with the request count, error counts and latency percentiles.
local features = os.getenv("BENCH_FEATURES") or ""
local entities = tonumber(os.getenv("BENCH_ENTITIES") or "")
assert(features ~= "" and entities, "BENCH_FEATURES and BENCH_ENTITIES must be set")

local quoted = {}
for name in string.gmatch(features, "[^,]+") do
  quoted[#quoted + 1] = '"' .. name .. '"'
end
local prefix = '{"features":[' .. table.concat(quoted, ",") .. '],"entities":{"customer_id":['
local headers = {["Content-Type"] = "application/json"}

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
  local body = prefix .. math.random(1, entities) .. "]}}"
  return wrk.format("POST", nil, headers, body)
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
