"""Checkpoints between plait and PyTorch (io/checkpoint.hpp), both ways, with real torch and safetensors:
plait's save_weights loads into the same nn.Sequential with load_state_dict(strict=True) and predicts what
plait predicts; a module's safetensors.torch.save_file(state_dict) loads into plait and predicts alike.

    python torch_interchange.py HELPER   (HELPER: the io_torch_interchange_helper executable)

Exits 77 (CTest's skip) with one line when torch or safetensors cannot be imported."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    from torch import nn
    from safetensors.torch import load_file, save_file
except ImportError as e:
    print(f"skipped: PyTorch and safetensors are needed ({e}); scripts/setup.sh --bench installs them")
    sys.exit(77)

TOLERANCE = 1e-5
ROWS = 16


def mlp():
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 5))


def cnn():
    return nn.Sequential(nn.Conv2d(3, 6, 3, 1, 1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3),
                         nn.ReLU(), nn.Flatten(), nn.Linear(72, 10))


MODELS = {"mlp": (mlp, (20,), 5), "cnn": (cnn, (3, 10, 10), 10)}


def floats(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(shape))


def main():
    helper = sys.argv[1]
    worst = 0.0
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([helper, "save", d], check=True)
        torch.manual_seed(0)
        for name, (make, in_shape, out) in MODELS.items():
            x = floats(os.path.join(d, f"{name}_x.bin"), (ROWS, *in_shape))
            # plait -> PyTorch
            module = make()
            module.load_state_dict(load_file(os.path.join(d, f"{name}.safetensors")), strict=True)
            module.eval()
            with torch.no_grad():
                got = module(x)
            want = floats(os.path.join(d, f"{name}_plait.bin"), (ROWS, out))
            diff = (got - want).abs().max().item()
            print(f"{name}: plait -> PyTorch, max abs difference of predictions {diff:.3g}")
            worst = max(worst, diff)
            # PyTorch -> plait: a module of its own initialisation, its running statistics moved off 0 and 1
            theirs = make()
            for m in theirs.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.data.uniform_(0.5, 1.5)
                    m.bias.data.uniform_(-0.2, 0.2)
            theirs.eval()
            save_file(theirs.state_dict(), os.path.join(d, f"torch_{name}.safetensors"))
            with torch.no_grad():
                theirs_out = theirs(x)
            np.asarray(theirs_out.numpy(), dtype="<f4").tofile(os.path.join(d, f"{name}_torch.bin"))
        subprocess.run([helper, "load", d], check=True)
        for name, (make, in_shape, out) in MODELS.items():
            got = floats(os.path.join(d, f"{name}_from_torch.bin"), (ROWS, out))
            want = floats(os.path.join(d, f"{name}_torch.bin"), (ROWS, out))
            diff = (got - want).abs().max().item()
            print(f"{name}: PyTorch -> plait, max abs difference of predictions {diff:.3g}")
            worst = max(worst, diff)
    print(f"max abs difference {worst:.3g} (tolerance {TOLERANCE:g}), torch {torch.__version__}")
    if worst > TOLERANCE:
        sys.exit(1)


if __name__ == "__main__":
    main()
