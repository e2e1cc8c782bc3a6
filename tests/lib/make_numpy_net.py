#!/usr/bin/python3
"""make_numpy_net.py DATA OUT — a network made in NumPy alone, not by
digitnet: 784 -> 64 (tanh) -> 10, its hidden layer a fixed random projection
and its output layer fitted by least squares to one-hot targets on the first
10000 training images (an "extreme learning machine"). Saves OUT/layers.K.
weight.npy and OUT/layers.K.bias.npy (float32, as export --npy does) and
prints the test accuracy of the float32 forward pass, a = f(a @ W.T + b)
with x = pixel / 255, as "accuracy: 0.xxxx" and "correct: N"."""
import gzip
import os
import sys

import numpy as np


def read_idx(data, name, offset):
    path = os.path.join(data, name)
    raw = open(path, "rb").read() if os.path.exists(path) else gzip.open(path + ".gz").read()
    return np.frombuffer(raw, np.uint8, offset=offset)


def forward(x, w0, b0, w1, b1):
    a = np.tanh(x @ w0.T + b0)
    return a @ w1.T + b1


def main():
    data, out = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(12345)
    train = read_idx(data, "train-images-idx3-ubyte", 16).reshape(-1, 784)[:10000].astype(np.float32) / np.float32(255)
    labels = read_idx(data, "train-labels-idx1-ubyte", 8)[:10000]
    w0 = (rng.standard_normal((64, 784)) * 0.1).astype(np.float32)
    b0 = (rng.standard_normal(64) * 0.1).astype(np.float32)
    hidden = np.tanh(train @ w0.T + b0).astype(np.float64)
    design = np.hstack([hidden, np.ones((len(hidden), 1))])
    targets = np.eye(10)[labels]
    solution = np.linalg.lstsq(design, targets, rcond=None)[0]  # (65, 10)
    w1 = solution[:64].T.astype(np.float32).copy()
    b1 = solution[64].astype(np.float32).copy()
    os.makedirs(out, exist_ok=True)
    for k, (w, b) in enumerate([(w0, b0), (w1, b1)]):
        np.save(os.path.join(out, f"layers.{k}.weight.npy"), w)
        np.save(os.path.join(out, f"layers.{k}.bias.npy"), b)
    test = read_idx(data, "t10k-images-idx3-ubyte", 16).reshape(-1, 784).astype(np.float32) / np.float32(255)
    test_labels = read_idx(data, "t10k-labels-idx1-ubyte", 8)
    correct = int((forward(test, w0, b0, w1, b1).argmax(1) == test_labels).sum())
    print(f"accuracy: {correct / len(test_labels):.4f}")
    print(f"correct: {correct}")


main()
