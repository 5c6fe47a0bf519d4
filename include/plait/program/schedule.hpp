#pragma once
// Pipeline schedules as constexpr per-stage programs (docs/design.md §4).
//
// A schedule type has `name` and `template <std::size_t P, std::size_t M> static constexpr auto
// programs()`, returning one program per stage, all of one length (shorter ones padded with nop).
// Peers are stage numbers. Within a stage, micro-batches are processed forward in order 0..M-1 and
// backward in order 0..M-1 in both built-in schedules.
//
//   F(mb) = [recv activation mb from s-1]  forward(s, mb)  [send activation mb to s+1]
//   B(mb) = [recv gradient mb from s+1 | loss(mb) on the last stage]  backward(s, mb)
//           [send gradient mb to s-1]
//
//   gpipe:        F(0) .. F(M-1), B(0) .. B(M-1), optimizer_step       (GPipe: all forwards, then all backwards)
//   one_f_one_b:  min(P-1-s, M) warm-up forwards, then F and B alternating, then the remaining
//                 backwards, optimizer_step                          (PipeDream-Flush)
//
// Zero-bubble schedules split B into its input part (backward_input: the gradient sent back) and
// its weight part W (backward_weight), and run W later, where the stage would otherwise wait
// (Qi et al., "Zero Bubble Pipeline Parallelism", 2023). Where a stage's program has W instructions,
// the runtime keeps each layer's output gradient from B to W (runtime/device_memory.hpp).
//
//   zb_h1:        1F1B's order with B alone on the critical path; stage s runs W(mb) once s + 1
//                 micro-batches wait for theirs (W(k) after B(k + s)), the rest at the end. With
//                 F = B = W the bubble falls from (P-1)(F+B+W) to (P-1)(F+B-W) per stage, and every
//                 stage holds at most P micro-batches of activations (1F1B's peak, on stage 0).

#include <array>
#include <cstddef>

#include "instruction.hpp"

