-- wrk script: POST runs/log-batch with BENCH_BATCH metrics per request, steps and timestamps unique per request and thread.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local run_id = os.getenv("BENCH_RUN_ID")
local path = os.getenv("BENCH_PATH") or "/api/2.0/mlflow/runs/log-batch"
local batch = tonumber(os.getenv("BENCH_BATCH") or "1000")
local headers = {["Content-Type"] = "application/json"}
local counter = 0

-- The part of each metric that never changes, built once: the body is rebuilt for every request and
-- wrk shares the two cores with the server.
local prefixes = {}
for i = 1, batch do
  prefixes[i] = '{"key":"m' .. (i % 10) .. '","value":' .. (i * 0.5) .. ',"timestamp":'
end

request = function()
  counter = counter + 1
  -- Below 2^53 and printed as integers by Lua's "%.14g" as long as they stay under 1e14.
  local sequence = (tid or 0) * 100000000 + counter
  local timestamp = 1700000000000 + sequence
  local base = sequence * batch
  local parts = {}
  for i = 1, batch do
    parts[i] = prefixes[i] .. timestamp .. ',"step":' .. (base + i) .. '}'
  end
  local body = '{"run_id":"' .. run_id .. '","metrics":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", path, headers, body)
end
