#!/usr/bin/env python3
"""Accept → delivered latency of outbound events at a steady rate.

Posts RATE events/s for SECONDS to the outbound listener (URL) and runs the endpoint
(PORT) they are delivered to; for each event, the time from the sidecar's 202 to the
endpoint receiving it. Prints p50/p90/p99/max in ms.

    outbound_latency.py URL PORT RATE SECONDS
"""
import http.server, json, sys, threading, time, urllib.request

url, port, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
accepted, delivered = {}, {}
lock = threading.Lock()


class Endpoint(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        now = time.monotonic()
        with lock:
            delivered.setdefault(json.loads(body)["id"], now)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Endpoint)
threading.Thread(target=server.serve_forever, daemon=True).start()
interval, start, n = 1.0 / rate, time.monotonic(), 0
while time.monotonic() - start < seconds:
    event = json.dumps({"type": "bench.latency", "payload": {"n": n}, "id": f"lat-{start}-{n}"}).encode()
    req = urllib.request.Request(url + "/v1/events", data=event, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as response:
        assert response.status == 202
    accepted[f"lat-{start}-{n}"] = time.monotonic()
    n += 1
    time.sleep(max(0.0, start + n * interval - time.monotonic()))
deadline = time.monotonic() + 30
while len(delivered) < len(accepted) and time.monotonic() < deadline:
    time.sleep(0.05)
lat = sorted((delivered[i] - accepted[i]) * 1000 for i in accepted if i in delivered)
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"events={len(accepted)} delivered={len(lat)} p50_ms={pick(0.5):.1f} p90_ms={pick(0.9):.1f} p99_ms={pick(0.99):.1f} max_ms={lat[-1]:.1f}")
