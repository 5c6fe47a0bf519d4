#pragma once
// single_device: the whole graph on one logical device. Its program is the plain training step,
// written in the same instruction set as every other policy, so that the other policies add
// instructions (sends, all-reduces) to it rather than taking a second code path.

#include <array>
#include <cstddef>

#include "../core/concepts.hpp"
#include "../graph/layout.hpp"
#include "../program/instruction.hpp"
#include "policy.hpp"

namespace plait {

struct single_device {
  static constexpr std::size_t device_count = 1;
  static constexpr const char* name = "single_device";

  /// Layers [first, last) of stage s; one stage holding every layer.
  template <RootedGraph G>
  static constexpr std::array<stage_range, 1> stages{{{0, graph_layout<G>::layer_count}}};

  /// The layers each device holds.
  template <RootedGraph G>
  static constexpr auto owned = stages<G>;

  template <RootedGraph G>
  static constexpr std::array<program<5>, 1> programs{{{{
      {.op = opcode::scatter},
      {.op = opcode::forward, .stage = 0, .microbatch = 0},
      {.op = opcode::loss, .microbatch = 0},
      {.op = opcode::backward, .stage = 0, .microbatch = 0},
      {.op = opcode::optimizer_step},
  }}}};
};

static_assert(Policy<single_device>);

}  // namespace plait
