#pragma once
// The planned timeline of a set of programs: when each instruction would run if forward of stage s
// took fwd[s] and backward bwd[s] time units, messages were instantaneous, and a device waited only
// for the messages it receives. From it: the step time, each device's idle time, and the bubble.

#include <array>
#include <cstddef>

#include "instruction.hpp"
#include "verify.hpp"

namespace plait {

template <std::size_t P, std::size_t N>
struct timeline {
  std::array<std::array<double, N>, P> end{};  // when each instruction ends (it begins at end - its cost)
  std::array<double, P> busy{};
  double step = 0;
  std::size_t machines = P;  // the devices the P programs run on (fewer where stages take turns: program/turns.hpp)

  /// Idle share of the step, averaged over the devices.
  constexpr double bubble_fraction() const {
    double work = 0;
    for (double b : busy) work += b;
    return step > 0 ? (step * double(machines) - work) / (step * double(machines)) : 0.0;
  }
};

/// Device d's forward takes fwd[d], the input part of its backward (B) input[d], the weight part (W)
/// weight[d], a whole backward both. Requires programs that verify_messages accepts (otherwise the
/// result is meaningless).
template <std::size_t P, std::size_t N>
constexpr timeline<P, N> plan_timeline(const std::array<program<N>, P>& progs, const std::array<double, P>& fwd,
                                       const std::array<double, P>& input, const std::array<double, P>& weight) {
  timeline<P, N> t;
  std::array<std::size_t, P> pc{};
  std::array<double, P> clock{};
  std::array<std::array<std::size_t, P>, P> cursor{};  // per (sender, receiver): the next send to match
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t d = 0; d < P; ++d) {
      while (pc[d] < N) {
        const instruction& i = progs[d][pc[d]];
        double cost = 0;
        if (i.op == opcode::recv) {
          const std::size_t q = std::size_t(i.peer);
          const std::size_t k = detail::next_send(progs[q], d, cursor[q][d], pc[q]);
          if (k == N) break;
          cursor[q][d] = k + 1;
          const double ready = t.end[q][k];  // a send is posted when its device reaches it
          clock[d] = clock[d] > ready ? clock[d] : ready;
        } else if (i.op == opcode::forward) {
          cost = fwd[d];
        } else if (is_backward(i.op)) {
          cost =
              (i.op != opcode::backward_weight ? input[d] : 0.0) + (i.op != opcode::backward_input ? weight[d] : 0.0);
        }
        clock[d] += cost;
        t.end[d][pc[d]] = clock[d];
        t.busy[d] += cost;
        ++pc[d];
        progress = true;
      }
    }
  }
  for (double c : clock) t.step = c > t.step ? c : t.step;
  return t;
}

/// The same with a whole backward of device d taking bwd[d], split evenly between its two parts (a
/// linear layer's input and weight gradients are one product each, of its forward's size).
template <std::size_t P, std::size_t N>
constexpr timeline<P, N> plan_timeline(const std::array<program<N>, P>& progs, const std::array<double, P>& fwd,
                                       const std::array<double, P>& bwd) {
  std::array<double, P> half{};
  for (std::size_t d = 0; d < P; ++d) half[d] = bwd[d] / 2;
  return plan_timeline(progs, fwd, half, half);
}

/// The same with any cost: `cost(device, instruction)` is the time a computing instruction takes
/// (messages and collectives cost nothing but their waits).
template <std::size_t Inner, std::size_t Tensor, std::size_t P, std::size_t N, class Cost>
constexpr timeline<P, N> plan_mesh_timeline_by(const std::array<program<N>, P>& programs, Cost cost_of) {
  const auto progs = detail::global_peers<Inner, Tensor>(programs);
  timeline<P, N> t;
  std::array<std::size_t, P> pc{};
  std::array<double, P> clock{};
  std::array<std::array<std::size_t, P>, P> cursor{};
  std::array<std::array<std::size_t, 2>, P> passed{};             // collectives passed, per group kind
  std::array<std::array<std::array<double, N>, 2>, P> arrived{};  // when device d reached its k-th collective of kind g
  for (auto& a : arrived)
    for (auto& g : a)
      for (auto& x : g) x = -1;
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t d = 0; d < P; ++d) {
      while (pc[d] < N) {
        const instruction& i = progs[d][pc[d]];
        double cost = 0;
        if (i.op == opcode::recv) {
          const std::size_t q = std::size_t(i.peer);
          const std::size_t k = detail::next_send(progs[q], d, cursor[q][d], pc[q]);
          if (k == N) break;
          cursor[q][d] = k + 1;
          clock[d] = clock[d] > t.end[q][k] ? clock[d] : t.end[q][k];
        } else if (is_collective(i.op)) {
          const std::size_t g = std::size_t(i.peer), k = passed[d][g];
          if (arrived[d][g][k] < 0) arrived[d][g][k] = clock[d];
          double start = clock[d];
          bool all_here = true;
          for (std::size_t m = 0; m < P && all_here; ++m) {
            if (m == d || !detail::same_group(d, m, i.peer, Inner, Tensor)) continue;
            if (arrived[m][g][k] < 0) all_here = false;
            else start = start > arrived[m][g][k] ? start : arrived[m][g][k];
          }
          if (!all_here) break;
          clock[d] = start;
          ++passed[d][g];
        } else if (i.op != opcode::send) {
          cost = cost_of(d, i);
        }
        clock[d] += cost;
        t.end[d][pc[d]] = clock[d];
        t.busy[d] += cost;
        ++pc[d];
        progress = true;
      }
    }
  }
  for (double c : clock) t.step = c > t.step ? c : t.step;
  return t;
}

/// The planned timeline of a device mesh's programs (peers as in verify_mesh<Inner, Tensor>), with
/// the cost of forward and backward taken per stage (`fwd[stage]`, `bwd[stage]`, the stage an
/// instruction names; a split backward's two parts half of bwd each): receives wait for their send, and a collective
/// ends when the last device of its group reaches it. Communication itself costs nothing here. Requires programs that
/// verify_mesh accepts.
template <std::size_t Inner, std::size_t Tensor, std::size_t P, std::size_t N, std::size_t S>
constexpr timeline<P, N> plan_mesh_timeline(const std::array<program<N>, P>& programs, const std::array<double, S>& fwd,
                                            const std::array<double, S>& bwd) {
  return plan_mesh_timeline_by<Inner, Tensor>(programs, [&](std::size_t, const instruction& i) {
    if (i.op == opcode::forward) return fwd[i.stage];
    if (i.op == opcode::backward) return bwd[i.stage];
    return is_backward(i.op) ? bwd[i.stage] / 2 : 0.0;  // its input or weight part: half each
  });
}

}  // namespace plait
