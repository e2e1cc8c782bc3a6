#!/usr/bin/python3
"""The PTA epoch at n = 60000 in numpy, as peers would write it, for bench/run.sh.

    /usr/bin/python3 bench/pta_numpy.py DATA_DIR [REPS]

Two versions of exactly the same algorithm (count pass, then the per-sample update
pass in order), both starting from the W formula of scripts/pta_reference.py:
  homework: float64, x / 255, per-sample W @ x for the count, np.outer update;
  best:     float32, count pass as one matrix product, update pass touching only
            the rows whose step output disagrees with the target.
Epoch 1 is a warm-up; the next REPS epochs are timed one by one.
Prints "ROW\tworkload\timplementation\tmedian\tmin\tmax\tnote" lines.
"""
import resource
import sys
import time

import numpy as np

N = 60000


def initial_w():
    idx = np.arange(10 * 784, dtype=np.uint64)
    return ((idx * np.uint64(2654435761)) % np.uint64(2**32)).astype(np.float64).reshape(10, 784) / 2.0**32


def epoch_homework(W, X, y, D, eta=1.0):
    errors = 0
    for i in range(N):
        if np.argmax(W @ X[i]) != y[i]:
            errors += 1
    for i in range(N):
        u = (W @ X[i] > 0).astype(W.dtype)
        W += eta * np.outer(D[i] - u, X[i])
    return errors


def epoch_best(W, X, y, D, eta=1.0):
    errors = int(np.count_nonzero(np.argmax(X @ W.T, axis=1) != y))
    for i in range(N):
        x = X[i]
        diff = D[i] - (W @ x > 0)
        rows = np.nonzero(diff)[0]
        if rows.size:
            W[rows] += (eta * diff[rows, None]) * x
    return errors


def run(name, epoch, dtype, X, y, reps):
    W = initial_w().astype(dtype)
    D = np.eye(10, dtype=dtype)[y]
    epoch(W, X, y, D)  # warm-up
    times, errors = [], 0
    for _ in range(reps):
        t0 = time.perf_counter()
        errors = epoch(W, X, y, D)
        times.append(time.perf_counter() - t0)
    times.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"ROW\tPTA epoch n=60000\tnumpy {name}\t{times[len(times) // 2]:.6f}\t{times[0]:.6f}\t{times[-1]:.6f}"
          f"\tnumpy {np.__version__}; errors at last epoch {errors}; peak RSS {rss} MiB", flush=True)


def main():
    d = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    raw = np.fromfile(f"{d}/train-images-idx3-ubyte", dtype=np.uint8, offset=16).reshape(60000, 784)[:N]
    y = np.fromfile(f"{d}/train-labels-idx1-ubyte", dtype=np.uint8, offset=8)[:N].astype(np.int64)
    run("best (float32)", epoch_best, np.float32, raw.astype(np.float32) / np.float32(255), y, reps)
    run("homework (float64)", epoch_homework, np.float64, raw.astype(np.float64) / 255.0, y, reps)


if __name__ == "__main__":
    main()
