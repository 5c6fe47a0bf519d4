#pragma once
// A program as one line of text, for examples and logs:
//   scatter F0 AR(a)1 F1 F2 loss B2 B1 AR(g)1 B0 AR(dp) step
// F/B: forward/backward of a stage (.mb when the program has micro-batches), Bi/Bw: its input and
// weight parts (zero-bubble schedules); AR/AG/RS: all-reduce,
// all-gather, reduce-scatter ((a) activations, (g) gradients, (dp) over the data-parallel group,
// b<k> a gradient bucket); >d / <d: send to / receive from stage d of the pipeline group.

#include <cstddef>
#include <string>

#include "instruction.hpp"

namespace plait {

inline std::string to_text(const instruction& i, bool microbatches) {
  const auto mb = [&] { return microbatches ? "." + std::to_string(i.microbatch) : std::string(); };
  const auto what = [&] {
    if (i.peer == std::int16_t(collective_group::data_parallel))
      return i.buffer == whole_gradient ? std::string("(dp)") : "(b" + std::to_string(i.buffer) + ")";
    return std::string(message_kind(i.buffer) == message_kind::gradient ? "(g)" : "(a)") + std::to_string(i.stage);
  };
  switch (i.op) {
    case opcode::scatter: return "scatter";
    case opcode::forward: return "F" + std::to_string(i.stage) + mb();
    case opcode::loss: return "loss" + mb();
    case opcode::backward: return "B" + std::to_string(i.stage) + mb();
    case opcode::all_reduce: return "AR" + what() + mb();
    case opcode::reduce_scatter: return "RS" + what();
    case opcode::all_gather: return "AG" + what() + mb();
    case opcode::send:
      return std::string(message_kind(i.buffer) == message_kind::gradient ? "g>" : "a>") + std::to_string(i.peer) +
             mb();
    case opcode::recv:
      return std::string(message_kind(i.buffer) == message_kind::gradient ? "g<" : "a<") + std::to_string(i.peer) +
             mb();
    case opcode::optimizer_step: return "step";
    case opcode::nop: return "";
    case opcode::gather: return "out" + mb();
    case opcode::pc_start: return "P" + std::to_string(i.stage);
    case opcode::pc_errors: return "E" + std::to_string(i.stage);
    case opcode::pc_update: return "U" + std::to_string(i.stage);
    case opcode::pc_weights: return "W" + std::to_string(i.stage);
    case opcode::backward_input: return "Bi" + std::to_string(i.stage) + mb();
    case opcode::backward_weight: return "Bw" + std::to_string(i.stage) + mb();
  }
  return "?";
}

/// The program's instructions, space-separated (nops left out).
template <std::size_t N>
std::string summary(const program<N>& p) {
  bool microbatches = false;
  for (const instruction& i : p) microbatches = microbatches || i.microbatch > 0;
  std::string s;
  for (const instruction& i : p) {
    const std::string t = to_text(i, microbatches);
    if (t.empty()) continue;
    if (!s.empty()) s += ' ';
    s += t;
  }
  return s;
}

}  // namespace plait
