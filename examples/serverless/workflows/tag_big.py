"""tag-big: tags a measured text as big; keeps what measure computed.

Input: measure's output. Output: that object plus {"tag": "big", "taggedBy": ...}.
"""


def handler(event, context):
    out = dict(event)
    out["tag"] = "big"
    out["taggedBy"] = context.function_name
    out["sawValue"] = event.get("value")  # the value measure produced, as received here
    return out
