#!/usr/bin/python3
"""Extracts the CRI runtime.v1 api.proto descriptor embedded in a containerd binary.

containerd embeds every registered protobuf file as a gzipped
FileDescriptorProto. This scans the binary for gzip members, decompresses
each, and keeps the one whose `package` (field 2) is `runtime.v1` and whose
`name` (field 1) is `api.proto`. The result is written as a FileDescriptorSet
(field 1 of the set, length-delimited), which protoc reads with
--descriptor_set_in. Python 3 standard library only; no upstream file is
stored in the repository (RECIPES.md "The CRI protocol definition").

usage: extract_cri_descriptor.py CONTAINERD_BINARY OUT.pb
exit 0 on success, 1 when no runtime.v1 descriptor is found.
"""
import os
import sys
import zlib


def read_varint(buf, pos):
    result = 0
    shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def top_level_fields(buf):
    """Yields (field, wire, value, raw) for each top-level field; raw is the
    field's complete encoding (key included). Raises ValueError on malformed input."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ValueError("field 0")
        value = None
        if wire == 0:
            _, pos = read_varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 2:
            n, pos = read_varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated")
            value = buf[pos:pos + n]
            pos += n
        elif wire == 5:
            pos += 4
        else:
            raise ValueError("wire type %d" % wire)
        if pos > len(buf):
            raise ValueError("truncated")
        yield field, wire, value, buf[start:pos]


def encode_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def find_descriptor(data, package=b"runtime.v1", name=b"api.proto"):
    pos = 0
    magic = b"\x1f\x8b\x08"
    while True:
        pos = data.find(magic, pos)
        if pos < 0:
            return None
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = d.decompress(data[pos:pos + (4 << 20)], 8 << 20)
        except zlib.error:
            pos += 1
            continue
        pos += 1
        if not raw or b"runtime.v1" not in raw:
            continue
        try:
            fields = {}
            for f, w, v, _ in top_level_fields(raw):
                if w == 2 and f in (1, 2) and f not in fields:
                    fields[f] = v
        except ValueError:
            continue
        if fields.get(1) == name and fields.get(2) == package:
            return raw


def drop_dependencies(fdp):
    """Removes `dependency` (field 3) entries: containerd's copy imports
    gogo.proto only for gogoproto options, which stay as unknown option fields
    and do not affect the generated code. Also drops public/weak dependency
    indexes (fields 10, 11) that would point at the removed imports."""
    out = bytearray()
    dropped = []
    for f, w, v, raw in top_level_fields(fdp):
        if f == 3 and w == 2:
            dropped.append(v.decode("utf-8", "replace"))
            continue
        if f in (10, 11):
            continue
        out += raw
    return bytes(out), dropped


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], "rb") as f:
        data = f.read()
    fdp = find_descriptor(data)
    if fdp is None:
        sys.stderr.write("no runtime.v1 api.proto descriptor in %s\n" % argv[1])
        return 1
    fdp, dropped = drop_dependencies(fdp)
    for d in dropped:
        sys.stderr.write("note: dropped import %s (options only)\n" % d)
    fds = b"\x0a" + encode_varint(len(fdp)) + fdp
    tmp = argv[2] + ".tmp"
    with open(tmp, "wb") as f:
        f.write(fds)
    os.replace(tmp, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
