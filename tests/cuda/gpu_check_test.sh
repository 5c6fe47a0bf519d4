#!/usr/bin/env bash
# CTest gpu_check: scripts/gpu_check.sh in its no-GPU form on the main build tree (its CUDA targets are
# built by then: no second build), with --deps on two small .deb files made here by dpkg-deb, as
# scripts/setup.sh --download would leave them: a header, and a library with a link whose target is
# absolute (as zlib1g-dev's libz.so is). They must be unpacked into OUTDIR/prefix, the link pointed into
# the prefix, the configure given the prefix, and a second run must keep the prefix it unpacked.
#
#   gpu_check_test.sh SOURCE_DIR BUILD_DIR OUTDIR
set -euo pipefail
root=$1 build=$2 out=$3
fail() { printf 'plait: %s. %s. Fix: %s.\n' "$1" "$2" "$3" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/debs"
deps=()
if command -v dpkg-deb >/dev/null 2>&1; then
  make_deb() {  # make_deb NAME: a package of the files that its src/NAME folder holds
    printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: plait <plait@localhost>\nDescription: a gpu_check test package\n' \
      "$1" >"$out/src/$1/DEBIAN/control"
    dpkg-deb --build --root-owner-group "$out/src/$1" "$out/debs/$1.deb" >/dev/null
  }
  mkdir -p "$out/src/probe-dev/DEBIAN" "$out/src/probe-dev/usr/include" "$out/src/probe-dev/usr/lib/x86_64-linux-gnu"
  echo '#define PLAIT_GPU_CHECK_PROBE 1' >"$out/src/probe-dev/usr/include/plait_gpu_check_probe.h"
  ln -s /lib/x86_64-linux-gnu/libplaitprobe.so.1 "$out/src/probe-dev/usr/lib/x86_64-linux-gnu/libplaitprobe.so"
  make_deb probe-dev
  mkdir -p "$out/src/probe1/DEBIAN" "$out/src/probe1/lib/x86_64-linux-gnu"
  echo 'not a library' >"$out/src/probe1/lib/x86_64-linux-gnu/libplaitprobe.so.1"
  make_deb probe1
  deps=(--deps "$out/debs")
else
  echo "gpu_check_test: no dpkg-deb here: gpu_check.sh runs without --deps"
fi

run() { bash "$root/scripts/gpu_check.sh" "$out/run" --no-gpu --reuse-build "$build" --jobs 2 "${deps[@]}"; }
run || fail "scripts/gpu_check.sh failed in its no-GPU form" "CI runs it so that the GPU machine's script keeps working" \
            "read $out/run/summary.txt and the logs beside it"
grep -q '^verdict: passed: configure and build; the rest was skipped' "$out/run/summary.txt" ||
  fail "summary.txt has no verdict that says what was skipped" "Without a GPU the script must say so" "read $out/run/summary.txt"
((${#deps[@]})) || exit 0

prefix=$out/run/prefix
[[ -f $prefix/usr/include/plait_gpu_check_probe.h ]] ||
  fail "the test package's header is not in $prefix" "The --deps option unpacks every .deb of its folder there" "read $out/run/deps.log"
link=$(readlink "$prefix/usr/lib/x86_64-linux-gnu/libplaitprobe.so")
[[ $link == "$prefix/lib/x86_64-linux-gnu/libplaitprobe.so.1" ]] ||
  fail "the link libplaitprobe.so points to $link" "A link with an absolute target that the prefix holds must point into the prefix" \
       "read unpack_debs in scripts/gpu_check.sh"
grep -q "^CMAKE_PREFIX_PATH:[A-Z]*=$prefix/usr;$prefix\$" "$out/run/configure/CMakeCache.txt" ||
  fail "the configure was not given the prefix" "CMake finds the offline libraries through CMAKE_PREFIX_PATH" "read $out/run/configure.log"
run >/dev/null || fail "the second run of scripts/gpu_check.sh failed" "A second run reuses what the first unpacked" "read $out/run/summary.txt"
grep -q 'holds these 2 packages already' "$out/run/deps.log" ||
  fail "the second run unpacked the packages again" "A prefix unpacked from the same files is kept" "read $out/run/deps.log"
echo "gpu_check_test: passed"
