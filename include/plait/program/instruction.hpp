#pragma once
// The instruction set of generated programs (docs/design.md §4). A policy turns (graph, devices) into
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
  gather,          // hand `microbatch`'s output rows to the caller (inference programs)
  // Predictive coding (program/predictive_coding.hpp, runtime/predictive_coding.hpp), on `stage`:
  pc_start,    // after the forward pass: value nodes at their predictions, errors and momenta set
  pc_errors,   // every owned layer's prediction, error and input-gradient term (what goes back)
  pc_update,   // every free value node (or error) one inference step down the energy's gradient
  pc_weights,  // every owned layer's weight gradient from its error
  // The backward of `stage` on `microbatch` in two parts (zero-bubble schedules, program/schedule.hpp):
  backward_input,   // B: the gradient of the stage's input (what goes back), each layer's output gradient kept
  backward_weight,  // W: the parameters' gradients from what B kept; the micro-batch's slot is free after it
};

/// Opcodes there are (the size of tables indexed by opcode).
inline constexpr std::size_t opcode_count = 18;

/// What a send or receive carries (`buffer` of a send/recv instruction).
enum class message_kind : std::uint16_t { activation = 0, gradient = 1 };

/// Which devices a collective runs over (`peer` of a collective), on a mesh of data-parallel
/// replicas of an inner group (replicate<D, Inner>: device d is replica d / I, rank d % I of its
/// inner group). Without an inner policy the inner group is the policy's devices; replicate<N>
/// alone has singleton inner groups and one data-parallel group.
enum class collective_group : std::int16_t {
  inner = 0,          // the devices of my inner group (partition's exchanges)
  data_parallel = 1,  // the devices of the other replicas with my inner rank (gradient all-reduce)
};

/// `buffer` of a data-parallel all-reduce over a device's whole gradient (not one bucket).
inline constexpr std::uint16_t whole_gradient = 0xffff;

constexpr const char* to_string(opcode op) {
  switch (op) {
    case opcode::scatter: return "scatter";
    case opcode::forward: return "forward";
    case opcode::loss: return "loss";
    case opcode::backward: return "backward";
    case opcode::all_reduce: return "all_reduce";
    case opcode::reduce_scatter: return "reduce_scatter";
    case opcode::all_gather: return "all_gather";
    case opcode::send: return "send";
    case opcode::recv: return "recv";
    case opcode::optimizer_step: return "optimizer_step";
    case opcode::nop: return "nop";
    case opcode::gather: return "gather";
    case opcode::pc_start: return "pc_start";
    case opcode::pc_errors: return "pc_errors";
    case opcode::pc_update: return "pc_update";
    case opcode::pc_weights: return "pc_weights";
    case opcode::backward_input: return "backward_input";
    case opcode::backward_weight: return "backward_weight";
  }
  return "?";
}

struct instruction {
  opcode op{};
  std::uint16_t stage = 0;
  std::uint16_t microbatch = 0;
  std::int16_t peer = -1;  // send/recv: rank in my inner group; collectives: collective_group; -1: none
  std::uint16_t buffer = 0;
  constexpr bool operator==(const instruction&) const = default;
};

constexpr bool is_collective(opcode op) {
  return op == opcode::all_reduce || op == opcode::reduce_scatter || op == opcode::all_gather;
}
/// Whether the instruction is (part of) a stage's backward: whole, or its input or weight part.
constexpr bool is_backward(opcode op) {
  return op == opcode::backward || op == opcode::backward_input || op == opcode::backward_weight;
}
/// Whether the instruction computes the gradient a stage sends back: the whole backward or its input part.
constexpr bool computes_input_gradient(opcode op) { return op == opcode::backward || op == opcode::backward_input; }
/// Whether the instruction ends a micro-batch's use of its activations: the whole backward or its weight part.
constexpr bool frees_activations(opcode op) { return op == opcode::backward || op == opcode::backward_weight; }
/// Whether the instruction waits on other devices: a collective, a send or a receive.
constexpr bool communicates_op(opcode op) { return is_collective(op) || op == opcode::send || op == opcode::recv; }

/// A collective of `group` on `buffer` (stage and micro-batch 0). Written field by field: nvcc 13's
/// host pass drops designated initializers that skip a member ({.op = ..., .peer = ...}) in some
/// constant expressions, and a program built so would verify wrongly or run wrongly under nvcc.
constexpr instruction collective(opcode op, collective_group group, std::uint16_t buffer, std::uint16_t stage = 0) {
  instruction i;
  i.op = op;
  i.stage = stage;
  i.peer = std::int16_t(group);
  i.buffer = buffer;
  return i;
}

/// One device's program.
template <std::size_t N>
using program = std::array<instruction, N>;

/// Runs one instruction: calls the handler's member for it.
template <class Handler>
void execute_one(const instruction& i, Handler& h) {
  switch (i.op) {
    case opcode::scatter: h.scatter(i); break;
    case opcode::forward: h.forward(i); break;
    case opcode::loss: h.loss(i); break;
    case opcode::backward: h.backward(i); break;
    case opcode::backward_input: h.backward_input(i); break;
    case opcode::backward_weight: h.backward_weight(i); break;
    case opcode::optimizer_step: h.optimizer_step(i); break;
    case opcode::gather: h.gather(i); break;
    case opcode::pc_start:
    case opcode::pc_errors:
    case opcode::pc_update:
    case opcode::pc_weights: h.predictive_coding(i); break;
    case opcode::nop: break;
    default: h.communicate(i); break;
  }
}

/// Runs a program: calls the handler's member for each instruction, in order.
template <std::size_t N, class Handler>
void execute(const program<N>& code, Handler& h) {
  for (const instruction& i : code) execute_one(i, h);
}

}  // namespace plait
