#!/usr/bin/env bash
# scripts/gpu_check.sh OUTDIR [options] [-- CMAKE_ARGS...]: plait's CUDA code on a GPU machine in one run.
# Configures with -DCMAKE_CUDA_ARCHITECTURES=90, builds only the CUDA targets (plait_cuda_checks) with every
# core, runs the CUDA tests (and the NCCL ones where MPI is found), compute-sanitizer's memcheck and racecheck
# on the backend and local-communicator tests, and `bench/run gpu_step_vs_torch --quick`; every log and a
# one-page summary.txt go into OUTDIR. Without a GPU (or with --no-gpu) only configure and build run, and
# the summary says the rest was skipped.
#
#   --deps DIR          Debian 12 .deb files (made on a connected machine by scripts/setup.sh --download DIR):
#                       unpacked with dpkg -x into OUTDIR/prefix (no apt, no network); CMake finds OpenBLAS,
#                       doctest, Google Benchmark and zlib there, and the tests load their libraries from it
#   --reuse-build DIR   build the CUDA targets in DIR, a tree configured already (CI: the main build, built by
#                       then); the configure phase then configures OUTDIR/configure only, to check the flags
#   --jobs N            build jobs (default: every core)
#   --no-gpu            configure and build only, as on a machine without a GPU
#   -- CMAKE_ARGS...    more configure arguments, e.g. -DCMAKE_SYSTEM_IGNORE_PREFIX_PATH=/usr to use OUTDIR/prefix alone
#
# Each phase has its own limit in seconds (PLAIT_GPU_CHECK_<PHASE>_S overrides one), 9 minutes in all:
#   deps 30, configure 60, build 180, test 90, memcheck 45, racecheck 45, bench 90
# Exit status: 0 when every phase that ran passed, 1 when one failed or ran out of time, 2 for a usage error.
set -uo pipefail  # not -e: a failed phase is recorded and the phases after it still run where they can

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() { sed -n '2,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
fail() { printf 'plait: %s. %s. Fix: %s.\n' "$1" "$2" "$3" >&2; exit 2; }

out="" deps="" reuse="" jobs=$(nproc 2>/dev/null || echo 2) no_gpu=0 cmake_extra=()
while (($#)); do
  case "$1" in
    --deps | --reuse-build | --jobs)
      (($# >= 2)) || fail "$1 was given without a value" "It names a folder or a count" "run scripts/gpu_check.sh --help"
      case "$1" in --deps) deps=$2 ;; --reuse-build) reuse=$2 ;; --jobs) jobs=$2 ;; esac
      shift ;;
    --no-gpu) no_gpu=1 ;;
    --) shift; cmake_extra=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    -*) fail "unknown option '$1'" "scripts/gpu_check.sh takes --deps, --reuse-build, --jobs, --no-gpu and, after --, CMake arguments" \
             "run scripts/gpu_check.sh --help" ;;
    *) [[ -z $out ]] || fail "two output folders were given ('$out' and '$1')" "The script writes into one" "name one OUTDIR"
       out=$1 ;;
  esac
  shift
done
[[ -n $out ]] || fail "no output folder was given" "scripts/gpu_check.sh writes its logs and summary.txt there" \
                      "run scripts/gpu_check.sh OUTDIR (e.g. /tmp/gpu-check)"
mkdir -p "$out" || fail "OUTDIR '$out' cannot be created" "The logs go there" "name a writable folder"
out=$(cd "$out" && pwd)
if [[ -n $deps ]]; then
  [[ -d $deps ]] || fail "--deps names '$deps', which is not a folder" "It should hold the .deb files of scripts/setup.sh --download" \
                         "run scripts/setup.sh --download DIR on a connected machine and copy DIR here"
  deps=$(cd "$deps" && pwd)
fi
if [[ -n $reuse ]]; then
  [[ -f $reuse/CMakeCache.txt ]] || fail "--reuse-build names '$reuse', which is no configured build tree" \
                                         "The CUDA targets are built in a tree that CMake has configured" "configure it first, or leave --reuse-build out"
  reuse=$(cd "$reuse" && pwd)
fi
command -v timeout >/dev/null 2>&1 || fail "timeout was not found" "Every phase runs under a time limit" "install coreutils"

# --- phases -------------------------------------------------------------------------------------------------

rows=()  # the summary's table
failed=0
phase() {  # phase NAME LIMIT_S COMMAND...: COMMAND under its limit, its output in OUTDIR/NAME.log
  local name=$1 limit=$2
  shift 2
  local var="PLAIT_GPU_CHECK_${name^^}_S"
  limit=${!var:-$limit}
  local t0=$SECONDS rc=0 state=passed
  echo "gpu_check: --- $name (at most $limit s): $*"
  timeout --kill-after=10 "$limit" "$@" >"$out/$name.log" 2>&1 || rc=$?
  if ((rc == 124 || rc == 137)); then state="TIMED OUT at $limit s"
  elif ((rc != 0)); then state="FAILED (exit $rc)"; fi
  ((rc == 0)) || failed=1
  rows+=("$(printf '%-10s %-22s %4d s   %s' "$name" "$state" $((SECONDS - t0)) "$name.log")")
  echo "gpu_check: $name: $state"
  ((rc == 0)) || tail -n 15 "$out/$name.log" | sed 's/^/  | /'
  return "$rc"
}
skip() { rows+=("$(printf '%-10s %-22s %6s   %s' "$1" skipped "" "$2")"); echo "gpu_check: $1: skipped ($2)"; }

