#!/usr/bin/python3
"""Copies etcd v3's API .proto files, as Debian installs them, into a build tree
that protoc can compile without gogoproto or google.api.

golang-etcd-server-dev ships etcdserverpb/rpc.proto, mvccpb/kv.proto and
authpb/auth.proto under /usr/share/gocode/src/go.etcd.io/etcd/. They import
gogoproto/gogo.proto and google/api/annotations.proto and carry options from
both (Go code generation hints and the JSON gateway's HTTP routes), none of
which changes the wire format. This drops those imports and options and
writes each file to OUT_DIR/etcd/<same relative path>, the import path
rpc.proto uses. Python 3 standard library only; nothing upstream is stored
in the repository (RECIPES.md "etcd 3.4").

usage: strip_etcd_protos.py ETCD_SRC_DIR OUT_DIR
"""
import os
import re
import sys

FILES = ["etcdserver/etcdserverpb/rpc.proto", "mvcc/mvccpb/kv.proto", "auth/authpb/auth.proto"]
DROPPED_IMPORT = re.compile(r'^\s*import\s+"(gogoproto|google/api)/[^"]*";\s*$')
GOGO_FILE_OPTION = re.compile(r'^\s*option\s+\(gogoproto\.[^)]*\)\s*=\s*[^;]*;\s*$')
HTTP_OPTION = re.compile(r'option\s+\(google\.api\.http\)\s*=\s*\{')
FIELD_OPTION = re.compile(r'\[\s*\(gogoproto\.[^\]]*\]')


def strip(text):
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if DROPPED_IMPORT.match(line) or GOGO_FILE_OPTION.match(line):
            i += 1
            continue
        m = HTTP_OPTION.search(line)
        if m:
            # Skip to the end of the balanced { ... }; and the optional ';'.
            depth = 0
            rest = line[m.start():]
            while True:
                depth += rest.count("{") - rest.count("}")
                if depth <= 0:
                    break
                i += 1
                if i >= len(lines):
                    raise ValueError("unterminated google.api.http option")
                rest = lines[i]
            i += 1
            continue
        out.append(FIELD_OPTION.sub("", line))
        i += 1
    result = "\n".join(out) + "\n"
    if "gogoproto" in result or "google.api" in result:
        raise ValueError("an annotation survived stripping")
    return result


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    src, out = sys.argv[1], sys.argv[2]
    for rel in FILES:
        with open(os.path.join(src, rel), encoding="utf-8") as f:
            text = strip(f.read())
        dest = os.path.join(out, "etcd", rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = dest + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
