#pragma once
// Pipeline schedules that give each device several stages ("chunks"): the graph is cut into P x V
// stages and device d runs V of them, taking turns (program/turns.hpp). A chunked schedule says
// `chunks`, `device_of(P, stage)` and gives programs<P, M>() as one order per device whose
// instructions name their stage.
//
//   interleaved_1f1b<V>  Megatron-LM's interleaved 1F1B (Narayanan et al. 2021): stage k on device
//                        k % P (looping); forwards go through the chunks P micro-batches at a time;
//                        device d warms up with 2 (P-1-d) + (V-1) P forwards, then alternates. The
//                        bubble of 1F1B divided by V: (P-1)(F+B+W)/V per device. Needs M a multiple
//                        of P.
//   zb_v                 zero bubble's ZB-V (Qi et al. 2024): two chunks per device in a V (stage k on
//                        device k for k < P, on 2P-1-k after), every backward split into B and W. The
//                        order comes from a list scheduler played at compile time with F = B = W: a
//                        free device runs a B whose gradient has arrived, else a forward while it holds
//                        fewer than 2P chunk activations (1F1B's memory: P micro-batches of a whole
//                        stage), else its oldest waiting W.

#include <array>
#include <cstddef>
#include <cstdint>

#include "schedule.hpp"

namespace plait {

namespace detail {
/// Instructions per device of a chunked schedule of V chunks and M micro-batches, at most: per chunk
/// and micro-batch a forward with a receive and a send, a backward with a receive (or the loss) and
/// a send, a W; per chunk an optimizer step.
constexpr std::size_t chunked_program_length(std::size_t V, std::size_t M) { return V * (7 * M + 1); }

/// What one item of a device's order expands to: F, B (whole, or its input part), or W.
enum class chunk_op : std::uint8_t { forward, backward, input, weight };
template <std::size_t N>
constexpr void add_item(program_builder<N>& b, std::size_t S, std::size_t stage, std::size_t mb, chunk_op op) {
  switch (op) {
    case chunk_op::forward: forward_mb(b, S, stage, mb); break;
    case chunk_op::backward: backward_mb(b, S, stage, mb); break;
    case chunk_op::input: backward_mb(b, S, stage, mb, opcode::backward_input); break;
    case chunk_op::weight:
      b.add({.op = opcode::backward_weight, .stage = std::uint16_t(stage), .microbatch = std::uint16_t(mb)});
      break;
  }
}
}  // namespace detail

template <std::size_t V>
struct interleaved_1f1b {
  static_assert(V >= 1, "plait: interleaved_1f1b<0> has no chunks. Fix: use interleaved_1f1b<V> with V >= 1.");
  static constexpr const char* name = "interleaved_1f1b";
  static constexpr std::size_t chunks = V;
  template <std::size_t P>
  static constexpr std::size_t min_microbatches = P;
  static constexpr std::size_t device_of(std::size_t P, std::size_t stage) { return stage % P; }

  template <std::size_t P, std::size_t M>
  static constexpr auto programs() {
    static_assert(M % P == 0,
                  "plait: interleaved_1f1b needs a number of micro-batches that the pipeline's devices divide. Its "
                  "forwards go through the chunks P micro-batches at a time. Fix: make M a multiple of P.");
    constexpr std::size_t S = P * V, N = detail::chunked_program_length(V, M), total = M * V;
    std::array<program<N>, P> all{};
    for (std::size_t d = 0; d < P; ++d) {
      detail::program_builder<N> b;
      const auto item = [&](std::size_t k, bool forward) {  // the k-th forward or backward of the device
        const std::size_t round = (k / P) % V, mb = (k / (P * V)) * P + k % P;
        const std::size_t chunk = forward ? round : V - 1 - round;
        detail::add_item(b, S, chunk * P + d, mb, forward ? detail::chunk_op::forward : detail::chunk_op::backward);
      };
      const std::size_t warmup = (P - 1 - d) * 2 + (V - 1) * P < total ? (P - 1 - d) * 2 + (V - 1) * P : total;
      std::size_t f = 0, k = 0;
      while (f < warmup) item(f++, true);
      while (f < total) {
        item(f++, true);
        item(k++, false);
      }
      while (k < total) item(k++, false);
      for (std::size_t c = 0; c < V; ++c) b.add({.op = opcode::optimizer_step, .stage = std::uint16_t(c * P + d)});
      all[d] = b.finish();
    }
    return all;
  }
};

struct zb_v {
  static constexpr const char* name = "zb_v";
  static constexpr std::size_t chunks = 2;
  static constexpr std::size_t device_of(std::size_t P, std::size_t stage) {
    return stage < P ? stage : 2 * P - 1 - stage;
  }