namespace plait {

namespace detail {

/// The longest stage program of a P x M pipeline: the last stage with recv, forward, loss and
/// backward per micro-batch, or a middle stage with recv and send both ways.
constexpr std::size_t pipeline_program_length(std::size_t P, std::size_t M) {
  const std::size_t per_mb =
      P == 1 ? 3 : (P == 2 ? 5 : 6);  // F: forward [+recv] [+send]; B: backward + loss|recv [+send]
  return per_mb * M + 1;
}

template <std::size_t N>
struct program_builder {
  program<N> code{};
  std::size_t at = 0;
  constexpr void add(instruction i) { code[at++] = i; }
  constexpr program<N> finish() {
    while (at < N) code[at++] = {.op = opcode::nop};
    return code;
  }
};

template <std::size_t N>
constexpr void forward_mb(program_builder<N>& b, std::size_t P, std::size_t s, std::size_t mb) {
  const auto st = std::uint16_t(s), m = std::uint16_t(mb);
  if (s > 0)
    b.add({.op = opcode::recv,
           .stage = st,
           .microbatch = m,
           .peer = std::int16_t(s - 1),
           .buffer = std::uint16_t(message_kind::activation)});
  b.add({.op = opcode::forward, .stage = st, .microbatch = m});
  if (s + 1 < P)
    b.add({.op = opcode::send,
           .stage = st,
           .microbatch = m,
           .peer = std::int16_t(s + 1),
           .buffer = std::uint16_t(message_kind::activation)});
}

template <std::size_t N>
constexpr void backward_mb(program_builder<N>& b, std::size_t P, std::size_t s, std::size_t mb,
                           opcode part = opcode::backward) {
  const auto st = std::uint16_t(s), m = std::uint16_t(mb);
  if (s + 1 < P)
    b.add({.op = opcode::recv,
           .stage = st,
           .microbatch = m,
           .peer = std::int16_t(s + 1),
           .buffer = std::uint16_t(message_kind::gradient)});
  else b.add({.op = opcode::loss, .stage = st, .microbatch = m});
  b.add({.op = part, .stage = st, .microbatch = m});
  if (s > 0)
    b.add({.op = opcode::send,
           .stage = st,
           .microbatch = m,
           .peer = std::int16_t(s - 1),
           .buffer = std::uint16_t(message_kind::gradient)});
}

}  // namespace detail

/// GPipe: every micro-batch's forward, then every backward. Keeps M micro-batches of activations.
struct gpipe {
  static constexpr const char* name = "gpipe";
  template <std::size_t P, std::size_t M>
  static constexpr auto programs() {
    constexpr std::size_t N = detail::pipeline_program_length(P, M);
    std::array<program<N>, P> all{};
    for (std::size_t s = 0; s < P; ++s) {
      detail::program_builder<N> b;
      for (std::size_t mb = 0; mb < M; ++mb) detail::forward_mb(b, P, s, mb);
      for (std::size_t mb = 0; mb < M; ++mb) detail::backward_mb(b, P, s, mb);
      b.add({.op = opcode::optimizer_step, .stage = std::uint16_t(s)});
      all[s] = b.finish();
    }
    return all;
  }
};

/// 1F1B (PipeDream-Flush): after a warm-up of P-1-s forwards, stage s alternates one forward and
/// one backward. The same bubble as GPipe, but at most P - s micro-batches of activations.
struct one_f_one_b {
  static constexpr const char* name = "one_f_one_b";
  template <std::size_t P, std::size_t M>
  static constexpr auto programs() {
    constexpr std::size_t N = detail::pipeline_program_length(P, M);
    std::array<program<N>, P> all{};
    for (std::size_t s = 0; s < P; ++s) {
      detail::program_builder<N> b;
      const std::size_t warmup = P - 1 - s < M ? P - 1 - s : M;
      std::size_t f = 0, k = 0;
      while (f < warmup) detail::forward_mb(b, P, s, f++);
      while (f < M) {
        detail::forward_mb(b, P, s, f++);
        detail::backward_mb(b, P, s, k++);
      }
      while (k < M) detail::backward_mb(b, P, s, k++);
      b.add({.op = opcode::optimizer_step, .stage = std::uint16_t(s)});
      all[s] = b.finish();
    }
    return all;
  }
};

/// ZB-H1 (zero bubble, 1F1B's memory): 1F1B with the backward split into B and W, stage s deferring
/// its W by s micro-batches. At P = 4, M = 8 and F = B = W its planned bubble is 3 / 27 = 0.111,
/// against 1F1B's 9 / 33 = 0.273 (tests/static/program/schedule_static.cpp derives both).
struct zb_h1 {
  static constexpr const char* name = "zb_h1";
  template <std::size_t P, std::size_t M>
  static constexpr auto programs() {
    constexpr std::size_t N = detail::pipeline_program_length(P, M) + M;  // one W per micro-batch more
    std::array<program<N>, P> all{};
    for (std::size_t s = 0; s < P; ++s) {
      detail::program_builder<N> b;
      const auto st = std::uint16_t(s);
      const std::size_t warmup = P - 1 - s < M ? P - 1 - s : M;
      std::size_t f = 0, k = 0, w = 0;
      const auto input_part = [&] {
        detail::backward_mb(b, P, s, k++, opcode::backward_input);
        if (k - w > s) b.add({.op = opcode::backward_weight, .stage = st, .microbatch = std::uint16_t(w++)});
      };
      while (f < warmup) detail::forward_mb(b, P, s, f++);
      while (f < M) {
        detail::forward_mb(b, P, s, f++);
        input_part();
      }
      while (k < M) input_part();
      while (w < M) b.add({.op = opcode::backward_weight, .stage = st, .microbatch = std::uint16_t(w++)});
      b.add({.op = opcode::optimizer_step, .stage = st});
      all[s] = b.finish();
    }
    return all;
  }
};

template <class S>
concept Schedule = requires {
  { S::name } -> std::convertible_to<const char*>;
  S::template programs<2, 2>();
};

static_assert(Schedule<gpipe> && Schedule<one_f_one_b> && Schedule<zb_h1>);

}  // namespace plait
