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
constexpr void backward_mb(program_builder<N>& b, std::size_t P, std::size_t s, std::size_t mb) {
  const auto st = std::uint16_t(s), m = std::uint16_t(mb);
  if (s + 1 < P)
    b.add({.op = opcode::recv,
           .stage = st,
           .microbatch = m,
           .peer = std::int16_t(s + 1),
           .buffer = std::uint16_t(message_kind::gradient)});
  else b.add({.op = opcode::loss, .stage = st, .microbatch = m});
  b.add({.op = opcode::backward, .stage = st, .microbatch = m});
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

template <class S>
concept Schedule = requires {
  { S::name } -> std::convertible_to<const char*>;
  S::template programs<2, 2>();
};

static_assert(Schedule<gpipe> && Schedule<one_f_one_b>);

}  // namespace plait
