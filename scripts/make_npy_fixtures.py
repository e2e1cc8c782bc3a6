#!/usr/bin/env python3
"""Writes the tiny .npy fixtures that tests/test_model_io.c reads.

They come from NumPy itself, so the test checks our reader against the real
writer rather than against our own idea of the format. The values here are
repeated in test_model_io.c; change both together.

Run with a Python that has NumPy (Debian: /usr/bin/python3 with python3-numpy):
    /usr/bin/python3 scripts/make_npy_fixtures.py [tests/fixtures/npy]
"""
import os
import sys

import numpy as np


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "npy")
    os.makedirs(out, exist_ok=True)
    f8 = np.array([[0.5, -1.25, 3.0], [1e-3, 2.5e10, -7.0]], dtype="<f8")
    f4 = np.array([1.5, -2.25, 0.1], dtype="<f4")
    u1 = np.array([[0, 7], [128, 255]], dtype="|u1")
    np.save(os.path.join(out, "f8_2x3.npy"), f8)
    np.save(os.path.join(out, "f4_3.npy"), f4)
    np.save(os.path.join(out, "u1_2x2.npy"), u1)
    # The same 2×3 float64 in format 2.0 (u32 header length), which NumPy
    # only writes on request.
    with open(os.path.join(out, "f8_2x3_v2.npy"), "wb") as f:
        np.lib.format.write_array(f, f8, version=(2, 0))
    for name in sorted(os.listdir(out)):
        print(name, os.path.getsize(os.path.join(out, name)), "bytes")


if __name__ == "__main__":
    main()
