#pragma once
// The inference program of a device: the forward part of its training program. predict and
// evaluate execute it through the same interpreter as a training step (runtime/executor.hpp), so
// the order of every forward, message and exchange is the one program/verify.hpp checked.
//
// From a training program it keeps, in order:
//   scatter, forward, the sends and receives of activations, and the tensor-parallel exchanges of
//   activations (collectives over the inner group);
// and drops the loss, backward, gradient messages and exchanges, the data-parallel collectives and
// the optimizer step. After each forward that ends with the graph's last layer on a device that
// answers for its group (`gathers`), it adds gather(microbatch): the micro-batch's output rows go to
// the caller. The result has the training program's length (padded with nop).
//
// Dropping instructions keeps the programs verifiable: forward messages only flow from a stage to
// the next, every kept send keeps its receive, and each channel keeps its order.

#include <cstddef>

#include "instruction.hpp"

namespace plait {

/// Whether an instruction of a training program belongs to its forward part.
constexpr bool is_forward_part(const instruction& i) {
  switch (i.op) {
    case opcode::scatter:
    case opcode::forward: return true;
    case opcode::send:
    case opcode::recv: return message_kind(i.buffer) == message_kind::activation;
    case opcode::all_reduce:
    case opcode::all_gather:
      return i.peer == std::int16_t(collective_group::inner) && i.buffer != whole_gradient &&
             message_kind(i.buffer) == message_kind::activation;
    default: return false;
  }
}

/// The forward part of `training`; `last_stage_ends_graph(stage)` says whether a forward of that
/// stage ends with the graph's last layer, and `gathers` whether this device hands the output over.
template <std::size_t N, class EndsGraph>
constexpr program<N> inference_program(const program<N>& training, EndsGraph last_stage_ends_graph, bool gathers) {
  program<N + N> wide{};
  std::size_t at = 0;
  for (const instruction& i : training) {
    if (!is_forward_part(i)) continue;
    if (at + 2 > N + N) throw "inference_program: more instructions than its training program";
    wide[at++] = i;
    if (i.op == opcode::forward && gathers && last_stage_ends_graph(i.stage)) {
      instruction g;
      g.op = opcode::gather;
      g.stage = i.stage;
      g.microbatch = i.microbatch;
      wide[at++] = g;
    }
  }
  if (at > N) throw "inference_program: more instructions than its training program";  // not a constant: compile error
  program<N> out{};
  for (std::size_t k = 0; k < N; ++k) out[k] = k < at ? wide[k] : instruction{opcode::nop};
  return out;
}

/// Instructions of a program that are not nop (an inference program needs at most its training
/// program's length: every gather stands in for a loss or a backward that was dropped).
template <std::size_t N>
constexpr std::size_t used_length(const program<N>& p) {
  std::size_t n = 0;
  for (const instruction& i : p) n += i.op != opcode::nop;
  return n;
}

}  // namespace plait
