#pragma once
// Policy: how a graph is mapped onto logical devices.
//   - `device_count`: the logical devices the policy needs;
//   - `stages<G>`: for each stage, the range of the graph's layers it runs;
//   - `programs<G>`: for each device, its constexpr program (program/instruction.hpp).
// A policy is an empty type; its tuning values (bucket bytes, micro-batches) are constexpr members.

#include <concepts>
#include <cstddef>

#include "../graph/chain.hpp"

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

/// A policy that maps graph G: its stages, each device's owned layers and its training program
/// (what plan_of<P, G> reads, policy/plan.hpp).
template <class P, class G>
concept PolicyFor = Policy<P> && requires {
  P::template stages<G>;
  P::template owned<G>;
  P::template programs<G>;
};

/// The graph each device runs: the policy's rewriting of G (partition's split layers), or G.
template <class Policy, RootedGraph G>
struct device_graph_of {
  using type = G;
};
template <class Policy, RootedGraph G>
  requires requires { typename Policy::template device_graph<G>; }
struct device_graph_of<Policy, G> {
  using type = typename Policy::template device_graph<G>;
};

/// A policy's figures, or their value without it: micro-batches, data- and tensor-parallel degree (1).
template <class P>
inline constexpr std::size_t microbatch_count_of = [] {
  if constexpr (requires { P::microbatch_count; }) return std::size_t{P::microbatch_count};
  else return std::size_t{1};
}();
template <class P>
inline constexpr std::size_t data_parallel_degree_of = [] {
  if constexpr (requires { P::data_parallel_degree; }) return std::size_t{P::data_parallel_degree};
  else return std::size_t{1};
}();
template <class P>
inline constexpr std::size_t tensor_parallel_degree_of = [] {
  if constexpr (requires { P::tensor_parallel_degree; }) return std::size_t{P::tensor_parallel_degree};
  else return std::size_t{1};
}();

}  // namespace plait
