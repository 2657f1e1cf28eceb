-- wrk script for bench/soak.sh: one kind of request per wrk process, every answer's status
-- checked against the kind's expected set (anything else is counted as unexpected).
-- env: KIND = valid | forged | oversized | limited; BODY_FILE, SIG (valid signature);
--      BIG_FILE (body over the /small route's limit); DELAY_MS (pause per connection).
local kind = os.getenv("KIND")
local function read(path)
  local f = assert(io.open(path, "rb")); local d = f:read("*a"); f:close(); return d
end
local body = read(os.getenv("BODY_FILE"))
local sig = os.getenv("SIG")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local expected = ({
  valid = { [200] = true },
  forged = { [401] = true },
  oversized = { [413] = true },
  limited = { [200] = true, [429] = true },
})[kind]
local path = ({ valid = "/valid", forged = "/valid", oversized = "/small", limited = "/limited" })[kind]
if kind == "oversized" then body = read(os.getenv("BIG_FILE")) end
if kind == "forged" then sig = "sha256=" .. string.rep("0", 64) end

local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end

-- Globals, so that done() can read them from each thread.
n, unexpected, seen = 0, 0, {}
function request()
  n = n + 1
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = sig,
    ["X-GitHub-Delivery"] = string.format("soak-%s-%d-%d-%d", kind, id, os.time(), n),
  }, body)
end

function response(status, headers, body)
  if not expected[status] then
    unexpected = unexpected + 1
    seen[status] = (seen[status] or 0) + 1
  end
end

function delay()
  return delay_ms
end

function done(summary, latency, requests)
  local bad, statuses = 0, {}
  for _, t in ipairs(threads) do
    bad = bad + t:get("unexpected")
    local s = t:get("seen")
    for k, v in pairs(s) do statuses[#statuses + 1] = k .. "x" .. v end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT kind=%s rps=%.0f p99_ms=%.3f requests=%d unexpected=%d [%s] sockerr=%d\n",
    kind, summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
    summary.requests, bad, table.concat(statuses, " "),
    e.connect + e.read + e.write + e.timeout))
end
