"""hello, second version (the update demo): visibly different output.

mkctl fn update hello -f examples/serverless/hello_v2.py
"""


def handler(event, context):
    name = event.get("name") or "world"
    text = event.get("text") or ""
    return {
        "greeting": "HELLO %s (v2)" % name.upper(),
        "reversed": " ".join(reversed(text.split())),
        "version": 2,
        "function": context.function_name,
        "revision": context.revision,
    }
