#!/usr/bin/env python3
"""live_events.py URL [SECONDS] — reads GET URL/api/events (server-sent events)
of a training run served with --serve until `event: done`, then prints one
JSON object: {"rows": [[...], ...], "done": {...}, "run": <GET /api/run>}.
Exits 1 when the stream ends without done or SECONDS (default 60) pass."""
import json
import sys
import urllib.request

url, seconds = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
rows, done, event = [], None, None
with urllib.request.urlopen(url + "api/events", timeout=seconds) as stream:
    if not stream.headers.get("Content-Type", "").startswith("text/event-stream"):
        sys.exit("live_events: /api/events is not text/event-stream: %s" % stream.headers.get("Content-Type"))
    for raw in stream:
        line = raw.decode("utf-8").rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
            if event == "row":
                rows.append(data)
            elif event == "done":
                done = data
                break
if done is None:
    sys.exit("live_events: the stream ended without `event: done` after %d rows" % len(rows))
with urllib.request.urlopen(url + "api/run", timeout=10) as r:
    run = json.load(r)
print(json.dumps({"rows": rows, "done": done, "run": run}))
