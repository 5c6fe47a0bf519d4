#pragma once
// main() of a CUDA test: skipped (exit 77, CTest's SKIP_RETURN_CODE) with a one-line reason when no
// CUDA device answers, doctest's run otherwise.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <plait/backend/cuda/error.hpp>

int main(int argc, char** argv) {
  if (!plait::cuda_detail::cuda_device_answers()) {
    std::puts("skipped: no CUDA device answers (cudaGetDeviceCount found none); this test needs a GPU");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
