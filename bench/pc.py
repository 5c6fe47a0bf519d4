#!/usr/bin/env python3
"""bench/run pc: predictive coding (model::pc_step), its cost, against PyTorch, and layer-parallel.

Standard PC: T = 8 inference iterations, rate 0.1, SGD (lr 0.01), softmax cross-entropy, data uniform
in [-1, 1) with random labels, one thread on every side.

  1. cost       bench_pc --cost: one PC step against its own GEMMs alone and against one backprop step
  2. vs torch   the same PC step in PyTorch eager and torch.compile against plait's, alternating rounds
                (this script runs `bench_pc --torch-side` and PyTorch in turn), after checking once that
                PyTorch's step gives plait's energies and parameters from the same weights and batch
  3. parallel   bench_pc --parallel: pipeline<2> against single_device, and the GEMM ceiling

It prints the three tables and ends with one line `RESULT pc key=value ...`.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

T = 8        # inference iterations
RATE = 0.1   # inference rate
LR = 0.01    # SGD
torch = None  # imported by main for table 2 only

MODELS = {
    "small": dict(dims=[64, 64, 64, 10], batch=32, label="MLP 64-64-64-10"),
    "fmnist": dict(dims=[784, 128, 128, 128, 10], batch=128, label="MLP 784-128-128-128-10"),
}


def one_thread_env():
    return dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PLAIT_BENCH_THREADS="1")


def run_binary(binary, *args):
    """Runs bench_pc, prints its output but the KEYS line, and returns that line's key=value pairs."""
    out = subprocess.run([binary, *args], env=one_thread_env(), check=True, capture_output=True, text=True).stdout
    keys = {}
    for line in out.splitlines():
        if line.startswith("KEYS "):
            keys.update(kv.split("=", 1) for kv in line[5:].split())
        else:
            print(line, flush=True)
    return keys


def pc_step(params, x0, onehot, y, record=None):
    """One standard PC step, with explicit tensor ops (no autograd): the same algorithm as plait's
    runtime/predictive_coding.hpp, with the same products. Layers l = 0..L-1, f_l(x) = relu(x W_l^T + b_l)
    (the last without relu); value nodes xs[1..L-1] (xs[0] the input, clamped). Errors
    eps_l = mu_l - x_{l+1}, the last layer's the cross-entropy gradient softmax - onehot per sample; all
    nodes move at once by x_i -= rate * (-eps_{i-1} + J_i^T eps_i); then dW_l = dz_l^T x_l / B from the
    final state and an SGD update of every parameter in place. As in plait, the first layer's
    prediction is computed once (its input is the data and its weights are fixed until the update),
    and the first iteration starts from the forward pass (every node at its prediction: the hidden
    errors are 0, only the last layer's term moves its input node). Returns the mean energy at the
    final state (a tensor); with `record`, appends the mean energy before every iteration (floats)."""
    L = len(params) // 2
    W, b = params[0::2], params[1::2]
    B = x0.shape[0]
    relu, addmm = torch.relu, torch.addmm
    masked = torch.ops.aten.threshold_backward  # eps where mu > 0, else 0: relu's derivative at its output

    mu0 = relu(addmm(b[0], x0, W[0].t()))  # the forward pass: every node at its prediction
    xs = [x0, mu0.clone()]
    for l in range(1, L - 1):
        xs.append(relu(addmm(b[l], xs[l], W[l].t())))
    z = addmm(b[L - 1], xs[L - 1], W[L - 1].t())

    def errors(xs):
        mus, eps = [mu0], [mu0 - xs[1]]
        for l in range(1, L - 1):
            mu = relu(addmm(b[l], xs[l], W[l].t()))
            mus.append(mu)
            eps.append(mu - xs[l + 1])
        z = addmm(b[L - 1], xs[L - 1], W[L - 1].t())
        eps.append(torch.softmax(z, 1).sub_(onehot))
        return mus, eps, z

    def energy(eps, z):
        e = torch.nn.functional.cross_entropy(z, y, reduction="sum")
        for d in eps[:-1]:
            flat = d.reshape(-1)
            e = e + 0.5 * torch.dot(flat, flat)
        return e / B

    # Iteration 1, at the forward pass's state: x_{L-1} -= rate * (eps_L W_L), every other node stays.
    eps_last = torch.softmax(z, 1).sub_(onehot)
    if record is not None:
        record.append(float(energy([eps_last], z)))
    xs[L - 1].addmm_(eps_last, W[L - 1], alpha=-RATE)
    for _ in range(T - 1):
        mus, eps, z = errors(xs)
        if record is not None:
            record.append(float(energy(eps, z)))
        for i in range(1, L):  # x_i += rate * eps_{i-1} - rate * (dz_i W_i)
            dz = eps[i] if i == L - 1 else masked(eps[i], mus[i], 0)
            xs[i].add_(eps[i - 1], alpha=RATE)
            xs[i].addmm_(dz, W[i], alpha=-RATE)
    mus, eps, z = errors(xs)
    grads = []
    for l in range(L):
        dz = eps[l] if l == L - 1 else masked(eps[l], mus[l], 0)
        grads.append(torch.mm(dz.t(), xs[l]))
        grads.append(dz.sum(0))
    e = energy(eps, z)
    torch._foreach_add_(params, grads, alpha=-LR / B)  # SGD on the batch mean of the gradients
    return e


