#pragma once
// step_count: the optimizer's step t (1 on the first step) as an optimizer receives it.
//
// What it represents: the value, and, on devices whose step may be replayed from a CUDA graph, where
// the device reads it (cuda_context::step_words): a value captured into a kernel would be the
// capture's on every replay. An optimizer whose update depends on t (Adam's bias correction) reads
// `*at` on the device when `at` is set; one that does not may take a std::size_t (it converts).
// `scalars` ([2] doubles on the same device, with `at`) is where such an optimizer may compute what it
// derives from t once per step, for its update kernel to read, instead of once per parameter.

#include <cstddef>
#include <cstdint>

namespace plait {

struct step_count {
  std::size_t value = 0;
  const std::uint64_t* at = nullptr;  // [1] @ the device whose kernels read it, or null: use value
  double* scalars = nullptr;          // [2] @ that device, with `at`

  constexpr step_count(std::size_t v, const std::uint64_t* where = nullptr,
                       double* scratch = nullptr)  // NOLINT: a count converts
      : value(v), at(where), scalars(scratch) {}
  constexpr operator std::size_t() const { return value; }
};

}  // namespace plait
