#!/bin/sh
# Compiler launcher for translation units that are only checked, never linked or run (the compile-fail tests'
# twins, the headers check's units, and the benchmarks in scripts/test.sh's build). It runs the compile
# command it is given with -fsyntax-only: the whole front end (parsing, template instantiation, constant
# evaluation, the front end's warnings), without code generation, which is up to 30-50% of such a unit's
# compile at -O0 (little where parsing or constant evaluation is most of it). Then it creates the
# object file the command names, empty, so that the build tool sees the unit as up to date.
out=
prev=
for arg in "$@"; do
  [ "$prev" = -o ] && out=$arg
  prev=$arg
done
"$@" -fsyntax-only || exit
if [ -n "$out" ]; then : >"$out"; fi
