-- wrk: POST one outbound event of about SIZE bytes (env, default 1024) to /v1/events.
-- No id: the sidecar generates one per event, so nothing is deduplicated.
local size = tonumber(os.getenv("SIZE") or "1024")
local filler = string.rep("x", math.max(0, size - 60))
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"type":"bench.event","payload":{"pad":"' .. filler .. '"}}'
local non202 = 0
function response(status)
  if status ~= 202 then non202 = non202 + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("non202=%d\n", non202))
end
