-- wrk script: POST runs/log-batch with BENCH_BATCH metrics, steps unique per request and thread.
local run_id = os.getenv("BENCH_RUN_ID")
local batch = tonumber(os.getenv("BENCH_BATCH") or "1000")
local counter = 0
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

request = function()
  counter = counter + 1
  local base = ((tid or 0) * 100000000 + counter) * batch
  local parts = {}
  for i = 1, batch do
    parts[i] = '{"key":"m' .. (i % 10) .. '","value":' .. (i * 0.5) ..
        ',"timestamp":1700000000000,"step":' .. (base + i) .. '}'
  end
  local body = '{"run_id":"' .. run_id .. '","metrics":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/api/2.0/mlflow/runs/log-batch", {["Content-Type"] = "application/json"}, body)
end