  template <std::size_t P, std::size_t M>
  static constexpr auto programs() {
    constexpr std::size_t S = 2 * P, N = detail::chunked_program_length(2, M);
    // The list scheduler, in unit time steps (F = B = W = 1): per stage and micro-batch when its F and
    // its B end (0: not yet); per device and chunk the next F, B and W; each device's W in B's order.
    std::array<std::array<std::size_t, M>, S> f_end{}, b_end{};
    std::array<std::array<std::size_t, 2>, P> nf{}, nb{}, nw{};
    std::array<std::size_t, P> busy_until{};
    std::array<detail::program_builder<N>, P> b{};
    const auto stage = [](std::size_t d, std::size_t c) { return c == 0 ? d : 2 * P - 1 - d; };
    std::size_t left = 6 * M * P;
    for (std::size_t t = 0; left > 0; ++t) {
      if (t > 64 * M * P + 64) throw "zb_v: the list scheduler did not finish";
      for (std::size_t d = 0; d < P; ++d) {
        if (busy_until[d] > t) continue;
        std::size_t c = 2;
        detail::chunk_op op{};
        for (std::size_t ch = 0; ch < 2 && c == 2; ++ch) {  // a B whose gradient is here, chunk 0 first
          const std::size_t k = stage(d, ch), mb = nb[d][ch];
          if (mb < nf[d][ch] && f_end[k][mb] && f_end[k][mb] <= t &&
              (k + 1 == S || (b_end[k + 1][mb] && b_end[k + 1][mb] <= t)))
            c = ch, op = detail::chunk_op::input;
        }
        const std::size_t held = nf[d][0] + nf[d][1] - nw[d][0] - nw[d][1];
        for (std::size_t ch = 2; ch-- > 0 && c == 2;) {  // else a forward, the later chunk first
          const std::size_t k = stage(d, ch), mb = nf[d][ch];
          if (mb < M && held < 2 * P && (k == 0 || (f_end[k - 1][mb] && f_end[k - 1][mb] <= t)))
            c = ch, op = detail::chunk_op::forward;
        }
        if (c == 2) {  // else the oldest W: the chunk whose next W's B ran first
          const bool w0 = nw[d][0] < nb[d][0], w1 = nw[d][1] < nb[d][1];
          if (w0 && w1) c = b_end[stage(d, 0)][nw[d][0]] <= b_end[stage(d, 1)][nw[d][1]] ? 0 : 1;
          else if (w0 || w1) c = w0 ? 0 : 1;
          op = detail::chunk_op::weight;
        }
        if (c == 2) continue;
        const std::size_t k = stage(d, c);
        const std::size_t mb = op == detail::chunk_op::forward ? nf[d][c]++
                               : op == detail::chunk_op::input ? nb[d][c]++
                                                               : nw[d][c]++;
        if (op == detail::chunk_op::forward) f_end[k][mb] = t + 1;
        if (op == detail::chunk_op::input) b_end[k][mb] = t + 1;
        detail::add_item(b[d], S, k, mb, op);
        busy_until[d] = t + 1;
        --left;
      }
    }
    std::array<program<N>, P> all{};
    for (std::size_t d = 0; d < P; ++d) {
      b[d].add({.op = opcode::optimizer_step, .stage = std::uint16_t(stage(d, 0))});
      b[d].add({.op = opcode::optimizer_step, .stage = std::uint16_t(stage(d, 1))});
      all[d] = b[d].finish();
    }
    return all;
  }
};

/// Whether schedule S gives each device several stages.
template <class S>
inline constexpr bool is_chunked_schedule = requires { S::chunks; };

}  // namespace plait