# Unpacks every .deb of DIR into PREFIX (dpkg -x; ar and tar where dpkg is missing). Links with absolute
# targets that the prefix holds (zlib1g-dev's libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13) are
# pointed into it. A prefix unpacked from the same files before is kept.
unpack_debs() {
  local dir=$1 prefix=$2 deb link target
  shopt -s nullglob
  local debs=("$dir"/*.deb)
  if ((${#debs[@]} == 0)); then
    printf 'plait: no .deb files in %s. The offline build takes its libraries from them. Fix: run scripts/setup.sh --download DIR on a connected machine and copy DIR here.\n' "$dir"
    return 1
  fi
  local stamp
  stamp=$(cd "$dir" && ls -l -- *.deb)
  if [[ -f $prefix/.unpacked && "$(cat "$prefix/.unpacked")" == "$stamp" ]]; then
    echo "$prefix holds these ${#debs[@]} packages already"
    return 0
  fi
  rm -rf "$prefix" && mkdir -p "$prefix" || return 1
  for deb in "${debs[@]}"; do
    if command -v dpkg-deb >/dev/null 2>&1; then
      dpkg-deb -x "$deb" "$prefix" || return 1
    else
      local tmp
      tmp=$(mktemp -d) && (cd "$tmp" && ar x "$deb") && tar -xf "$tmp"/data.tar.* -C "$prefix" || return 1
      rm -rf "$tmp"
    fi
    echo "unpacked ${deb##*/}"
  done
  while IFS= read -r link; do
    target=$(readlink "$link")
    if [[ $target == /* && -e $prefix$target ]]; then
      ln -sfn "$prefix$target" "$link" && echo "relinked ${link#"$prefix"} -> $prefix$target"
    fi
  done < <(find "$prefix" -type l)
  echo "$stamp" >"$prefix/.unpacked"
}

# Configures DIR (cmake ARGS...), then checks that the CUDA targets are there (nvcc was found).
configure() {
  local dir=$1
  shift
  cmake -S "$root" -B "$dir" "$@" || return 1
  if ! cmake --build "$dir" --target help | grep -q '^plait_cuda_checks:'; then
    echo "plait: the configured tree has no CUDA targets. CMake found no nvcc (see 'plait: no nvcc' above). Fix: put the CUDA toolkit's bin/ on PATH or pass -- -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc."
    return 1
  fi
}

# The backend and local-communicator tests under compute-sanitizer --tool TOOL, each with half the phase's time.
# CUDA API errors are not the sanitizer's to report here: plait checks every call itself, and tests provoke some.
sanitize() {
  local tool=$1 each=$2 rc=0 t
  for t in cuda_backend cuda_comm_local; do
    echo "=== compute-sanitizer --tool $tool $t"
    timeout --kill-after=5 "$each" "$sanitizer" --tool "$tool" --error-exitcode 99 --print-limit 50 --report-api-errors no "$build/tests/cuda/$t" || rc=1
  done
  return "$rc"
}
export -f unpack_debs configure sanitize
export root

# deps
prefix_args=() prefix_libs=""
if [[ -n $deps ]]; then
  prefix=$out/prefix
  if phase deps 30 bash -c 'unpack_debs "$1" "$2"' _ "$deps" "$prefix"; then
    prefix_args=("-DCMAKE_PREFIX_PATH=$prefix/usr;$prefix")
    prefix_libs=$(find "$prefix" -name '*.so*' -printf '%h\n' | sort -u | paste -sd: -)  # for the programs built, below
  fi
else
  skip deps "no --deps: the system's libraries"
fi

# configure
build=${reuse:-$out/build}
configured=$build
[[ -n $reuse ]] && configured=$out/configure
configure_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DPLAIT_BUILD_TESTS=ON
                -DPLAIT_BUILD_EXAMPLES=OFF -DPLAIT_BUILD_BENCH=ON "${prefix_args[@]}" "${cmake_extra[@]}")
configure_ok=0
phase configure 60 bash -c 'configure "$@"' _ "$configured" "${configure_args[@]}" && configure_ok=1

# build: every independent target builds even when one fails (-k 0), so the later phases see what can run
keep_going=(-k 0)  # Ninja's; a reused tree of another generator: make's -k
[[ -n $reuse ]] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$reuse/CMakeCache.txt" && keep_going=(-k)
if ((configure_ok)) || [[ -n $reuse ]]; then
  phase build 180 cmake --build "$build" --parallel "$jobs" --target plait_cuda_checks -- "${keep_going[@]}"
else
  skip build "configure failed"
fi

# The programs built load OpenBLAS (and its Fortran runtime) from the prefix; the build tools did not need to.
[[ -n $prefix_libs ]] && export LD_LIBRARY_PATH="$prefix_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# Is there a GPU? The CUDA runtime's answer (the benchmark's --probe), else nvidia-smi's.
gpu=""
if ((no_gpu)); then
  why="--no-gpu"
elif [[ -x $build/bench/bench_gpu_step_vs_torch ]]; then
  gpu=$("$build/bench/bench_gpu_step_vs_torch" --probe 2>/dev/null | sed -n 's/^device=//p')
  why="no CUDA device answers"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  gpu=$(nvidia-smi -L | head -n 1)
else
  why="no CUDA device answers (nvidia-smi)"
fi

sanitizer=$(command -v compute-sanitizer || echo "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer")
export build sanitizer
if [[ -z $gpu ]]; then
  for p in test memcheck racecheck bench; do skip "$p" "$why"; done
elif [[ ! -d $build/tests/cuda ]]; then
  for p in test memcheck racecheck bench; do skip "$p" "nothing was built"; done
  failed=1
elif grep -qx 'PLAIT_CUDA_FRONT_END_ONLY:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "plait: the reused tree $build checks its CUDA tests with nvcc's front end only. It was configured for a machine without a GPU (PLAIT_CUDA_FRONT_END_ONLY=ON), so there is nothing to run. Fix: reconfigure it with -DPLAIT_CUDA_FRONT_END_ONLY=OFF, or leave --reuse-build out."
  for p in test memcheck racecheck bench; do skip "$p" "the reused tree has no CUDA programs"; done
  failed=1
else
  # The CUDA tests, and the NCCL ones under mpiexec where MPI was found (one GPU: -n 2 skips itself).
  phase test 90 ctest --test-dir "$build" -L '^cuda$' -LE '^(fail|example)$' --output-on-failure --no-tests=error -j 4
  if [[ -x $sanitizer ]]; then
    limit=${PLAIT_GPU_CHECK_MEMCHECK_S:-45}
    phase memcheck "$limit" bash -c 'sanitize memcheck "$1"' _ $((limit / 2 - 3))
    limit=${PLAIT_GPU_CHECK_RACECHECK_S:-45}
    phase racecheck "$limit" bash -c 'sanitize racecheck "$1"' _ $((limit / 2 - 3))
  else
    rows+=("$(printf '%-10s %-22s' memcheck "FAILED: no compute-sanitizer")")
    rows+=("$(printf '%-10s %-22s' racecheck "FAILED: no compute-sanitizer")")
    failed=1
  fi
  phase bench 90 env PLAIT_BENCH_BUILD="$build" bash "$root/bench/run" gpu_step_vs_torch --quick --no-setup
fi

# --- summary ------------------------------------------------------------------------------------------------

{
  echo "plait gpu_check, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '(not a git tree)')"
  echo "machine: $(nproc 2>/dev/null) cores, $jobs build jobs; GPU: ${gpu:-none ($why)}"
  echo "CUDA: $( (nvcc --version 2>/dev/null || "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" --version 2>/dev/null) | grep -o 'release [0-9.]*' || echo 'no nvcc')"
  if [[ -n $deps ]]; then echo "libraries: unpacked from $deps into $out/prefix"; else echo "libraries: the system's"; fi
  echo "build tree: $build${reuse:+ (reused; configure checked in $out/configure)}"
  echo
  printf '%-10s %-22s %6s   %s\n' phase result time log
  printf '%s\n' "${rows[@]}"
  echo
  [[ -f $out/configure.log ]] && grep -h 'plait: \(plait::cuda\|no nvcc\|NCCL\|MPI\)\|required libraries are missing' "$out/configure.log" | sed 's/^-- /configure: /'
  [[ -f $out/build.log ]] && grep -h 'FAILED:' "$out/build.log" | head -n 10 | sed 's/^/build: /'
  [[ -f $out/test.log ]] && grep -h 'tests passed\|(Failed)\|(Timeout)\|(Not Run)\|Skipped' "$out/test.log" | sed 's/^ */test: /'
  for p in memcheck racecheck; do
    [[ -f $out/$p.log ]] && grep -h '^=== \|ERROR SUMMARY\|RACECHECK SUMMARY' "$out/$p.log" | sed "s/^/$p: /"
  done
  [[ -f $out/bench.log ]] && grep -h '^RESULT \|^skipped' "$out/bench.log" | sed 's/^/bench: /'
  echo
  if ((failed)); then
    echo "verdict: FAILED (the logs above name the phases)"
  elif [[ -z $gpu ]]; then
    echo "verdict: passed: configure and build; the rest was skipped ($why)"
  else
    echo "verdict: passed"
  fi
} >"$out/summary.txt"
echo
cat "$out/summary.txt"
exit "$failed"
