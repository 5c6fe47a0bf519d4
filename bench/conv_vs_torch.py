#!/usr/bin/env python3
"""bench/run conv_vs_torch: one training step of example 04's residual CNN, plait against PyTorch eager.

The model on both sides: a residual block f = Conv2d(3, 16, 3, padding 1) > BatchNorm2d > ReLU >
Conv2d(16, 16, 3, padding 1) > BatchNorm2d with a 1x1 Conv2d(3, 16) projection shortcut, ReLU after
the add, MaxPool2d(4), Flatten, Linear(1024, 12); 32x32x3 inputs uniform in [0, 1), random labels,
batch 32, softmax cross-entropy, SGD (lr 0.01), training mode, the same thread count. The C++
binary (Google Benchmark) and PyTorch run alternately, round after round, in this one invocation;
each side's figure is the median over rounds, the spread the range of the round medians.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import bench_report  # bench/bench_report.py, beside this script

BATCH, CLASSES = 32, 12


def run_plait(binary, min_time, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               PLAIT_BENCH_THREADS=str(threads))
    out = subprocess.run([binary, "--benchmark_format=json", f"--benchmark_min_time={min_time}"],
                         env=env, check=True, capture_output=True, text=True).stdout
    b = next(b for b in json.loads(out)["benchmarks"] if b["name"] == "plait_step_resblock")
    return b["real_time"] * {"us": 1e-6, "ms": 1e-3, "ns": 1e-9, "s": 1.0}[b["time_unit"]]


class TorchStep:
    def __init__(self, torch):
        nn = torch.nn
        torch.manual_seed(0)

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.f = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                       nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16))
                self.projection = nn.Conv2d(3, 16, 1)

            def forward(self, x):
                return torch.relu(self.f(x) + self.projection(x))

        self.model = nn.Sequential(Block(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(16 * 8 * 8, CLASSES))
        self.model.train()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01)
        g = torch.Generator().manual_seed(123)
        self.x = torch.rand(BATCH, 3, 32, 32, generator=g)
        self.y = torch.randint(0, CLASSES, (BATCH,), generator=g)
        self.loss = torch.nn.functional.cross_entropy

    def __call__(self):
        self.opt.zero_grad()
        loss = self.loss(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()


def time_torch(step, min_time):
    for _ in range(3):
        step()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 5:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--out", help="also write the report to this file")
    args = ap.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    min_time = 0.5 if args.quick else 1.5

    import torch
    step = TorchStep(torch)
    plait_t = {t: [] for t in args.threads}
    torch_t = {t: [] for t in args.threads}
    for r in range(rounds):
        for t in args.threads:
            plait_t[t].append(run_plait(args.binary, min_time, t))
            torch.set_num_threads(t)
            torch_t[t].append(time_torch(step, min_time))
        print(f"round {r + 1}/{rounds}: " + "  ".join(
            f"{t} thread(s) plait {plait_t[t][-1] * 1e3:.2f} ms torch {torch_t[t][-1] * 1e3:.2f} ms" for t in args.threads),
            file=sys.stderr)

    med = statistics.median
    fmt = lambda v: f"{med(v) * 1e3:7.2f} [{min(v) * 1e3:.2f}..{max(v) * 1e3:.2f}] ms"
    lines = [f"conv_vs_torch: residual CNN block (example 04), batch {BATCH}, SGD step, plait vs PyTorch "
             f"{torch.__version__} eager on the CPU, {rounds} alternating rounds (median [min..max] of round medians)",
             f"{'threads':>7} {'plait':>28} {'torch':>28} {'torch/plait':>11}"]
    result = {"torch": torch.__version__, "batch": BATCH, "rounds": rounds}
    for t in args.threads:
        pt, tt = med(plait_t[t]), med(torch_t[t])
        lines.append(f"{t:7} {fmt(plait_t[t]):>28} {fmt(torch_t[t]):>28} {tt / pt:11.2f}")
        result[f"plait_{t}t_ms"] = round(pt * 1e3, 3)
        result[f"torch_{t}t_ms"] = round(tt * 1e3, 3)
        result[f"speedup_{t}t"] = round(tt / pt, 2)
    # The headline: the first thread count asked for (1 by default).
    result["threads"] = args.threads[0]
    result["speedup"] = result[f"speedup_{args.threads[0]}t"]
    bench_report.finish("conv_vs_torch", lines, result, args.out)


if __name__ == "__main__":
    main()
