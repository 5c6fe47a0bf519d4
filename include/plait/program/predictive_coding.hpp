#pragma once
// The programs of a predictive-coding step (docs/predictive_coding.md). A device of a pipeline of S
// stages (S = 1 under single_device and replicate) runs four parts:
//   start      the training program's forward part (scatter, forward, activation messages), streamed
//              in pc_forward_chunks chunks of rows: chunk c's instructions carry microbatch c + 1
//              (microbatch 0 is the whole batch), so a stage starts on chunk 0 while the stage
//              before computes chunk 1; then pc_start: every value node at its prediction, errors
//              and momenta set;
//   iteration  run T times: pc_errors (each owned layer's prediction, error, and the input-gradient
//              term J^T e of its first layer), that term sent to the stage before (g>) and the next
//              stage's received (g<), pc_update (every free value node one step down the energy),
//              and the device's last value node sent on (a>) and the previous stage's received (a<);
//   finish     pc_weights: each owned layer's weight gradient from its error;
//   tail       the training program's data-parallel collectives and optimizer step, in their order.
// Every stage works in every iteration: a stage needs only its neighbours' state of the same
// iteration, so nothing waits for a pipeline to fill (no bubble, no micro-batches, no stored
// activations beyond the value nodes).
//
// Variants: the fixed-prediction form keeps the forward pass's predictions, so its iterations pass
// only errors back (no a> / a<); the incremental form updates the weights in every iteration (the
// tail moves into the iteration, after the errors; pc_errors' buffer 1 asks it for the weight
// gradients too) and has no finish.
//
// Each part is self-contained: every message it sends is received within the same part, so any
// number of iterations runs as verified (verify_pc_programs checks each part alone and a step of
// two iterations).

#include <array>
#include <cstddef>
#include <cstdint>

#include "inference.hpp"
#include "instruction.hpp"
#include "verify.hpp"

