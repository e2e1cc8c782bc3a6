#!/usr/bin/python3
"""check_safetensors.py FILE KIND [KEY] — exit 0 when FILE is a whole, valid
digitnet safetensors file of metadata kind KIND, else print why and exit 1.
With KEY, also prints the value of that metadata key.

An independent reader for the crash tests: it checks what a torn write
would break (the header length against the file size, the JSON, tensors
tiling the payload exactly, the payload CRC-32), without the library."""
import json
import struct
import sys
import zlib

SIZES = {"F32": 4, "F64": 8, "U8": 1}


def check(path, kind):
    data = open(path, "rb").read()
    if len(data) < 8:
        return "shorter than 8 bytes"
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        return "header length %d past the end (%d bytes)" % (n, len(data))
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    if meta.get("kind") != kind:
        return "kind %r, expected %r" % (meta.get("kind"), kind)
    payload = data[8 + n:]
    spans = []
    for name, t in header.items():
        count = 1
        for d in t["shape"]:
            count *= d
        begin, end = t["data_offsets"]
        if end - begin != count * SIZES[t["dtype"]]:
            return "tensor %s: offsets do not match its shape" % name
        spans.append((begin, end))
    at = 0
    for begin, end in sorted(spans):
        if begin != at:
            return "tensors do not tile the payload"
        at = end
    if at != len(payload):
        return "payload is %d bytes, tensors cover %d" % (len(payload), at)
    if "%08x" % (zlib.crc32(payload) & 0xFFFFFFFF) != meta.get("payload_crc32"):
        return "payload CRC-32 mismatch"
    if len(sys.argv) > 3:
        print(meta.get(sys.argv[3], ""))
    return None


def main():
    try:
        why = check(sys.argv[1], sys.argv[2])
    except (ValueError, KeyError, TypeError) as e:
        why = "unreadable: %s" % e
    if why:
        print("%s: %s" % (sys.argv[1], why))
        sys.exit(1)


if __name__ == "__main__":
    main()
