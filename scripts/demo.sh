#!/usr/bin/env bash
# The main demo: installs what is missing (scripts/setup.sh), builds plait's Release build in build/ with
# Ninja, and trains on Fashion-MNIST with examples/00_fashion_mnist.cpp.
#
#   scripts/demo.sh [ARGS...]    ARGS are passed to build/examples/00_fashion_mnist
#
# Environment: PLAIT_JOBS (parallel build jobs, default: Ninja's choice).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup.sh

build=build
if [[ -f $build/CMakeCache.txt ]] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$build/CMakeCache.txt"; then
  printf 'plait: %s/ was configured with another CMake generator. The scripts build with Ninja. Fix: remove %s/ (rm -rf %s) and run scripts/demo.sh again.\n' \
    "$build" "$build" "$build" >&2
  exit 1
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLAIT_EXAMPLES_OPTIMIZE=  # Release's flags (scripts/test.sh uses -O1)
cmake --build "$build" --target 00_fashion_mnist ${PLAIT_JOBS:+--parallel "$PLAIT_JOBS"}
exec "$build/examples/00_fashion_mnist" "$@"
