#!/usr/bin/env bash
# Installs the Debian packages that plait needs, and only those that are missing.
# Idempotent: when everything is present it changes nothing and runs no apt-get at all.
#
#   scripts/setup.sh            build, test and examples: compiler, CMake, Ninja, OpenBLAS, Thrust, doctest,
#                               Google Benchmark, zlib, nlohmann_json, Open MPI, the Fashion-MNIST data set,
#                               clang (fuzzing)
#   scripts/setup.sh --bench    also what bench/ needs to compare with PyTorch, and only that: nothing when
#                               a Python with torch and safetensors is there already (scripts/bench_python.sh finds it)
#   scripts/setup.sh --mpi      accepted for older commands: Open MPI is now in the default set
#   scripts/setup.sh --dry-run  only print what would be installed
#   scripts/setup.sh --download DIR
#                               installs nothing: downloads (apt-get download, no root) into DIR the Debian 12
#                               .deb files of what a GPU machine without them needs to build plait's CUDA
#                               targets and tests: OpenBLAS, doctest, Google Benchmark, zlib, with their
#                               libraries; scripts/gpu_check.sh OUTDIR --deps DIR unpacks them there offline
#
# Runs apt-get as root, through sudo when not root, and otherwise prints what to install.
set -euo pipefail

usage() { sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

fail() {  # fail <what> <why> <how>: the one message format of plait
  printf 'plait: %s. %s. Fix: %s.\n' "$1" "$2" "$3" >&2
  exit 1
}

want_bench=0
dry_run=0
download=""
while (($#)); do
  case "$1" in
    --bench) want_bench=1 ;;
    --mpi) ;;  # Open MPI is in the default set; the option stays for older commands
    --dry-run) dry_run=1 ;;
    --download)
      (($# >= 2)) || fail "--download was given without a folder" "The .deb files are written there" "run scripts/setup.sh --download DIR"
      download=$2
      shift ;;
    -h | --help) usage; exit 0 ;;
    *) fail "unknown option '$1'" "scripts/setup.sh takes --bench, --mpi, --dry-run, --download DIR" "run scripts/setup.sh --help" ;;
  esac
  shift
done

# --- offline: the .deb files for a GPU machine without network ---------------------------------------------

# What a GPU machine with the CUDA toolkit, CMake, Ninja and a compiler but none of Debian's -dev packages
# lacks for plait's CUDA targets, tests and benchmark: the -dev packages and the libraries they link
# (OpenBLAS's pthread flavour and its Fortran runtime; zlib1g for the libz.so link; oneDNN and the OpenCL
# loader its Debian build links). libc, libstdc++ and
# libgomp come with the compiler and are left out: a second libc in the prefix would not load.
offline_packages=(
  doctest-dev
  libopenblas-dev libopenblas-pthread-dev libopenblas0 libopenblas0-pthread libgfortran5 libquadmath0
  libbenchmark-dev libbenchmark1debian
  zlib1g-dev zlib1g
  libdnnl-dev libdnnl2 ocl-icd-libopencl1
)
if [[ -n $download ]]; then
  command -v apt-get >/dev/null 2>&1 ||
    fail "apt-get was not found" "--download fetches Debian 12's .deb files through apt" "run it on a connected Debian 12 machine"
  mkdir -p "$download" || fail "'$download' cannot be created" "The .deb files go there" "name a writable folder"
  if ((dry_run)); then
    echo "plait setup: would download ${offline_packages[*]} into $download"
    exit 0
  fi
  (cd "$download" && apt-get download "${offline_packages[@]}") ||
    fail "apt-get download failed for ${offline_packages[*]}" "The package lists may be missing or stale, or the mirror unreachable" \
         "run apt-get update as root and check the network, then rerun scripts/setup.sh --download $download"
  echo "plait setup: ${#offline_packages[@]} packages in $download; on the GPU machine: scripts/gpu_check.sh OUTDIR --deps $download"
  exit 0
fi

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
  libdnnl-dev            # oneDNN: host convolutions and bf16 matrix products (plait::plait)
  libbenchmark-dev       # bench/ (Google Benchmark)
  dataset-fashion-mnist  # the real data set of examples and tests (/usr/share/datasets/fashion-mnist)
  zlib1g-dev             # reading the gzip'd IDX files (plait::plait)
  nlohmann-json3-dev     # JSON headers of safetensors checkpoints (plait::plait, io/safetensors.hpp)
  openmpi-bin            # mpiexec: tests/mpi/ and bench allreduce_mpi run under it
  libopenmpi-dev         # mpi.h and libmpi for plait::mpi (optional: the host core never includes mpi.h)
  clang                  # clang++ 14 builds the fuzz targets of the data readers (tests/fuzz, label fuzz)
  libclang-rt-14-dev     # libFuzzer and the sanitizer runtimes that clang++ -fsanitize=fuzzer links
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

# The benchmark side: bench/ compares plait with PyTorch on the same models. When the Python that
# scripts/bench_python.sh picks has torch already ($PLAIT_BENCH_PYTHON, the venv below, or python3 on
# PATH), nothing is installed for it. Otherwise the newest PyTorch that installs here: PyPI's build in a
# virtual environment outside the tree, $PLAIT_BENCH_VENV (default ~/.cache/plait/bench-venv), for which
# Debian's python3-venv is installed where venv cannot make one; Debian's python3-torch (1.13, CPU, about
# 170 packages) only as the fallback when PyPI's does not install.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench_venv=0  # whether bench_python_check makes the venv
bench_packages() {
  local python
  python=$(bash "$here/bench_python.sh")
  if "$python" -c 'import torch, safetensors' 2>/dev/null; then
    echo "plait setup: bench/ uses the PyTorch of $python; nothing to install for it"
    return
  fi
  if "$python" -c 'import torch' 2>/dev/null; then  # the checkpoint interchange tests also read safetensors files
    "$python" -m pip install -q safetensors 2>/dev/null ||
      echo "plait setup: safetensors did not install for $python; the PyTorch interchange tests will be skipped" >&2
    return
  fi
  [[ -z ${PLAIT_BENCH_PYTHON:-} ]] || return 0  # the user's choice: bench_python_check says what it lacks
  python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
  bench_venv=1
}
bench_python_check() {
  local venv=${PLAIT_BENCH_VENV:-$HOME/.cache/plait/bench-venv}
  if ((bench_venv && dry_run)); then
    echo "plait setup: --dry-run: PyPI's newest torch would be installed into $venv"
    return 0
  fi
  if ((bench_venv)); then
    echo "plait setup: installing PyPI's newest torch into $venv (several GB, once)"
    { python3 -m venv "$venv" && "$venv/bin/pip" install -q --upgrade pip && "$venv/bin/pip" install -q torch numpy safetensors; } || {
      echo "plait setup: PyPI's torch did not install; bench/ falls back to Debian's python3-torch" >&2
      is_installed python3-torch || install_missing python3-torch
    }
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

install_missing() {  # install_missing PACKAGES...: apt-get install, as root
  local missing=("$@")
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
}

missing=()
for p in "${packages[@]}"; do
  is_installed "$p" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "plait setup: all ${#packages[@]} Debian packages are installed; nothing to do"
else
  install_missing "${missing[@]}"
fi

((want_bench)) && bench_python_check
exit 0