namespace plait {

/// Which predictive-coding algorithm a step runs (docs/predictive_coding.md).
enum class pc_variant : std::uint8_t {
  standard,          // T inference iterations on the value nodes, then one weight update
  incremental,       // the weights updated in every iteration too (incremental PC)
  fixed_prediction,  // predictions fixed at the forward pass: with T >= layers and rate 1, backprop's gradients
};

constexpr const char* to_string(pc_variant v) {
  switch (v) {
    case pc_variant::standard: return "standard";
    case pc_variant::incremental: return "incremental";
    case pc_variant::fixed_prediction: return "fixed_prediction";
  }
  return "?";
}

/// Chunks of rows the forward pass that starts a predictive-coding step streams through a pipeline
/// (instructions with microbatch 1 .. pc_forward_chunks). At run time a batch of n rows is cut into
/// pc_chunks(n) equal chunks of at least pc_chunk_rows rows (the later chunks are empty), the same
/// on every device and under every policy, so each row's arithmetic is the same on one device as on
/// S: the chunked forward is what makes device s + 1 wait for one chunk of device s's forward, not
/// for all of it.
inline constexpr std::size_t pc_forward_chunks = 8;
inline constexpr std::size_t pc_chunk_rows = 128;
constexpr std::size_t pc_chunks(std::size_t rows) {
  const std::size_t k = rows / pc_chunk_rows;
  return k < 1 ? 1 : k > pc_forward_chunks ? pc_forward_chunks : k;
}

/// Instructions of each part of a predictive-coding program made from a training program of N.
template <std::size_t N>
inline constexpr std::size_t pc_part_length = N + 3 * pc_forward_chunks + 8;

/// One device's predictive-coding program: start, T x iteration, finish, tail.
template <std::size_t N>
struct pc_program {
  program<N> start{}, iteration{}, finish{}, tail{};
};

namespace detail {
template <std::size_t N>
struct pc_builder {
  program<N> p{};
  std::size_t at = 0;
  constexpr void add(instruction i) {
    if (at == N) throw "pc_program: more instructions than planned";  // not a constant: a compile error
    p[at++] = i;
  }
  constexpr void op(opcode o, std::uint16_t stage, std::uint16_t buffer = 0) {
    instruction i;
    i.op = o;
    i.stage = stage;
    i.buffer = buffer;
    add(i);
  }
  constexpr void message(opcode o, message_kind k, std::size_t peer) {
    instruction i;
    i.op = o;
    i.peer = std::int16_t(peer);
    i.buffer = std::uint16_t(k);
    add(i);
  }
  constexpr program<N> done() {
    for (std::size_t k = at; k < N; ++k) p[k] = instruction{opcode::nop};
    return p;
  }
};

/// Whether an instruction of a training program belongs to its data-parallel part: the
/// collectives over the data-parallel group and the optimizer step.
constexpr bool is_data_parallel_part(const instruction& i) {
  return i.op == opcode::optimizer_step ||
         (is_collective(i.op) && i.peer == std::int16_t(collective_group::data_parallel));
}
}  // namespace detail

/// Device program of stage `s` of a pipeline of `S` stages (peers are stage indices), from its
/// training program `training`: the predictive-coding step of `variant`. Parts have
/// pc_part_length<N> slots.
template <std::size_t N, std::size_t M = pc_part_length<N>>
constexpr pc_program<M> pc_device_program(const program<N>& training, std::size_t s, std::size_t S,
                                          pc_variant variant) {
  using detail::pc_builder;
  const auto stage = std::uint16_t(s);
  const bool first = s == 0, last = s + 1 == S;
  const bool exchanges_values = variant != pc_variant::fixed_prediction;
  pc_program<M> out;

  // The forward part: its scatter once, then its receive, forward and send once per chunk.
  const program<N> forward = inference_program(training, [](std::size_t) { return false; }, false);
  pc_builder<M> start;
  for (const instruction& i : forward)
    if (i.op == opcode::scatter) start.add(i);
  for (std::size_t c = 0; c < pc_forward_chunks; ++c)
    for (instruction i : forward)
      if (i.op != opcode::nop && i.op != opcode::scatter) {
        i.microbatch = std::uint16_t(c + 1);
        start.add(i);
      }
  start.op(opcode::pc_start, stage);
  out.start = start.done();

  pc_builder<M> tail;
  for (const instruction& i : training)
    if (detail::is_data_parallel_part(i)) tail.add(i);

  pc_builder<M> it;
  it.op(opcode::pc_errors, stage, variant == pc_variant::incremental ? 1 : 0);
  if (!first) it.message(opcode::send, message_kind::gradient, s - 1);
  if (!last) it.message(opcode::recv, message_kind::gradient, s + 1);
  if (variant == pc_variant::incremental)
    for (std::size_t k = 0; k < tail.at; ++k) it.add(tail.p[k]);
  it.op(opcode::pc_update, stage);
  if (exchanges_values) {
    if (!last) it.message(opcode::send, message_kind::activation, s + 1);
    if (!first) it.message(opcode::recv, message_kind::activation, s - 1);
  }
  out.iteration = it.done();

  pc_builder<M> finish;
  if (variant != pc_variant::incremental) finish.op(opcode::pc_weights, stage);
  out.finish = finish.done();
  out.tail = variant == pc_variant::incremental ? pc_builder<M>{}.done() : tail.done();
  return out;
}

/// Every device's predictive-coding program of a mesh whose inner groups are pipelines of
/// `Inner` stages (device d is stage d % Inner of replica d / Inner).
template <std::size_t Inner, std::size_t P, std::size_t N>
constexpr std::array<pc_program<pc_part_length<N>>, P> pc_programs(const std::array<program<N>, P>& training,
                                                                   pc_variant variant) {
  std::array<pc_program<pc_part_length<N>>, P> out{};
  for (std::size_t d = 0; d < P; ++d) out[d] = pc_device_program(training[d], d % Inner, Inner, variant);
  return out;
}

/// The programs checked as the runtime runs them: each part alone (each is self-contained), and a
/// step of two iterations (program/verify.hpp's simulation: matched messages, agreeing
/// collectives, no deadlock). The first failing verdict, or ok.
template <std::size_t Inner, std::size_t P, std::size_t N>
constexpr verdict verify_pc_programs(const std::array<pc_program<N>, P>& progs) {
  std::array<program<N>, P> part{};
  for (int k = 0; k < 4; ++k) {
    for (std::size_t d = 0; d < P; ++d)
      part[d] = k == 0 ? progs[d].start : k == 1 ? progs[d].iteration : k == 2 ? progs[d].finish : progs[d].tail;
    if (const verdict v = verify_mesh<Inner>(part); !v) return v;
  }
  std::array<program<5 * N>, P> step{};
  for (std::size_t d = 0; d < P; ++d) {
    const program<N>* parts[5] = {&progs[d].start, &progs[d].iteration, &progs[d].iteration, &progs[d].finish,
                                  &progs[d].tail};
    for (std::size_t k = 0; k < 5; ++k)
      for (std::size_t j = 0; j < N; ++j) step[d][k * N + j] = (*parts[k])[j];
  }
  return verify_mesh<Inner>(step);
}

}  // namespace plait
