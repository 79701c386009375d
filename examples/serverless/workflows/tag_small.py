"""tag-small: tags a measured text as small; keeps what measure computed.

Input: measure's output. Output: that object plus {"tag": "small", "taggedBy": ...}.
"""


def handler(event, context):
    out = dict(event)
    out["tag"] = "small"
    out["taggedBy"] = context.function_name
    out["sawValue"] = event.get("value")
    return out
