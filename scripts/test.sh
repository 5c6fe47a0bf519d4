#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/setup.sh), configures a Release build with tests,
# examples and benchmarks, builds everything and runs CTest. Exits non-zero on any failure.
#
#   scripts/test.sh                          build/, every test
#   scripts/test.sh --sanitize=address       build-address/ with -DPLAIT_SANITIZE=address, unit tests only
#                   --sanitize=undefined|thread
#   scripts/test.sh [...] -- CTEST_ARGS...   extra arguments for ctest, e.g. -- -R shape -V
#
# Environment: PLAIT_JOBS (build and test jobs, default 2).
set -euo pipefail

usage() { sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
fail() { printf 'plait: %s. %s. Fix: %s.\n' "$1" "$2" "$3" >&2; exit 1; }

sanitize=""
ctest_extra=()
while (($#)); do
  case "$1" in
    --sanitize=address | --sanitize=undefined | --sanitize=thread) sanitize=${1#--sanitize=} ;;
    --sanitize=* | --sanitize)
      name=${1#--sanitize}
      fail "unknown sanitizer '${name#=}'" "plait builds with address, undefined or thread" "use --sanitize=address, --sanitize=undefined or --sanitize=thread" ;;
    --) shift; ctest_extra=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) fail "unknown option '$1'" "scripts/test.sh takes --sanitize=<name> and, after --, arguments for ctest" "run scripts/test.sh --help" ;;
  esac
  shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${PLAIT_JOBS:-2}

build=build
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DPLAIT_BUILD_TESTS=ON -DPLAIT_BUILD_EXAMPLES=ON -DPLAIT_BUILD_BENCH=ON)
# The tests are compiled at -O0 (they run in seconds either way), the benchmarks, only compiled here, go
# through the compiler's front end only, and the examples, which are smoke-run, are compiled at -O1
# (tests/CMakeLists.txt says what each saves; scripts/demo.sh puts the examples back on Release's flags;
# bench/run builds in a tree of its own).
cmake_args+=(-DPLAIT_TEST_OPTIMIZE=-O0 -DPLAIT_EXAMPLES_OPTIMIZE=-O1 -DPLAIT_BENCH_CHECK_ONLY=ON)
ctest_args=(--output-on-failure -j "$jobs" --no-tests=error --timeout 600)  # 600 s: for tests without a TIMEOUT of their own
# Without a GPU the CUDA translation units are only checked, to keep them compiling; they cannot run, so
# the CUDA test programs go through nvcc's front end only (PLAIT_CUDA_FRONT_END_ONLY: 39% of the largest one's
# compile; the root CMakeLists.txt says what it checks), and the two built whole have their host half
# compiled without optimisation (about 40% less) and their device half to PTX only (no sm_90 machine code:
# nothing could load it). On a machine where a GPU answers they are built as Release for the project's
# architectures, to be run.
if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; }; then
  cmake_args+=("-DCMAKE_CUDA_FLAGS_RELEASE=-O0 -DNDEBUG" -DPLAIT_CUDA_FRONT_END_ONLY=ON)
  [[ -n ${CUDAARCHS:-} ]] || cmake_args+=(-DCMAKE_CUDA_ARCHITECTURES=90-virtual)
else
  cmake_args+=("-DCMAKE_CUDA_FLAGS_RELEASE=-O3 -DNDEBUG" -DPLAIT_CUDA_FRONT_END_ONLY=OFF)
fi
if [[ -n $sanitize ]]; then
  build=build-$sanitize
  cmake_args+=("-DPLAIT_SANITIZE=$sanitize" -DPLAIT_TEST_OPTIMIZE=-O1)  # instrumented code is slow at -O0
  ctest_args+=(-L unit)
  # libgomp and OpenBLAS are not built with the sanitizers: ThreadSanitizer cannot see their
  # synchronisation and reports races inside them. With one thread each they start no threads, and
  # plait's own threads (devices, communication workers, the loader) are what is checked.
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PLAIT_MAX_THREADS=1
fi

# Phases are timed; the summary is printed however the script ends.
timings=()
tests_ran=0
summary() {
  local rc=$?
  ((${#timings[@]})) && printf 'plait test: %s\n' "${timings[@]}"
  # The fuzz tests' executions per target (tests/fuzz/run_fuzz.sh prints them), also when they pass.
  ((tests_ran)) && { grep -h '^plait fuzz: ' "$build/Testing/Temporary/LastTest.log" 2>/dev/null || true; }
  if ((rc == 0)); then echo "plait test: passed ($build)"; else echo "plait test: FAILED ($build, exit $rc)" >&2; fi
}
trap summary EXIT
phase() {  # phase <name> <command...>
  local name=$1 t0=${EPOCHREALTIME/[.,]/} rc=0 note=""
  shift
  echo "plait test: --- $name: $*"
  "$@" || rc=$?
  local ds=$(((${EPOCHREALTIME/[.,]/} - t0) / 100000))  # tenths of a second
  ((rc == 0)) || note="  (failed, exit $rc)"
  timings+=("$(printf '%-9s %5d.%d s%s' "$name" $((ds / 10)) $((ds % 10)) "$note")")
  return "$rc"
}

phase setup bash scripts/setup.sh

if [[ -f $build/CMakeCache.txt ]] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$build/CMakeCache.txt"; then
  fail "$build/ was configured with another CMake generator" "The scripts build with Ninja" "remove $build/ (rm -rf $build) and run scripts/test.sh again"
fi

phase configure cmake -S . -B "$build" -G Ninja "${cmake_args[@]}"
phase build cmake --build "$build" --parallel "$jobs"
tests_ran=1
phase test ctest --test-dir "$build" "${ctest_args[@]}" "${ctest_extra[@]}"
