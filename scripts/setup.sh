#!/usr/bin/env bash
# Installs the Debian packages that plait needs, and only those that are missing.
# Idempotent: when everything is present it changes nothing and runs no apt-get at all.
#
#   scripts/setup.sh            build, test and examples: compiler, CMake, Ninja, OpenBLAS, Thrust, doctest,
#                               Google Benchmark, zlib, nlohmann_json, Open MPI, the Fashion-MNIST data set
#   scripts/setup.sh --bench    also what bench/ needs to compare with PyTorch
#   scripts/setup.sh --mpi      accepted for older commands: Open MPI is now in the default set
#   scripts/setup.sh --dry-run  only print what would be installed
#
# Runs apt-get as root, through sudo when not root, and otherwise prints what to install.
set -euo pipefail

usage() { sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

fail() {  # fail <what> <why> <how>: the one message format of plait
  printf 'plait: %s. %s. Fix: %s.\n' "$1" "$2" "$3" >&2
  exit 1
}

want_bench=0
dry_run=0
for arg in "$@"; do
  case "$arg" in
    --bench) want_bench=1 ;;
    --mpi) ;;  # Open MPI is in the default set; the option stays for older commands
    --dry-run) dry_run=1 ;;
    -h | --help) usage; exit 0 ;;
    *) fail "unknown option '$arg'" "scripts/setup.sh takes --bench, --mpi, --dry-run" "run scripts/setup.sh --help" ;;
  esac
done

command -v dpkg-query >/dev/null 2>&1 ||
  fail "dpkg-query was not found" "This script installs Debian packages with apt-get" \
       "on another system, install a C++20 compiler, CMake >= 3.25, Ninja, OpenBLAS, Thrust, doctest, Google Benchmark, zlib and (for plait::mpi) an MPI yourself"

# --- what plait needs -------------------------------------------------------------------------------

# Build, tests, examples and benchmarks of the host core.
packages=(
  build-essential        # g++ with OpenMP (libgomp), make
  cmake                  # >= 3.25
  ninja-build            # the generator the scripts use
  pkg-config
  doctest-dev            # tests/unit/
  libopenblas-dev        # CBLAS for the host GEMM (plait::plait)
  libbenchmark-dev       # bench/ (Google Benchmark)
  dataset-fashion-mnist  # the real data set of examples and tests (/usr/share/datasets/fashion-mnist)
  zlib1g-dev             # reading the gzip'd IDX files (plait::plait)
  nlohmann-json3-dev     # JSON headers of safetensors checkpoints (plait::plait, io/safetensors.hpp)
  openmpi-bin            # mpiexec: tests/mpi/ and bench allreduce_mpi run under it
  libopenmpi-dev         # mpi.h and libmpi for plait::mpi (optional: the host core never includes mpi.h)
)

# Thrust and CUB: the CUDA toolkit's CCCL when there is one (the same one nvcc uses), else Debian's.
have_cuda_cccl() {
  local dir
  for dir in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
    [[ -n "$dir" ]] || continue
    [[ -f "$dir/include/cccl/thrust/version.h" || -f "$dir/targets/x86_64-linux/include/cccl/thrust/version.h" ]] &&
      return 0
  done
  return 1
}
if have_cuda_cccl; then
  echo "plait setup: Thrust/CUB from the CUDA toolkit's CCCL"
else
  packages+=(libthrust-dev)
fi

# The benchmark side: bench/ compares plait with PyTorch on the same models, using the newest PyTorch
# that installs here: PyPI's build (it runs on the CPU) in a virtual environment outside the tree,
# $PLAIT_BENCH_VENV (default ~/.cache/plait/bench-venv). Debian's python3-torch (1.13, CPU) stays the
# fallback when PyPI cannot be reached. scripts/bench_python.sh prints the interpreter bench/ uses.
bench_packages() {
  packages+=(python3-torch python3-venv)
}
bench_python_check() {
  local venv=${PLAIT_BENCH_VENV:-$HOME/.cache/plait/bench-venv}
  if [[ -z ${PLAIT_BENCH_PYTHON:-} ]] && ! "$venv/bin/python" -c 'import torch, safetensors' 2>/dev/null && ((!dry_run)); then
    echo "plait setup: installing PyPI's newest torch into $venv (several GB, once)"
    { python3 -m venv "$venv" && "$venv/bin/pip" install -q --upgrade pip && "$venv/bin/pip" install -q torch numpy safetensors; } ||
      echo "plait setup: PyPI's torch did not install; bench/ falls back to Debian's python3-torch" >&2
  fi
  local python
  python=$(bash "$(dirname "${BASH_SOURCE[0]}")/bench_python.sh")
  "$python" -c 'import torch; print("plait setup: PyTorch", torch.__version__, "for", __import__("sys").executable)' ||
    fail "PyTorch does not import in $python" "The benchmarks in bench/ compare plait with PyTorch" \
         "rerun scripts/setup.sh --bench with PyPI reachable, or set PLAIT_BENCH_PYTHON to a Python that has torch"
}

((want_bench)) && bench_packages

# --- install what is missing ------------------------------------------------------------------------

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

missing=()
for p in "${packages[@]}"; do
  is_installed "$p" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "plait setup: all ${#packages[@]} Debian packages are installed; nothing to do"
else
  echo "plait setup: installing ${missing[*]}"
  if ((dry_run)); then
    echo "plait setup: --dry-run, nothing installed"
    exit 0
  fi
  if ((EUID == 0)); then
    as_root=(env)
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo env)
    [[ -t 0 ]] || as_root=(sudo -n env)  # no terminal (CI): fail instead of waiting for a password
  else
    fail "Debian packages are missing: ${missing[*]}" "plait needs them to build and test, and installing needs root (no sudo here)" \
         "as root, run: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  # One apt-get update, only because something is missing (a fresh machine may have no package lists).
  "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get update -q ||
    fail "apt-get update failed" "The package lists are needed to install ${missing[*]}" "check the network and /etc/apt/sources.list, then rerun scripts/setup.sh"
  "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    fail "apt-get install failed for ${missing[*]}" "plait needs them to build and test" "read apt-get's message above, then rerun scripts/setup.sh"
  echo "plait setup: installed ${missing[*]}"
fi

((want_bench)) && bench_python_check
exit 0
