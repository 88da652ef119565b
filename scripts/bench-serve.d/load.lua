-- wrk load for one MCP request (or a plain GET when the body file is "-"):
--   wrk -s load.lua URL -- BODY_FILE EXPECT
-- A response is bad unless it is HTTP 200, contains EXPECT and is not a tool error.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  expect = args[2] or ""
  bad = 0
  if args[1] ~= nil and args[1] ~= "-" then
    local f = assert(io.open(args[1], "r"))
    wrk.body = f:read("*a")
    f:close()
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Accept"] = "application/json, text/event-stream"
    wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
  end
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, expect, 1, true) or string.find(body, '"isError":true', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT requests=%d bad=%d errors=%d p99_us=%d\n", summary.requests, total_bad, errors, latency:percentile(99)))
end
