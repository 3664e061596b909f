-- wrk script: POST a different pre-generated JSON body on every request, rotating over the
-- bodies of a file (one body per line), and print the figures load.py reads as one JSON line.
--   wrk -t1 -c8 -d5s -s rotate.lua http://127.0.0.1:PORT/v1/predict -- bodies.jsonl

local prepared = {}
local position = 1

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(args[1]) do
    prepared[#prepared + 1] = wrk.format("POST", nil, headers, line)
  end
  if #prepared == 0 then
    error("no request bodies in " .. args[1])
  end
end

function request()
  local next_request = prepared[position]
  position = position % #prepared + 1
  return next_request
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'tether-serving-result {"requests": %.0f, "duration_us": %.0f, "p50_us": %.1f, ' ..
    '"p99_us": %.1f, "errors": {"connect": %.0f, "read": %.0f, "write": %.0f, ' ..
    '"status": %.0f, "timeout": %.0f}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
