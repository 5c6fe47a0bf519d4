#!/usr/bin/env python3
"""bench/run gpu_step_vs_torch: one training step of plait on GPU 0 against PyTorch on the same GPU.

Same models, batches, precision, optimizer (SGD, lr 0.01), loss (softmax cross-entropy) and data
(uniform in [-1, 1), random labels) on both sides:

  large: MLP 4096 -> 4096 -> 4096 -> 4096 -> 10, batch 8192: plait, PyTorch eager, torch.compile,
         and the cuBLAS floors (the step's own GEMMs timed alone, sum of their medians), twice:
         bf16:  bf16 products, float32 master weights: plait's cuda_math::bf16; PyTorch's float32
                parameters and SGD with torch.autocast(device_type="cuda", dtype=torch.bfloat16) around
                forward and loss. Floor: cublasGemmEx on float32 storage, CUBLAS_COMPUTE_32F_FAST_16BF
                (what plait calls); also, stricter, on bfloat16 storage (CUDA_R_16BF, compute 32F).
                Autocast keeps its activations in bfloat16; plait keeps them in float32 and rounds
                them as the products read them, so plait's step moves more bytes.
         TF32:  float32 storage, TF32 products: plait's cuda_math::tf32 and PyTorch's
                torch.backends.cuda.matmul.allow_tf32. Floor: CUBLAS_COMPUTE_32F_FAST_TF32.
  small: MLP 32 -> 64 -> 64 -> 10, batch 32, TF32: plait (kernel by kernel, and its step in a CUDA graph:
         place_options::cuda_graph), PyTorch eager

A step starts from the batch in pinned host memory on both sides (plait's train_step copies it in;
PyTorch's step does `.to(device, non_blocking=True)`) and ends when the loss is on the host and the
step's work is done (`loss.item()` here, after SGD on the same stream; plait's train_step returns the
loss before its backward and optimizer finish, so the binary waits for the device before its end
event). Each step is timed with a pair of CUDA events after warm-up. PyTorch's step with the batch already on the GPU is reported too ("resident"), for reference.

The C++ binary (bench/gpu_step_vs_torch.cu) and PyTorch run alternately, round after round, in this
one invocation; each side's figure is the median over rounds of the round medians, the spread the
range of the round medians. Without a CUDA device the binary answers 77 and this script prints
`skipped: no CUDA device answers` and `RESULT gpu_step_vs_torch skipped=no_gpu`.
"""
import argparse
import statistics
import subprocess
import sys
import time

import bench_report  # bench/bench_report.py, beside this script

LARGE = dict(dims=[4096, 4096, 4096, 4096, 10], batch=8192)
SMALL = dict(dims=[32, 64, 64, 10], batch=32)
LR = 0.01
SKIP_LINE = "skipped: no CUDA device answers"


def parse_plait(stdout):
    """The binary's `PLAIT key=value ...` line as a dict of strings."""
    line = next((l for l in stdout.splitlines() if l.startswith("PLAIT ")), None)
    if line is None:
        raise RuntimeError("plait: the binary printed no PLAIT line. It ends every run with one. "
                           "Fix: run it alone to see what it printed:\n" + stdout)
    return dict(item.split("=", 1) for item in line.split()[1:])


