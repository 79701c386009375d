"""slow: sleeps event["seconds"] (default 3, at most 60) and passes its input
on with {"slept": seconds} added to a list; the resume test kills the server
while this runs."""
import time


def handler(event, context):
    try:
        seconds = float(event.get("seconds", 3))
    except (TypeError, ValueError):
        seconds = 3.0
    seconds = max(0.0, min(seconds, 60.0))
    print("slow: sleeping %.1f s (request %s)" % (seconds, context.request_id), flush=True)
    time.sleep(seconds)
    out = dict(event)
    out["slept"] = list(event.get("slept") or []) + [seconds]
    return out
