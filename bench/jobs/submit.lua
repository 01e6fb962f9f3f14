-- wrk script for bench/jobs/run.sh: POST the same JSON body (a held job) on every request, over
-- keep-alive connections. Usage: wrk -s submit.lua -H 'Authorization: …' URL -- BODY_FILE
-- Counts answers per HTTP status so that run.sh can check every submission was accepted.
local counts = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"), "cannot open the body file " .. tostring(args[1]))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for k, v in pairs(s or {}) do all[k] = (all[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do table.insert(parts, string.format('"%d":%d', k, v)) end
  io.write("STATUSES {" .. table.concat(parts, ",") .. "}\n")
end
