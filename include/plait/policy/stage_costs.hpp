#pragma once
// What a stage's work costs in the planned timelines (program/timeline.hpp), from its layers'
// forward FLOPs per sample:
//   forward  every layer's FLOPs;
//   B        the input part of the backward: the same again for every layer that passes a gradient
//            on; nothing for the graph's first trained layer (no one needs the data's gradient: a
//            linear layer there skips its dx product) or the host stage's layers (not trained);
//   W        the weight part: the same again for a layer with parameters (dW = dy^T x is a product
//            of the forward's size), nothing for the others.
// A whole backward is B + W: twice the forward for a linear layer inside the graph, once for the
// first one or an activation. The zero-bubble schedules move W; the pipeline's planned bubble and
// the benchmark's planned figure both read these costs.

#include <array>
#include <cstddef>

#include "../graph/host_stage_layers.hpp"
#include "../program/instruction.hpp"
#include "policy.hpp"

namespace plait {

struct stage_cost {
  double forward = 0, input = 0, weight = 0;
  constexpr double backward() const { return input + weight; }
  /// What instruction `op` of this stage costs (0 for instructions that do not compute).
  constexpr double of(opcode op) const {
    switch (op) {
      case opcode::forward: return forward;
      case opcode::backward: return input + weight;
      case opcode::backward_input: return input;
      case opcode::backward_weight: return weight;
      default: return 0;
    }
  }
};

/// The cost of each stage of `stages` (ranges of Layout's layers).
template <class Layout, std::size_t S>
constexpr std::array<stage_cost, S> stage_costs(const std::array<stage_range, S>& stages) {
  constexpr std::size_t host = host_stage_layers<Layout>::size;
  std::array<stage_cost, S> c{};
  for (std::size_t s = 0; s < S; ++s)
    for (std::size_t i = stages[s].first; i < stages[s].last; ++i) {
      const double f = double(Layout::template layer_flops<>[i]);
      c[s].forward += f;
      if (i < host) continue;
      if (i > host) c[s].input += f;
      if (Layout::param_sizes[i] > 0) c[s].weight += f;
    }
  return c;
}

}  // namespace plait
