#!/usr/bin/env bash
# launch_env.sh N PORT PROGRAM [ARGS...]: starts N processes of PROGRAM on this node as torchrun would,
# without MPI: RANK and LOCAL_RANK 0 .. N-1, WORLD_SIZE=LOCAL_WORLD_SIZE=N, NCCL_COMM_ID=127.0.0.1:PORT.
# Exits 0 when every process does, 77 (skipped) when every process does, else the first other code.
set -u
n=$1 port=$2
shift 2
pids=()
for ((r = 0; r < n; ++r)); do
  RANK=$r LOCAL_RANK=$r WORLD_SIZE=$n LOCAL_WORLD_SIZE=$n NCCL_COMM_ID=127.0.0.1:$port "$@" &
  pids+=($!)
done
codes=()
for pid in "${pids[@]}"; do
  wait "$pid"
  codes+=($?)
done
echo "launch_env.sh: exit codes ${codes[*]}"
all=${codes[0]}
for c in "${codes[@]}"; do
  if ((c != all)); then
    for d in "${codes[@]}"; do ((d != 0 && d != 77)) && exit "$d"; done
    exit 1  # some skipped while others ran
  fi
done
exit "$all"