class TorchPC:
    def __init__(self, dims, batch, params=None, x=None, y=None):
        if params is None:  # nn.Linear's default: uniform in +-1/sqrt(in)
            g = torch.Generator().manual_seed(0)
            params = []
            for i, o in zip(dims, dims[1:]):
                bound = i ** -0.5
                params.append((torch.rand(o, i, generator=g) * 2 - 1) * bound)
                params.append((torch.rand(o, generator=g) * 2 - 1) * bound)
        if x is None:
            g = torch.Generator().manual_seed(123)
            x = torch.rand(batch, dims[0], generator=g) * 2 - 1
            y = torch.randint(0, dims[-1], (batch,), generator=g)
        self.params = [p.contiguous() for p in params]
        self.x, self.y = x.contiguous(), y
        self.onehot = torch.nn.functional.one_hot(y.long(), dims[-1]).float()
        self.fn = pc_step

    def compile(self):
        self.fn = torch.compile(pc_step)

    def __call__(self, record=None):
        return self.fn(self.params, self.x, self.onehot, self.y, record).item()


def from_plait(dims, name, d):
    """The parameters (plait's layout: per layer W [out, in] then b [out], each layer's block starting on
    a multiple of 16 floats) and batch bench_pc wrote."""
    def read(suffix, dtype):
        with open(os.path.join(d, f"{name}_{suffix}"), "rb") as f:
            return torch.frombuffer(bytearray(f.read()), dtype=dtype)
    flat0, flat1 = read("params0.f32", torch.float32), read("params1.f32", torch.float32)
    params0, params1, at = [], [], 0
    for i, o in zip(dims, dims[1:]):
        for shape, n in (((o, i), o * i), ((o,), o)):
            params0.append(flat0[at:at + n].reshape(shape).clone())
            params1.append(flat1[at:at + n].reshape(shape).clone())
            at += n
        at = (at + 15) // 16 * 16
    assert at == flat0.numel(), f"{name}: {flat0.numel()} parameters, expected {at}"
    x = read("x.f32", torch.float32).reshape(-1, dims[0]).clone()
    y = read("y.i32", torch.int32).long()
    energies = read("energies.f64", torch.float64).tolist()
    return params0, params1, x, y, energies


