"""stamp: records when it started, for triggers.

Prints one line "STAMP <time.time()> <type> <event> <name>" to its log
(mkctl fn logs stamp) and answers {"startedAt": <time.time()>, "event": ...}.
type is the trigger event's type (schedule, fileChange, objectChange) or
"direct"; name the file name of a fileChange event (else "-"). The trigger
latency benchmark compares startedAt with the time the file was written.
"""
import json
import time


def handler(event, context):
    started = time.time()
    kind = event.get("type", "direct")
    name = event.get("name") or "-"
    what = event.get("event") or "-"
    print("STAMP %.6f %s %s %s" % (started, kind, what, name), flush=True)
    return {"startedAt": started, "event": event, "function": context.function_name}
