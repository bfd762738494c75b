-- wrk script: POST runs/log-metric, one point per request, steps unique per request and thread.
local run_id = os.getenv("BENCH_RUN_ID")
local counter = 0
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

request = function()
  counter = counter + 1
  local step = (tid or 0) * 100000000 + counter
  local body = '{"run_id":"' .. run_id .. '","key":"loss","value":' .. (counter * 0.25) ..
      ',"timestamp":1700000000000,"step":' .. step .. '}'
  return wrk.format("POST", "/api/2.0/mlflow/runs/log-metric", {["Content-Type"] = "application/json"}, body)
end