def run_plait(binary, reps_large, reps_small):
    p = subprocess.run([binary, "--reps-large", str(reps_large), "--reps-small", str(reps_small)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"plait: {binary} exited with {p.returncode}. Its output is above. "
                         "Fix: run it alone to see the failing call.")
    return parse_plait(p.stdout), p.stdout


class TorchStep:
    """One SGD step of an MLP (Linear + ReLU, no ReLU after the last layer) with cross-entropy."""

    def __init__(self, torch, model, device, compiled=False, bf16=False):
        torch.manual_seed(0)
        dims = model["dims"]
        layers = []
        for i, (a, b) in enumerate(zip(dims, dims[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i + 2 < len(dims):
                layers.append(torch.nn.ReLU())
        self.device = device
        self.model = torch.nn.Sequential(*layers).to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        g = torch.Generator().manual_seed(123)
        x = torch.rand(model["batch"], dims[0], generator=g) * 2 - 1
        y = torch.randint(0, dims[-1], (model["batch"],), generator=g)
        if device.type == "cuda":
            x, y = x.pin_memory(), y.pin_memory()
        self.x_host, self.y_host = x, y  # [batch, in], [batch] @ pinned host
        self.x_dev, self.y_dev = x.to(device), y.to(device)  # the same @ the device, for "resident"

        def loss_of(xb, yb):
            if bf16:  # products in bfloat16, parameters, gradients, SGD and the loss in float32
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                    return torch.nn.functional.cross_entropy(self.model(xb), yb)
            return torch.nn.functional.cross_entropy(self.model(xb), yb)

        self.loss_of = torch.compile(loss_of) if compiled else loss_of

    def __call__(self, resident=False):
        if resident:
            x, y = self.x_dev, self.y_dev
        else:
            x = self.x_host.to(self.device, non_blocking=True)
            y = self.y_host.to(self.device, non_blocking=True)
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_of(x, y)
        loss.backward()
        self.opt.step()
        return loss.item()


class CudaEventTimer:
    """Microseconds between two CUDA events recorded around f on the current stream."""

    def __init__(self, torch):
        self.begin = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)

    def __call__(self, f):
        self.begin.record()
        f()
        self.end.record()
        self.end.synchronize()
        return self.begin.elapsed_time(self.end) * 1e3


def time_steps(step, warmup, reps, timer, resident=False):
    """Median of `reps` steps timed one by one after `warmup` untimed ones, in microseconds."""
    loss = 0.0
    for _ in range(warmup):
        loss = step(resident)
    times = []
    for _ in range(reps):
        times.append(timer(lambda: step(resident)))
    if loss != loss or abs(loss) == float("inf"):
        raise SystemExit(f"plait: PyTorch's loss is {loss} after the warm-up. A diverged step may not time a "
                         "training step. Fix: lower LR in bench/gpu_step_vs_torch.py on both sides.")
    return statistics.median(times)


def spread(v):
    med = statistics.median(v)
    return f"{med:10.1f} [{min(v):.1f}..{max(v):.1f}]"


def make_torch_steps(torch, device, log):
    """The PyTorch sides: eager and torch.compile for large (bf16 autocast: `*_large`; TF32:
    `*_large_tf32`), eager for small (TF32). torch.compile's first calls (the compilation) happen
    here, outside the timed rounds."""
    steps = {"eager_large": TorchStep(torch, LARGE, device, bf16=True),
             "eager_large_tf32": TorchStep(torch, LARGE, device),
             "eager_small": TorchStep(torch, SMALL, device)}
    for name, bf16 in (("compile_large", True), ("compile_large_tf32", False)):
        try:
            compiled = TorchStep(torch, LARGE, device, compiled=True, bf16=bf16)
            t0 = time.perf_counter()
            compiled()
            compiled(resident=True)
            log(f"torch.compile ({name}): first calls (compilation) took {time.perf_counter() - t0:.1f} s")
            steps[name] = compiled
        except Exception as e:  # a PyTorch without a working compiler (e.g. no Triton): report, do not stop
            log(f"torch.compile ({name}) failed, reported as n/a: {type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}")
    return steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True, help="build-bench/bench/bench_gpu_step_vs_torch")
    ap.add_argument("--quick", action="store_true", help="3 rounds of fewer steps (under a minute on a GPU)")
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--out", help="also write the report to this file")
    args = ap.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    reps_large, reps_small = (10, 50) if args.quick else (30, 200)
    warm_large, warm_small = 3, 20

    probe = subprocess.run([args.binary, "--probe"], capture_output=True, text=True)
    if probe.returncode == 77:
        print(SKIP_LINE)
        print("RESULT gpu_step_vs_torch skipped=no_gpu")
        return 0
    if probe.returncode != 0:
        sys.stderr.write(probe.stdout + probe.stderr)
        return probe.returncode
    device_name = probe.stdout.strip().split("=", 1)[1]

    log = lambda s: print(s, file=sys.stderr, flush=True)
    try:
        import torch
    except ImportError:
        torch = None
    torch_version = torch.__version__ if torch else "none"
    if torch is None or not torch.cuda.is_available():
        log(f"plait: PyTorch ({sys.executable}, torch {torch_version}) cannot use the GPU that plait sees. "
            "Its build has no CUDA, or no torch is installed. Fix: set PLAIT_BENCH_PYTHON to a Python whose "
            "torch.cuda.is_available(); plait's side runs alone meanwhile.")
        torch = None
    steps = {}
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        device = torch.device("cuda", 0)
        log(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name(0)}")
        steps = make_torch_steps(torch, device, log)
        timer = CudaEventTimer(torch)

    plait_keys = ["plait_large_us", "floor_large_us", "floor_seq_large_us", "floor_large_bf16_storage_us",
                  "plait_large_tf32_us", "floor_large_tf32_us", "floor_seq_large_tf32_us", "copy_large_us",
                  "plait_small_us", "plait_small_graph_us"]
    plait_t = {k: [] for k in plait_keys}
    torch_t = {f"{name}{suffix}": [] for name in steps for suffix in ("", "_resident")}
    last_table = ""
    for r in range(rounds):
        def plait_round():
            nonlocal last_table
            p, last_table = run_plait(args.binary, reps_large, reps_small)
            for k in plait_keys:
                plait_t[k].append(float(p[k]))

        def torch_round():
            for name, step in steps.items():
                warm, reps = (warm_small, reps_small) if name.endswith("_small") else (warm_large, reps_large)
                torch_t[name].append(time_steps(step, warm, reps, timer))
                torch_t[name + "_resident"].append(time_steps(step, warm, reps, timer, resident=True))

        for part in ((plait_round, torch_round) if r % 2 == 0 else (torch_round, plait_round)):
            part()
        log(f"round {r + 1}/{rounds}: plait large bf16 {plait_t['plait_large_us'][-1]:.1f} us, large TF32 "
            f"{plait_t['plait_large_tf32_us'][-1]:.1f} us, small {plait_t['plait_small_us'][-1]:.1f} us; " +
            ", ".join(f"torch {n} {v[-1]:.1f} us" for n, v in torch_t.items() if not n.endswith("_resident")))

    med = statistics.median
    pl, pt, ps = med(plait_t["plait_large_us"]), med(plait_t["plait_large_tf32_us"]), med(plait_t["plait_small_us"])
    psg = med(plait_t["plait_small_graph_us"])
    floor, floor16, floor_tf32 = (med(plait_t[k]) for k in ("floor_large_us", "floor_large_bf16_storage_us",
                                                             "floor_large_tf32_us"))
    copy = med(plait_t["copy_large_us"])

    def torch_med(name):
        return med(torch_t[name]) if torch_t.get(name) else None

    def ratio(num, den, digits=2):
        return "n/a" if num is None or den is None else round(num / den, digits)

    def us(v, digits=1):
        return round(v, digits) if v else "n/a"

    eager_l, compile_l = torch_med("eager_large"), torch_med("compile_large")
    eager_t, compile_t = torch_med("eager_large_tf32"), torch_med("compile_large_tf32")
    eager_s = torch_med("eager_small")
    lines = [
        f"gpu_step_vs_torch on {device_name}: plait vs PyTorch {torch_version} (eager, torch.compile), float32 "
        f"parameters, SGD lr {LR}, cross-entropy; large in bf16 (plait cuda_math::bf16, torch autocast bfloat16) and "
        f"TF32, small in TF32; {rounds} alternating rounds of {reps_large} (large) / {reps_small} (small) steps; "
        "CUDA events; median [min..max] of the round medians, us",
        "a step: batch from pinned host memory in, forward, backward, SGD, loss out to the host (both sides)",
        f"{'case':34} {'median [min..max] us':>32} {'torch / plait':>14}",
    ]

    def large_rows(label, plait_key, suffix, plait_med):
        lines.append(f"{'large ' + label + ' plait':34} {spread(plait_t[plait_key]):>32}")
        for kind in ("eager", "compile"):
            for resident in ("", "_resident"):
                name = f"{kind}_large{suffix}{resident}"
                if torch_t.get(name):
                    lines.append(f"{'large ' + label + ' torch ' + kind + resident.replace('_', ' '):34} "
                                 f"{spread(torch_t[name]):>32} {med(torch_t[name]) / plait_med:14.2f}")

    large_rows("bf16", "plait_large_us", "", pl)
    lines += [
        f"{'large bf16 cuBLAS floor':34} {spread(plait_t['floor_large_us']):>32}   (float32 storage, "
        "COMPUTE_32F_FAST_16BF: plait's calls)",
        f"{'large bf16 GEMMs back to back':34} {spread(plait_t['floor_seq_large_us']):>32}",
        f"{'large bf16-storage cuBLAS floor':34} {spread(plait_t['floor_large_bf16_storage_us']):>32}   (CUDA_R_16BF, "
        "COMPUTE_32F: stricter)",
        f"plait large bf16 / bf16 floor: {pl / floor:.3f}; / bf16-storage floor: {pl / floor16:.3f}; "
        f"/ (bf16 floor + copy in): {pl / (floor + copy):.3f}",
    ]
    large_rows("TF32", "plait_large_tf32_us", "_tf32", pt)
    lines += [
        f"{'large TF32 cuBLAS floor':34} {spread(plait_t['floor_large_tf32_us']):>32}   (sum of the step's GEMM medians)",
        f"{'large TF32 GEMMs back to back':34} {spread(plait_t['floor_seq_large_tf32_us']):>32}",
        f"plait large TF32 / TF32 floor: {pt / floor_tf32:.3f}; / (TF32 floor + copy in): {pt / (floor_tf32 + copy):.3f}",
        f"{'large batch copy in':34} {spread(plait_t['copy_large_us']):>32}   (pinned -> device, alone)",
        f"{'small TF32 plait':34} {spread(plait_t['plait_small_us']):>32}",
    ]
    for suffix in ("", "_resident"):
        if torch_t.get("eager_small" + suffix):
            lines.append(f"{'small TF32 torch eager' + suffix.replace('_', ' '):34} "
                         f"{spread(torch_t['eager_small' + suffix]):>32} {med(torch_t['eager_small' + suffix]) / ps:14.2f}")
    lines += [
        f"{'small TF32 plait, CUDA graph':34} {spread(plait_t['plait_small_graph_us']):>32}   (place_options::cuda_graph)",
        f"small: torch eager / plait with its step in a CUDA graph: {ratio(eager_s, psg)}",
        "plait's last round, in detail:",
        *("  " + l for l in last_table.splitlines() if not l.startswith("PLAIT ")),
    ]
    result = {
        "device": device_name,
        "floor_ratio_large": round(pl / floor, 3),
        "floor_ratio_large_bf16_storage": round(pl / floor16, 3),
        "floor_ratio_large_tf32": round(pt / floor_tf32, 3),
        "speedup_vs_compile_large": ratio(compile_l, pl),
        "speedup_vs_compile_large_tf32": ratio(compile_t, pt),
        "speedup_small": ratio(eager_s, ps),
        "speedup_small_graph": ratio(eager_s, psg),
        "speedup_vs_eager_large": ratio(eager_l, pl),
        "speedup_vs_eager_large_tf32": ratio(eager_t, pt),
        "floor_copy_ratio_large": round(pl / (floor + copy), 3),
        "floor_copy_ratio_large_tf32": round(pt / (floor_tf32 + copy), 3),
        "plait_large_us": round(pl, 1),
        "plait_large_tf32_us": round(pt, 1),
        "torch_eager_large_us": us(eager_l),
        "torch_compile_large_us": us(compile_l),
        "torch_eager_large_tf32_us": us(eager_t),
        "torch_compile_large_tf32_us": us(compile_t),
        "floor_large_us": round(floor, 1),
        "floor_large_bf16_storage_us": round(floor16, 1),
        "floor_large_tf32_us": round(floor_tf32, 1),
        "copy_large_us": round(copy, 1),
        "plait_small_us": round(ps, 2),
        "plait_small_graph_us": round(psg, 2),
        "torch_small_us": us(eager_s, 2),
        "bf16": "built",
        "torch": torch_version,
        "rounds": rounds,
    }
    bench_report.finish("gpu_step_vs_torch", lines, result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
