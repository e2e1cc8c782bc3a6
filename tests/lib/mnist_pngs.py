#!/usr/bin/python3
"""mnist_pngs.py IMAGES OUT COUNT [--scale K] [--rgba] [--raw] — the first COUNT
images of the IDX file IMAGES (raw or .gz) as request bodies for `digitnet serve`,
written to the folder OUT as NNNNN.png: 8-bit greyscale, 28x28 times K, white ink
on black as MNIST has them; --rgba writes what a browser canvas sends instead,
black ink on opaque white RGBA; --raw writes the 784 bytes themselves as
NNNNN.raw (the application/octet-stream body). Only the standard library
(zlib, struct), so the load test and the benchmark need nothing more."""
import gzip
import os
import struct
import sys
import zlib


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(pixels, scale, rgba):
    """pixels: 784 bytes, row-major 28x28, 0 = background, 255 = ink."""
    side = 28 * scale
    rows = []
    for y in range(side):
        row = pixels[(y // scale) * 28:(y // scale + 1) * 28]
        line = bytes(v for v in row for _ in range(scale))
        if rgba:
            line = b"".join(bytes((255 - v, 255 - v, 255 - v, 255)) for v in line)
        rows.append(b"\0" + line)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", side, side, 8, 6 if rgba else 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    path, out, count = argv[1], argv[2], int(argv[3])
    flags = argv[4:]
    scale = int(flags[flags.index("--scale") + 1]) if "--scale" in flags else 1
    rgba, raw = "--rgba" in flags, "--raw" in flags
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        magic, n, h, w = struct.unpack(">IIII", f.read(16))
        if magic != 0x803 or (h, w) != (28, 28) or n < count:
            sys.exit("mnist_pngs: %s is not an IDX file of at least %d 28x28 images" % (path, count))
        data = f.read(784 * count)
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        pixels = data[784 * i:784 * (i + 1)]
        name = os.path.join(out, "%05d.%s" % (i, "raw" if raw else "png"))
        with open(name, "wb") as f:
            f.write(pixels if raw else png(pixels, scale, rgba))


if __name__ == "__main__":
    main(sys.argv)
