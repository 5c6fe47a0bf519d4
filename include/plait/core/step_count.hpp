#pragma once
// step_count: the optimizer's step t (1 on the first step) as an optimizer receives it.
//
// What it represents: the value, and, on devices whose step may be replayed from a CUDA graph, where
// the device reads it (cuda_context::step_words): a value captured into a kernel would be the
// capture's on every replay. An optimizer whose update depends on t (Adam's bias correction) reads
// `*at` inside its kernel when `at` is set; one that does not may take a std::size_t (it converts).

#include <cstddef>
#include <cstdint>

namespace plait {

struct step_count {
  std::size_t value = 0;
  const std::uint64_t* at = nullptr;  // [1] @ the device whose kernels read it, or null: use value

  constexpr step_count(std::size_t v, const std::uint64_t* where = nullptr) : value(v), at(where) {}  // NOLINT: a count converts
  constexpr operator std::size_t() const { return value; }
};

}  // namespace plait
