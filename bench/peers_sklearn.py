#!/usr/bin/python3
"""scikit-learn peers for bench/run.sh.

    /usr/bin/python3 bench/peers_sklearn.py DATA_DIR [REPS]

PTA workload: sklearn.linear_model.Perceptron, one epoch over the 60000 training images
(max_iter=1, no shuffling, no intercept, eta0=1: ten one-vs-rest perceptrons updated
sample by sample in order, the same work as one PTA update pass; sklearn adds no count pass).
MLP workload: sklearn.neural_network.MLPClassifier 784-300-100-10 ReLU, SGD momentum 0.9,
batch 64, one epoch.
Prints "ROW\tworkload\timplementation\tmedian\tmin\tmax\tnote" lines.
"""
import resource
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Perceptron
from sklearn.neural_network import MLPClassifier


def timed(fit, reps):
    fit()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fit()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], times[0], times[-1]


def row(workload, name, t, note):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"ROW\t{workload}\t{name}\t{t[0]:.6f}\t{t[1]:.6f}\t{t[2]:.6f}\t{note}; peak RSS {rss} MiB", flush=True)


def main():
    d = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    X = np.fromfile(f"{d}/train-images-idx3-ubyte", dtype=np.uint8, offset=16).reshape(60000, 784)
    y = np.fromfile(f"{d}/train-labels-idx1-ubyte", dtype=np.uint8, offset=8).astype(np.int64)
    Xf = X.astype(np.float64) / 255.0
    warnings.simplefilter("ignore", ConvergenceWarning)

    def perceptron():
        Perceptron(max_iter=1, tol=None, shuffle=False, fit_intercept=False, eta0=1.0).fit(Xf, y)

    row("PTA epoch n=60000", "scikit-learn Perceptron (update pass only)", timed(perceptron, reps),
        f"sklearn {sklearn.__version__}, float64")

    Xs = X.astype(np.float32) / np.float32(255)

    def mlp():
        MLPClassifier(hidden_layer_sizes=(300, 100), activation="relu", solver="sgd", batch_size=64,
                      learning_rate_init=0.05, momentum=0.9, max_iter=1, shuffle=True, random_state=1).fit(Xs, y)

    row("MLP 784-300-100-10 epoch, batch 64", "scikit-learn MLPClassifier", timed(mlp, max(1, min(reps, 3))),
        f"sklearn {sklearn.__version__}, sgd momentum 0.9")


if __name__ == "__main__":
    main()
