#!/usr/bin/env python3
"""An app that sends its events through its hookguard sidecar (examples/outbound.toml).

It posts each event once and is done: hookguard answers 202 when the event is stored,
then signs and delivers it to every subscribed endpoint, with retries. Posting the same
`id` again is safe (acknowledged, not delivered twice), so a retry after a timeout is too.

    python3 examples/outbound_app.py     # HOOKGUARD_OUTBOUND_URL=http://127.0.0.1:8081
"""
import json
import os
import sys
import urllib.error
import urllib.request

SIDECAR = os.environ.get("HOOKGUARD_OUTBOUND_URL", "http://127.0.0.1:8081")


def send_event(event_type, payload, event_id=None, key=None):
    event = {"type": event_type, "payload": payload}
    if event_id:
        event["id"] = event_id
    if key:
        event["key"] = key  # same key: delivered in order, one at a time, per endpoint
    request = urllib.request.Request(
        SIDECAR + "/v1/events",
        data=json.dumps(event).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as refused:  # 400 bad event, 422 no subscription, 503
        return refused.code, json.load(refused)


if __name__ == "__main__":
    job = 42
    for event_type in ("job.started", "job.completed"):
        status, answer = send_event(event_type, {"job": job}, f"{event_type}-{job}", f"job-{job}")
        print(status, json.dumps(answer))
        if status != 202:
            sys.exit(1)
