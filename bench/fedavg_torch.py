#!/usr/bin/python3
"""PyTorch twin of `digitnet mlp --distributed fedavg --clients 100` for the benchmark.

A straightforward federated-averaging simulation in one process, the way it is
usually written: one model object; the 60000 training samples split IID into
100 clients of 600 (a seeded permutation); each round samples 10 clients
without replacement and, one after another, loads the global state into the
model, trains it one epoch over the client's 600 samples in a fresh shuffled
order (SGD lr 0.1, no momentum, batch 10, softmax + cross-entropy), and keeps
its state_dict; the new global state is the average weighted by client size.
The network is 784-200-200-10 ReLU (PyTorch's default Linear init, where
digitnet uses He; the timing does not depend on it). Images stay uint8 and
each batch is converted with x / 255, as in bench/mlp_torch.py, whose loader,
model builder and thread handling this reuses.

A warm-up of one round, then --reps timed repetitions; each starts from a
fresh model and runs --rounds rounds. Per repetition it prints
  "update_seconds S test_accuracy A"
S = the rounds' time (local training and averaging, not the test evaluation)
over the number of client updates; A = test accuracy after the last round.
Run with /usr/bin/python3 (Debian's python3-torch).
"""
import argparse
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mlp_torch import accuracy, build, load, openblas  # noqa: E402


def client_update(model, global_state, x, y, lr, batch, loss_fn):
    model.load_state_dict(global_state)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
    order = torch.randperm(x.shape[0])
    for first in range(0, x.shape[0], batch):
        idx = order[first:first + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx].float() / 255), y[idx])
        loss.backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def average(states, weights):
    total = float(sum(weights))
    return {k: sum(s[k] * (w / total) for s, w in zip(states, weights)) for k in states[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--hidden", default="200,200")
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions after one warm-up")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--blas-threads", type=int, default=1, help="OpenBLAS threads (0: leave as found)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    blas = openblas()
    if blas and a.blas_threads > 0:
        blas.openblas_set_num_threads(a.blas_threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    x_train, y_train = load(a.data, "train")
    x_test, y_test = load(a.data, "t10k")
    # IID partition: a seeded permutation cut into equal parts
    perm = torch.randperm(x_train.shape[0])
    size = x_train.shape[0] // a.clients
    clients = [(x_train[perm[c * size:(c + 1) * size]], y_train[perm[c * size:(c + 1) * size]])
               for c in range(a.clients)]
    per_round = max(round(a.fraction * a.clients), 1)
    hidden = [int(h) for h in a.hidden.split(",") if h]
    loss_fn = torch.nn.CrossEntropyLoss()
    blas_threads = blas.openblas_get_num_threads() if blas else "unknown"
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} blas_threads {blas_threads}", flush=True)

    for rep in range(1 + a.reps):  # rep 0 is the warm-up, one round
        model = build(hidden)  # the one model object of this simulation
        global_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        trained = 0.0
        for _ in range(a.rounds if rep > 0 else 1):
            t0 = time.perf_counter()
            chosen = rng.sample(range(a.clients), per_round)
            states, weights = [], []
            for c in chosen:
                x, y = clients[c]
                states.append(client_update(model, global_state, x, y, a.lr, a.batch, loss_fn))
                weights.append(x.shape[0])
            global_state = average(states, weights)
            trained += time.perf_counter() - t0
        model.load_state_dict(global_state)
        acc = accuracy(model, x_test, y_test)
        if rep > 0:
            print(f"update_seconds {trained / (a.rounds * per_round):.6f} test_accuracy {acc:.4f}", flush=True)


if __name__ == "__main__":
    main()
