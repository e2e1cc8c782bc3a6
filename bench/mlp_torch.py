#!/usr/bin/python3
"""PyTorch twin of `digitnet mlp` for the benchmark.

Same network (784-300-100-10 ReLU by default, PyTorch's default init for
Linear is different from He; the timing does not depend on it), same loss
(softmax + cross-entropy), same optimiser (SGD, momentum 0.9, lr 0.1,
cosine schedule stepped per batch), same batch (64), same data handling:
the training set stays uint8 and each batch is converted with x / 255.

Threads: torch.set_num_threads sets torch's own (OpenMP) threads, but
Debian's torch multiplies matrices through the system BLAS (OpenBLAS, its
own thread pool, all cores by default); --blas-threads sets that pool too
(openblas_set_num_threads on the libopenblas.so.0 torch has loaded), so
"1 thread" means one thread.

Prints one line per timed epoch: "epoch_seconds S" and, with --target,
"time_to_target S EPOCH" when the test accuracy first reaches it.
Run with /usr/bin/python3 (Debian's python3-torch).
"""
import argparse
import ctypes
import math
import os
import time

import numpy as np
import torch


def read_idx(path, magic, offset):
    raw = np.fromfile(path, dtype=np.uint8)
    if int.from_bytes(raw[:4].tobytes(), "big") != magic:
        raise SystemExit(f"{path}: not an IDX file with magic {magic:#010x}")
    return raw[offset:]


def load(folder, split):
    images = read_idx(os.path.join(folder, f"{split}-images-idx3-ubyte"), 0x803, 16).reshape(-1, 784)
    labels = read_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte"), 0x801, 8)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def openblas():
    """The OpenBLAS torch uses (Debian: libblas.so.3 → libopenblas.so.0), or None."""
    try:
        return ctypes.CDLL("libopenblas.so.0")
    except OSError:
        return None


def build(hidden):
    layers, width = [], 784
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    layers.append(torch.nn.Linear(width, 10))
    return torch.nn.Sequential(*layers)


def accuracy(model, images, labels):
    with torch.no_grad():
        return (model(images.float() / 255).argmax(1) == labels).float().mean().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--hidden", default="300,100")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--epochs", type=int, default=10, help="the cosine schedule's length")
    ap.add_argument("--timed", type=int, default=5, help="timed epochs after one warm-up epoch")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--blas-threads", type=int, default=1, help="OpenBLAS threads (0: leave as found)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target", type=float, default=0.0, help="report time to this test accuracy (0: off)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    blas = openblas()
    if blas and a.blas_threads > 0:
        blas.openblas_set_num_threads(a.blas_threads)
    torch.manual_seed(a.seed)
    x_train, y_train = load(a.data, "train")
    x_test, y_test = load(a.data, "t10k")
    model = build([int(h) for h in a.hidden.split(",") if h])
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / a.batch)
    total_steps = a.epochs * steps_per_epoch
    step = 0
    trained = 0.0
    epochs = 1 + a.timed if not a.target else a.epochs
    blas_threads = blas.openblas_get_num_threads() if blas else "unknown"
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} blas_threads {blas_threads}", flush=True)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(n)
        for first in range(0, n, a.batch):
            idx = order[first:first + a.batch]
            x = x_train[idx].float() / 255
            y = y_train[idx]
            for g in opt.param_groups:
                g["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * min(step / total_steps, 1.0)))
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            step += 1
        seconds = time.perf_counter() - t0
        trained += seconds
        if a.target:
            acc = accuracy(model, x_test, y_test)
            print(f"epoch {epoch + 1} test_accuracy {acc:.4f} seconds {seconds:.3f}", flush=True)
            if acc >= a.target:
                print(f"time_to_target {trained:.3f} {epoch + 1}", flush=True)
                return
        elif epoch > 0:
            print(f"epoch_seconds {seconds:.4f}", flush=True)
    if a.target:
        print("time_to_target none", flush=True)


if __name__ == "__main__":
    main()
