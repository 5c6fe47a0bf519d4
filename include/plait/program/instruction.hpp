#pragma once
// The instruction set of generated programs (DESIGN.md §4). A policy turns (graph, devices) into
// one program per logical device: a constexpr array of coarse instructions. The runtime executes
// them; an instruction is a whole stage's forward on a micro-batch, so interpreting costs nothing
// measurable next to the work it names.

#include <array>
#include <cstddef>
#include <cstdint>

namespace plait {

enum class opcode : std::uint8_t {
  scatter,         // take this device's share of the batch
  forward,         // forward of `stage` on `microbatch`
  loss,            // loss and its gradient on `microbatch`
  backward,        // backward of `stage` on `microbatch`
  all_reduce,      // all-reduce `buffer` over `peer` group
  reduce_scatter,  // reduce-scatter `buffer` over `peer` group
  all_gather,      // all-gather `buffer` over `peer` group
  send,            // send activation/gradient of `microbatch` to `peer`
  recv,            // receive activation/gradient of `microbatch` from `peer`
  optimizer_step,  // update the parameters (shard `buffer`)
  nop,             // nothing: pads the shorter programs of a policy to one length
};

/// What a send or receive carries (`buffer` of a send/recv instruction).
enum class message_kind : std::uint16_t { activation = 0, gradient = 1 };

constexpr const char* to_string(opcode op) {
  constexpr std::array<const char*, 11> names{"scatter",    "forward", "loss", "backward",       "all_reduce", "reduce_scatter",
                                              "all_gather", "send",    "recv", "optimizer_step", "nop"};
  return names[static_cast<std::size_t>(op)];
}

struct instruction {
  opcode op{};
  std::uint16_t stage = 0;
  std::uint16_t microbatch = 0;
  std::int16_t peer = -1;  // relative to the device mesh; -1: none
  std::uint16_t buffer = 0;
  constexpr bool operator==(const instruction&) const = default;
};

/// One device's program.
template <std::size_t N>
using program = std::array<instruction, N>;

/// Runs a program: calls the handler's member for each instruction, in order.
template <std::size_t N, class Handler>
void execute(const program<N>& code, Handler& h) {
  for (const instruction& i : code) {
    switch (i.op) {
      case opcode::scatter: h.scatter(i); break;
      case opcode::forward: h.forward(i); break;
      case opcode::loss: h.loss(i); break;
      case opcode::backward: h.backward(i); break;
      case opcode::optimizer_step: h.optimizer_step(i); break;
      case opcode::nop: break;
      default: h.communicate(i); break;
    }
  }
}

}  // namespace plait
