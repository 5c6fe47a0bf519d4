#!/usr/bin/env python3
"""bench/run step_vs_torch: one training step of plait against PyTorch eager on the CPU.

Same models, batches, optimizer (SGD, lr 0.01), loss (softmax cross-entropy), data (uniform in
[-1, 1), random labels) and thread count on both sides. The medium_bf16 row is the medium model in
bf16 mixed precision on both sides: plait on a host_math::bf16 device, PyTorch's forward and loss under
torch.autocast("cpu", dtype=torch.bfloat16) (float32 weights and SGD on both; its floor is the step's
products through plait's bf16 gemm). On a CPU without bfloat16 instructions the row is skipped.
The C++ binary (Google Benchmark) and PyTorch run alternately, round after round, in this one
invocation; each side's figure is the median over rounds, and the spread is the range of the round
medians.
"""
import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

import bench_report  # bench/bench_report.py, beside this script

MODELS = {
    "small": dict(dims=[32, 64, 64, 10], batch=32, plait="plait_step_small", floor="gemm_floor_small"),
    "medium": dict(dims=[784, 1024, 1024, 10], batch=256, plait="plait_step_medium", floor="gemm_floor_medium"),
    "medium_bf16": dict(dims=[784, 1024, 1024, 10], batch=256, plait="plait_step_medium_bf16",
                        floor="gemm_floor_medium_bf16", autocast=True),
}


def gemm_flops(dims, batch):
    """A dense MLP step is 6 * batch * sum(d_in * d_out) FLOPs (bench/README.md)."""
    return 6 * batch * sum(a * b for a, b in zip(dims, dims[1:]))


def run_plait(binary, min_time, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               PLAIT_BENCH_THREADS=str(threads))
    out = subprocess.run([binary, "--benchmark_format=json", f"--benchmark_min_time={min_time}"],
                         env=env, check=True, capture_output=True, text=True).stdout
    result = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("error_occurred"):  # skipped: host_math::bf16 on a CPU without bfloat16 instructions
            continue
        scale = {"us": 1e-6, "ms": 1e-3, "ns": 1e-9, "s": 1.0}[b["time_unit"]]
        result[b["name"]] = b["real_time"] * scale
        if b["name"] == "sgemm_1024":
            result["sgemm_flops"] = b["flops"]
    return result


class TorchStep:
    def __init__(self, torch, dims, batch, autocast=False):
        torch.manual_seed(0)
        layers = []
        for i, (a, b) in enumerate(zip(dims, dims[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i + 2 < len(dims):
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01)
        g = torch.Generator().manual_seed(123)
        self.x = torch.rand(batch, dims[0], generator=g) * 2 - 1
        self.y = torch.randint(0, dims[-1], (batch,), generator=g)
        self.loss = torch.nn.functional.cross_entropy
        self.autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if autocast else contextlib.nullcontext

    def __call__(self):
        self.opt.zero_grad()
        with self.autocast():
            loss = self.loss(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()


def time_torch(step, min_time):
    for _ in range(5):
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
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--out", help="also write the report to this file")
    args = ap.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    min_time = 0.2 if args.quick else 1.0

    import torch
    torch.set_num_threads(args.threads)
    steps = {name: TorchStep(torch, m["dims"], m["batch"], m.get("autocast", False)) for name, m in MODELS.items()}

    plait_t = {name: [] for name in MODELS}
    torch_t = {name: [] for name in MODELS}
    floor_t = {name: [] for name in MODELS}
    sgemm = []
    skipped = set()
    for r in range(rounds):
        p = run_plait(args.binary, min_time, args.threads)
        sgemm.append(p["sgemm_flops"])
        for name, m in MODELS.items():
            if m["plait"] not in p:
                skipped.add(name)
                continue
            plait_t[name].append(p[m["plait"]])
            floor_t[name].append(p[m["floor"]])
            torch_t[name].append(time_torch(steps[name], min_time))
        print(f"round {r + 1}/{rounds}: " + "  ".join(
            f"{n} plait {plait_t[n][-1] * 1e6:.1f} us floor {floor_t[n][-1] * 1e6:.1f} us torch {torch_t[n][-1] * 1e6:.1f} us"
            for n in MODELS if n not in skipped),
            file=sys.stderr)

    med = statistics.median
    rate = med(sgemm)
    lines = [f"step_vs_torch: plait vs PyTorch {torch.__version__} eager, CPU, {args.threads} thread(s), "
             f"{rounds} alternating rounds (times: median [min..max] of round medians; ratios: median of the "
             f"rounds' own ratios, each side of a ratio timed within seconds of the other)",
             f"SGEMM 1024^3: {rate / 1e9:.1f} GFLOP/s. floor: the step's own GEMMs (same shapes) timed alone; "
             f"floor1024: FLOPs / the 1024^3 rate",
             f"{'model':11} {'batch':>5} {'plait':>30} {'torch':>30} {'torch/plait':>11} {'floor':>10} "
             f"{'plait/floor':>11} {'plait/floor1024':>15}"]
    result = {"torch": torch.__version__, "threads": args.threads, "rounds": rounds, "sgemm_gflops": round(rate / 1e9, 1)}
    for name, m in MODELS.items():
        if name in skipped:
            lines.append(f"{name:11} skipped: this CPU has no bfloat16 instructions (host_math::bf16 is refused)")
            result[f"speedup_{name}"] = "skipped"
            continue
        pt, tt = med(plait_t[name]), med(torch_t[name])
        floor = med(floor_t[name])
        # Ratios round by round: the machine's speed drifts between rounds (a VM's neighbours), less
        # within one, so each round's plait time is set against the floor and PyTorch times of its round.
        speedup = med([t / p for t, p in zip(torch_t[name], plait_t[name])])
        floor_ratio = med([p / f for p, f in zip(plait_t[name], floor_t[name])])
        floor1024 = gemm_flops(m["dims"], m["batch"]) / rate
        fmt = lambda v: f"{med(v) * 1e6:9.1f} [{min(v) * 1e6:.1f}..{max(v) * 1e6:.1f}] us"
        lines.append(f"{name:11} {m['batch']:5} {fmt(plait_t[name]):>30} {fmt(torch_t[name]):>30} {speedup:11.2f} "
                     f"{floor * 1e6:8.1f}us {floor_ratio:11.3f} {pt / floor1024:15.3f}")
        result[f"plait_{name}_us"] = round(pt * 1e6, 2)
        result[f"torch_{name}_us"] = round(tt * 1e6, 2)
        result[f"floor_{name}_us"] = round(floor * 1e6, 2)
        result[f"speedup_{name}"] = round(speedup, 2)
        result[f"floor_ratio_{name}"] = round(floor_ratio, 3)
        result[f"floor1024_ratio_{name}"] = round(pt / floor1024, 3)
    bench_report.finish("step_vs_torch", lines, result, args.out)


if __name__ == "__main__":
    main()