def check_agreement(binary, compiled):
    """From plait's initial weights and batch: PyTorch's step gives plait's T + 1 energies and its
    parameter update (eager; torch.compile its final energy and update). Returns the lines to print."""
    lines = []
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([binary, "--check", d], env=one_thread_env(), check=True)
        for name, m in MODELS.items():
            p0, p1, x, y, plait_e = from_plait(m["dims"], name, d)
            variants = [("eager", None)] + ([("compile", compiled[name])] if compiled.get(name) else [])
            for label, fn in variants:
                step = TorchPC(m["dims"], m["batch"], [p.clone() for p in p0], x, y)
                if fn is not None:
                    step.fn = fn
                record = [] if fn is None else None
                final = step(record)
                energies = (record or []) + [final]
                ref = plait_e if fn is None else plait_e[-1:]
                e_err = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(energies, ref))
                upd_err, upd_max = 0.0, 0.0
                for a, q0, q1 in zip(step.params, p0, p1):
                    dp = (q1.double() - q0.double())
                    upd_err = max(upd_err, (a.double() - q0.double() - dp).abs().max().item())
                    upd_max = max(upd_max, dp.abs().max().item())
                ok = e_err < 1e-4 and upd_err <= 2e-3 * upd_max + 1e-7
                lines.append(f"   {name:7} {label:8} energies {len(energies):2} max rel diff {e_err:.1e}, "
                             f"update max diff {upd_err:.1e} of {upd_max:.1e}: {'agree' if ok else 'DIFFER'}")
                if not ok:
                    print("\n".join(lines))
                    sys.exit(f"bench/run pc: PyTorch's PC step ({name}, {label}) does not agree with plait's, "
                             f"so the timings would compare different work. Fix pc.py's pc_step.")
    return lines


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
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    ap.add_argument("--compile-limit", type=float, default=300,
                    help="seconds torch.compile may take for both models before it is reported not available")
    ap.add_argument("--only", choices=["cost", "torch", "parallel"], help="one table alone")
    args = ap.parse_args()
    quick = ["--quick"] if args.quick else []
    rounds = args.rounds or (3 if args.quick else 7)
    min_time = 0.25 if args.quick else 1.0
    result = {}
    t_start = time.perf_counter()

    if args.only in (None, "cost"):
        result.update(run_binary(args.binary, "--cost", *quick))

    if args.only in (None, "torch"):
        global torch
        import torch
        torch.set_num_threads(1)
        result["torch"] = torch.__version__
        print(f"\n2. versus PyTorch {torch.__version__} on the CPU, 1 thread each (torch.set_num_threads(1); plait one "
              f"host device, OPENBLAS_NUM_THREADS=1):\n   the same standard PC step (T = {T}, rate {RATE}, SGD lr "
              f"{LR}) with explicit tensor ops, eager and torch.compile; {rounds} alternating rounds, "
              f"{min_time:g} s per side and round", flush=True)
        steps = {name: TorchPC(m["dims"], m["batch"]) for name, m in MODELS.items()}
        compiled, compile_note = {}, ""
        if not args.no_compile:
            t0 = time.perf_counter()
            try:
                for name, m in MODELS.items():
                    s = TorchPC(m["dims"], m["batch"])
                    s.compile()
                    s()  # compiles
                    s()
                    compiled[name] = s
                    if time.perf_counter() - t0 > args.compile_limit:
                        raise TimeoutError(f"compiling took {time.perf_counter() - t0:.0f} s")
                compile_note = f"torch.compile: compiled in {time.perf_counter() - t0:.1f} s"
            except Exception as e:  # noqa: BLE001 - any failure means: not available here
                compiled = {}
                compile_note = f"torch.compile: not available ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
        else:
            compile_note = "torch.compile: left out (--no-compile)"
        print("   " + compile_note)
        for line in check_agreement(args.binary, {n: s.fn for n, s in compiled.items()}):
            print(line)
        plait_t = {n: [] for n in MODELS}
        floor_t = {n: [] for n in MODELS}
        eager_t = {n: [] for n in MODELS}
        comp_t = {n: [] for n in MODELS}
        for r in range(rounds):
            out = subprocess.run([args.binary, "--torch-side", str(min_time)], env=one_thread_env(), check=True,
                                 capture_output=True, text=True).stdout
            p = json.loads(out.strip().splitlines()[-1])
            for name in MODELS:
                plait_t[name].append(p[name])
                floor_t[name].append(p["floor_" + name])
                eager_t[name].append(time_torch(steps[name], min_time))
                if name in compiled:
                    comp_t[name].append(time_torch(compiled[name], min_time))
            print(f"   round {r + 1}/{rounds}: " + "  ".join(
                f"{n} plait {plait_t[n][-1] * 1e6:.0f} us eager {eager_t[n][-1] * 1e6:.0f} us" for n in MODELS),
                file=sys.stderr, flush=True)
        med = statistics.median
        fmt = lambda v: f"{med(v) * 1e6:.1f} [{min(v) * 1e6:.1f}..{max(v) * 1e6:.1f}]"
        print(f"   {'model':23} {'batch':>5} {'plait us':>24} {'eager us':>24} {'eager/plait':>11} "
              f"{'compile us':>24} {'compile/plait':>13} {'GEMM floor us':>13} {'plait/floor':>11}")
        for name, m in MODELS.items():
            pt, et, ft = med(plait_t[name]), med(eager_t[name]), med(floor_t[name])
            ct = med(comp_t[name]) if comp_t[name] else None
            print(f"   {m['label']:23} {m['batch']:5} {fmt(plait_t[name]):>24} {fmt(eager_t[name]):>24} {et / pt:11.2f} "
                  + (f"{fmt(comp_t[name]):>24} {ct / pt:13.2f}" if ct else f"{'not available':>24} {'-':>13}")
                  + f" {ft * 1e6:13.1f} {pt / ft:11.3f}")
            result[f"plait_{name}_us"] = round(pt * 1e6, 1)
            result[f"eager_{name}_us"] = round(et * 1e6, 1)
            result[f"compile_{name}_us"] = round(ct * 1e6, 1) if ct else "na"
            result[f"floor_{name}_us"] = round(ft * 1e6, 1)
            result[f"speedup_{name}"] = round(et / pt, 2)
            result[f"speedup_compile_{name}"] = round(ct / pt, 2) if ct else "na"
        print("   GEMM floor: plait's step's own GEMMs alone, same shapes, in the same binary run; eager / floor is "
              "the most any\n   implementation of these products could gain on PyTorch eager here: "
              + ", ".join(f"{n} {med(eager_t[n]) / med(floor_t[n]):.2f}" for n in MODELS))

    if args.only in (None, "parallel"):
        result.update(run_binary(args.binary, "--parallel", *quick))

    print(f"\n(run took {time.perf_counter() - t_start:.0f} s)")
    order = ["torch", "pc_ms", "floor_ms", "backprop_ms", "pc_floor_ratio", "pc_over_backprop", "plait_small_us",
             "eager_small_us", "compile_small_us", "floor_small_us", "plait_fmnist_us", "eager_fmnist_us",
             "compile_fmnist_us", "floor_fmnist_us", "speedup_small", "speedup_fmnist", "speedup_compile_small",
             "speedup_compile_fmnist", "wide_single_ms", "wide_pipeline2_ms",
             "layer_parallel_speedup", "parallel_ceiling", "layer_parallel_efficiency"]
    keys = [k for k in order if k in result] + [k for k in result if k not in order]
    print("RESULT pc " + " ".join(f"{k}={result[k]}" for k in keys), flush=True)


if __name__ == "__main__":
    main()
