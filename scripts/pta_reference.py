#!/usr/bin/python3
"""Independent float64 reference of the multicategory PTA, written straight from
the definition with numpy, to produce tests/fixtures/pta_reference.txt.

    /usr/bin/python3 scripts/pta_reference.py data/mnist > tests/fixtures/pta_reference.txt

Initial W: W[j, k] = ((j*784 + k) * 2654435761 mod 2^32) / 2^32, exact in float64,
so the C test builds the same W without a binary fixture. For each case the fixture
holds the count-pass errors of every epoch, and the test errors (first 1000 test
images) of the final W and of the averaged W, the average taken naively as the
sum of W after every step divided by the number of steps.
"""
import sys
import numpy as np

def load(path, offset, shape):
    return np.fromfile(path, dtype=np.uint8, offset=offset).reshape(shape)

def initial_w():
    idx = np.arange(10 * 784, dtype=np.uint64)
    return ((idx * np.uint64(2654435761)) % np.uint64(2**32)).astype(np.float64).reshape(10, 784) / 2.0**32

def pta(X, y, n, eta, eps, max_epochs):
    W = initial_w()
    D = np.eye(10)[y[:n]]
    W_sum, steps, curve = np.zeros_like(W), 0, []
    while len(curve) < max_epochs:
        errors = int(np.sum(np.argmax(X[:n] @ W.T, axis=1) != y[:n]))
        curve.append(errors)
        for i in range(n):
            u = (W @ X[i] > 0).astype(np.float64)
            W += eta * np.outer(D[i] - u, X[i])
            W_sum += W
            steps += 1
        if errors / n <= eps:
            break
    return W, W_sum / steps, curve

def main():
    d = sys.argv[1]
    X = load(f"{d}/train-images-idx3-ubyte", 16, (60000, 784)).astype(np.float64) / 255.0
    y = load(f"{d}/train-labels-idx1-ubyte", 8, (60000,)).astype(np.int64)
    Xt = load(f"{d}/t10k-images-idx3-ubyte", 16, (10000, 784))[:1000].astype(np.float64) / 255.0
    yt = load(f"{d}/t10k-labels-idx1-ubyte", 8, (10000,))[:1000].astype(np.int64)
    print("# n eta epsilon max_epochs | test_errors_W test_errors_average | errors per epoch")
    for n, eta, eps, max_epochs in [(100, 1.0, 0.0, 100), (500, 1.0, 0.0, 100), (500, 0.37, 0.0, 100),
                                    (2000, 1.0, 0.05, 8)]:
        W, W_avg, curve = pta(X, y, n, eta, eps, max_epochs)
        test_w = int(np.sum(np.argmax(Xt @ W.T, axis=1) != yt))
        test_avg = int(np.sum(np.argmax(Xt @ W_avg.T, axis=1) != yt))
        print(n, eta, eps, max_epochs, "|", test_w, test_avg, "|", " ".join(map(str, curve)))

if __name__ == "__main__":
    main()
