#!/usr/bin/python3
"""mnist_subset.py SRC DST NTRAIN NTEST — the first NTRAIN training and NTEST
test samples of the MNIST folder SRC as a new raw IDX folder DST, so the
end-to-end tests that run many times (kill loop, Valgrind, ASan) load a few
hundred kilobytes instead of 55 MB. Reads raw or .gz files."""
import gzip
import os
import struct
import sys


def open_idx(folder, split, what, idx):
    for name in ("%s-%s-%s-ubyte" % (split, what, idx), "%s-%s.%s-ubyte" % (split, what, idx)):
        for suffix, opener in (("", open), (".gz", gzip.open)):
            path = os.path.join(folder, name + suffix)
            if os.path.exists(path):
                return opener(path, "rb")
    sys.exit("mnist_subset: no %s %s file in %s" % (split, what, folder))


def copy(src, dst, split, what, idx, count):
    with open_idx(src, split, what, idx) as f:
        ndims = 3 if what == "images" else 1
        header = f.read(4 + 4 * ndims)
        dims = struct.unpack(">%dI" % ndims, header[4:])
        item = 784 if what == "images" else 1
        if dims[0] < count:
            sys.exit("mnist_subset: %s %s has only %d samples" % (split, what, dims[0]))
        body = f.read(count * item)
    with open(os.path.join(dst, "%s-%s-%s-ubyte" % (split, what, idx)), "wb") as out:
        out.write(header[:4] + struct.pack(">I", count) + header[8:] + body)


def main():
    src, dst, ntrain, ntest = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(dst, exist_ok=True)
    for split, count in (("train", ntrain), ("t10k", ntest)):
        copy(src, dst, split, "images", "idx3", count)
        copy(src, dst, split, "labels", "idx1", count)


if __name__ == "__main__":
    main()
