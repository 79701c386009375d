"""noop: returns its input with a counter bumped ({"i": i + 1}); for the
executor overhead benchmark (a chain of noop Tasks: the per-step cost is the
run's duration minus the functions' own time)."""


def handler(event, context):
    out = dict(event)
    try:
        out["i"] = int(event.get("i", 0)) + 1
    except (TypeError, ValueError):
        out["i"] = 1
    return out
