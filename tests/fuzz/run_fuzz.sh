#!/bin/sh
# Runs one fuzz target for a bounded time on a scratch copy of its seed corpus (the repository is not
# written), then prints the number of executions. CTest runs it for the tests labelled `fuzz`.
#
#   run_fuzz.sh TARGET SEED_DIR SCRATCH_DIR SECONDS [LIBFUZZER_OPTIONS...]
#
# A finding (crash, sanitizer report, plait fuzz: wrong result, an allocation over 512 MB) fails the
# test; the input that caused it is left in SCRATCH_DIR as crash-*, oom-*, leak-* or timeout-*.
set -eu
if [ $# -lt 4 ]; then
  echo "plait: run_fuzz.sh needs 4 arguments. It runs TARGET on a copy of SEED_DIR in SCRATCH_DIR for SECONDS." \
    "Fix: run_fuzz.sh TARGET SEED_DIR SCRATCH_DIR SECONDS [options]." >&2
  exit 2
fi
target=$1 seeds=$2 scratch=$3 seconds=$4
shift 4
rm -rf "$scratch"
mkdir -p "$scratch/corpus"
cp "$seeds"/* "$scratch/corpus/"
# Each input is written to a file before it is read: in memory (/dev/shm) that is about 15 times faster
# than on disk.
tmp=$(mktemp -d /dev/shm/plait_fuzz.XXXXXX 2>/dev/null) || { tmp=$scratch/tmp; mkdir -p "$tmp"; }
trap 'rm -rf "$tmp"' EXIT
status=0
TMPDIR="$tmp" "$target" -max_total_time="$seconds" -rss_limit_mb=512 -timeout=10 \
  -artifact_prefix="$scratch/" "$@" "$scratch/corpus" >"$scratch/fuzz.log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  tail -n 60 "$scratch/fuzz.log"
else
  grep -E '^(INFO: Seed|#[0-9]+ *DONE|Done [0-9]+ runs)' "$scratch/fuzz.log" || true
fi
runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$scratch/fuzz.log")
inputs=$(ls "$scratch/corpus" | wc -l)
echo "plait fuzz: $(basename "$target"): ${runs:-no} executions in $seconds s, $inputs inputs in the corpus, exit $status"
exit "$status"
