#!/usr/bin/env python3
"""bench/run fmnist_epoch: example 00's Fashion-MNIST MLP for a few epochs, plait against PyTorch eager.

The model on both sides: Flatten > Linear(784, 256) > ReLU > Linear(256, 128) > ReLU > Linear(128, 10),
softmax cross-entropy, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8), batch 128 (the last batch of an
epoch 96), the 60,000 training images in the same order on both sides (the plait binary writes each
epoch's order, its loader's shuffle with seed 7, and PyTorch reads it), pixels in [0, 1], the same
thread count. Each round trains a fresh model on each side, plait first, then PyTorch; an epoch's
time is its batches (gathering the batch from the data set, the step), not loading the files and not
the test. Each side's figure is its best median epoch time over the rounds; torch_over_plait is
PyTorch's over plait's. Both report the test accuracy after the last epoch, and the last epoch's
samples/s over the first's (below 1: training slows down as it goes).
"""
import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import bench_report  # bench/bench_report.py, beside this script

DATA = os.environ.get("PLAIT_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
BATCH = 128


def read_idx(stem):
    path = os.path.join(DATA, stem)
    opener = open if os.path.exists(path) else gzip.open
    with opener(path if os.path.exists(path) else path + ".gz", "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def run_plait(binary, epochs, threads, order_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([binary, "--epochs", str(epochs), "--threads", str(threads), "--order", order_path],
                         env=env, check=True, capture_output=True, text=True).stdout
    seconds = accuracy = None
    for line in out.splitlines():
        if line.startswith("EPOCHS "):
            seconds = [float(v) for v in line.split()[1:]]
        elif line.startswith("ACCURACY "):
            accuracy = float(line.split()[1])
    if seconds is None or accuracy is None:
        sys.exit(f"plait: {binary} printed no EPOCHS or ACCURACY line. Its output was:\n{out}\n"
                 "Fix: run it by hand to see why.")
    return seconds, accuracy


def run_torch(torch, x, y, x_test, y_test, orders, seed):
    nn = torch.nn
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = nn.functional.cross_entropy
    seconds = []
    for order in orders:
        t0 = time.perf_counter()
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - t0)
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    return seconds, accuracy


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--out", help="also write the report to this file")
    args = ap.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)

    import torch
    torch.set_num_threads(args.threads)
    x = torch.from_numpy(read_idx("train-images-idx3-ubyte").astype(np.float32) / 255).reshape(-1, 784)
    y = torch.from_numpy(read_idx("train-labels-idx1-ubyte").astype(np.int64))
    x_test = torch.from_numpy(read_idx("t10k-images-idx3-ubyte").astype(np.float32) / 255).reshape(-1, 784)
    y_test = torch.from_numpy(read_idx("t10k-labels-idx1-ubyte").astype(np.int64))

    plait_s, torch_s, plait_acc, torch_acc = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        order_path = os.path.join(tmp, "order.bin")
        for r in range(rounds):
            s, a = run_plait(args.binary, args.epochs, args.threads, order_path)
            plait_s.append(s)
            plait_acc.append(a)
            orders = torch.from_numpy(np.fromfile(order_path, dtype=np.uint64).astype(np.int64)).reshape(args.epochs, -1)
            s, a = run_torch(torch, x, y, x_test, y_test, orders, r)
            torch_s.append(s)
            torch_acc.append(a)
            print(f"round {r + 1}/{rounds}: plait " + " ".join(f"{v:.3f}" for v in plait_s[-1]) + " s, torch " +
                  " ".join(f"{v:.3f}" for v in torch_s[-1]) + " s", file=sys.stderr)

    med = statistics.median
    best = lambda runs: min(med(r) for r in runs)
    drift = lambda runs: med([r[0] / r[-1] for r in runs])  # last epoch's samples/s over the first's
    n = len(x)
    pt, tt = best(plait_s), best(torch_s)
    lines = [f"fmnist_epoch: example 00's MLP 784-256-128-10 on Fashion-MNIST, Adam, batch {BATCH}, {args.epochs} epochs, "
             f"{args.threads} thread(s), plait vs PyTorch {torch.__version__} eager, {rounds} alternating rounds",
             f"{'side':6} {'epoch seconds per round':>40} {'best median':>12} {'samples/s':>10} {'last/first':>10} "
             f"{'accuracy':>9}"]
    for name, runs, acc in (("plait", plait_s, plait_acc), ("torch", torch_s, torch_acc)):
        per_round = " | ".join(" ".join(f"{v:.2f}" for v in r) for r in runs)
        lines.append(f"{name:6} {per_round:>40} {best(runs):11.3f}s {n / best(runs):10.0f} {drift(runs):10.3f} "
                     f"{med(acc):9.4f}")
    result = {"threads": args.threads, "epochs": args.epochs, "rounds": rounds, "plait_epoch_s": round(pt, 3),
              "torch_epoch_s": round(tt, 3), "torch_over_plait": round(tt / pt, 3),
              "plait_last_over_first": round(drift(plait_s), 3), "torch_last_over_first": round(drift(torch_s), 3),
              "plait_accuracy": round(med(plait_acc), 4), "torch_accuracy": round(med(torch_acc), 4)}
    bench_report.finish("fmnist_epoch", lines, result, args.out)


if __name__ == "__main__":
    main()
