-- wrk script: the bench-peers POST (fixed body, fixed X-Hub-Signature-256) plus a fresh
-- X-GitHub-Delivery per request, for routes whose replay guard is on (it refuses a GitHub
-- delivery without one). Prints the same RESULT line as bench-peers' post.lua.
-- env: BODY_FILE, SIG; optional PATHS="/a /b" (requests rotate over them; default: the URL's)
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()
local sig = os.getenv("SIG")
local paths = {}
for p in string.gmatch(os.getenv("PATHS") or "", "%S+") do paths[#paths + 1] = p end

local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end

local n = 0
function request()
  n = n + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = sig,
    ["X-GitHub-Delivery"] = string.format("bench-%d-%d-%d", id, os.time(), n),
  }
  local path = nil
  if #paths > 0 then path = paths[(n % #paths) + 1] end
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f requests=%d non2xx=%d sockerr=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
