#pragma once
// Policy: how a graph is mapped onto logical devices.
//   - `device_count`: the logical devices the policy needs;
//   - `stages<G>`: for each stage, the range of the graph's layers it runs;
//   - `programs<G>`: for each device, its constexpr program (program/instruction.hpp).
// A policy is an empty type; its tuning values (bucket bytes, micro-batches) are constexpr members.

#include <concepts>
#include <cstddef>

namespace plait {

/// Layers [first, last) of a graph that one stage runs.
struct stage_range {
  std::size_t first = 0;
  std::size_t last = 0;
};

template <class P>
concept Policy = std::is_empty_v<P> && requires {
  { P::device_count } -> std::convertible_to<std::size_t>;
  { P::name } -> std::convertible_to<const char*>;
};

}  // namespace plait
