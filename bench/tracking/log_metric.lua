-- wrk script: POST runs/log-metric, one point per request, steps and timestamps unique per request and thread.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local run_id = os.getenv("BENCH_RUN_ID")
local path = os.getenv("BENCH_PATH") or "/api/2.0/mlflow/runs/log-metric"
local headers = {["Content-Type"] = "application/json"}
local counter = 0

request = function()
  counter = counter + 1
  local sequence = (tid or 0) * 100000000 + counter
  local body = '{"run_id":"' .. run_id .. '","key":"loss","value":' .. (counter * 0.25) ..
      ',"timestamp":' .. (1700000000000 + sequence) .. ',"step":' .. sequence .. '}'
  return wrk.format("POST", path, headers, body)
end
