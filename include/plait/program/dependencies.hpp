#pragma once
// Compile-time proof that a pipeline schedule computes every micro-batch in dependency order, on the
// activation slots the runtime plans (program/verify.hpp proves the messages match and cannot
// deadlock; this proves what the messages carry was computed, and that bounded slots suffice).
//
// For programs of P stages (stage s on device s, peers are stage numbers) and M micro-batches:
//   - every stage runs forward(mb) and backward(mb) exactly once for each mb < M, or instead of the
//     backward its two parts, backward_input(mb) (B) and backward_weight(mb) (W), exactly once each,
//     W after B; the last stage loss(mb) exactly once; no instruction names a micro-batch >= M;
//   - a stage after the first receives mb's activation exactly once, before forward(mb); a stage
//     before the last sends it exactly once, after forward(mb) (F of stage s precedes F of s + 1);
//   - a stage before the last receives mb's gradient before backward(mb); the last stage computes
//     loss(mb) after forward(mb) and before backward(mb); a stage after the first sends the gradient
//     after backward(mb) (B of stage s + 1 precedes B of stage s); backward(mb) follows forward(mb);
//     where the backward is split, "backward" above is its input part B, which computes what is sent;
//   - with the runtime's slots (micro-batch mb in slot mb % slots[s], slots[s] = the stage's peak of
//     micro-batches in flight and any spare slots the policy adds), a slot is taken by a receive or a
//     first stage's forward only when its earlier micro-batch's backward (or W) has run and the
//     activation sent from it has been taken; the programs run to their end together under that rule
//     (bounded slots, not unbounded sends); a B rewrites its slot's gradient buffer only once the
//     gradient sent from it before was taken. Where a kind of message is read in place
//     (message_reads: the receiver reads it in the sender's memory instead of copying it), it counts
//     as taken only once its receiver is done with it (read_ends_of).

#include <array>
#include <cstddef>

#include "instruction.hpp"
#include "turns.hpp"
#include "verify.hpp"

namespace plait {

struct order_verdict {
  enum kind_t { ok, count, order, weight_order, slot_overwrite, slot_deadlock } kind = ok;
  std::size_t stage = 0;       // where the problem is
  std::size_t pc = 0;          // its instruction (count: the end of the program)
  std::size_t microbatch = 0;  // the micro-batch it concerns
  constexpr explicit operator bool() const { return kind == ok; }
};

namespace detail {
/// Where each kind of instruction of micro-batch mb sits in a stage's program (N: absent).
template <std::size_t N>
struct mb_positions {
  std::size_t forward = N, backward = N, loss = N, recv_act = N, send_act = N, recv_grad = N, send_grad = N;
  std::size_t whole = N, weight = N;  // backward is B (whole or input part); whole: the unsplit backward
};

template <std::size_t N>
constexpr order_verdict check_stage(const program<N>& p, std::size_t s, std::size_t P, std::size_t M) {
  // One pass over the program records where each micro-batch's instructions sit (a micro-batch below M
  // is below N: each has an instruction), then each micro-batch is checked from its positions.
  std::array<mb_positions<N>, N> positions{};
  for (std::size_t k = 0; k < N; ++k) {
    const instruction& i = p[k];
    if (i.op == opcode::nop || i.op == opcode::optimizer_step || is_collective(i.op) || i.op == opcode::scatter)
      continue;
    if (i.microbatch >= M || i.microbatch >= N) return {order_verdict::count, s, k, i.microbatch};
    mb_positions<N>& at = positions[i.microbatch];
    const bool act = message_kind(i.buffer) == message_kind::activation;
    std::size_t* slot = nullptr;
    switch (i.op) {
      case opcode::forward: slot = &at.forward; break;
      case opcode::backward: slot = &at.whole; break;
      case opcode::backward_input: slot = &at.backward; break;
      case opcode::backward_weight: slot = &at.weight; break;
      case opcode::loss: slot = &at.loss; break;
      case opcode::recv: slot = act ? &at.recv_act : &at.recv_grad; break;
      case opcode::send: slot = act ? &at.send_act : &at.send_grad; break;
      default: break;
    }
    if (!slot) continue;
    if (*slot != N) return {order_verdict::count, s, k, i.microbatch};  // twice
    *slot = k;
  }
  const bool first = s == 0, last = s + 1 == P;
  const auto has = [](std::size_t x) { return x != N; };
  for (std::size_t mb = 0; mb < M; ++mb) {
    if (mb >= N) return {order_verdict::count, s, N, mb};
    mb_positions<N> at = positions[mb];
    if (has(at.whole) && (has(at.backward) || has(at.weight))) return {order_verdict::count, s, at.whole, mb};
    if (has(at.backward) != has(at.weight)) return {order_verdict::count, s, N, mb};
    if (has(at.whole)) at.backward = at.whole;
    if (!has(at.forward) || !has(at.backward) || has(at.loss) != last || has(at.recv_act) == first ||
        has(at.send_act) == last || has(at.recv_grad) == last || has(at.send_grad) == first)
      return {order_verdict::count, s, N, mb};
    if (at.backward < at.forward) return {order_verdict::order, s, at.backward, mb};
    if (has(at.weight) && at.weight < at.backward) return {order_verdict::weight_order, s, at.weight, mb};
    if (!first && at.forward < at.recv_act) return {order_verdict::order, s, at.forward, mb};
    if (!last && at.send_act < at.forward) return {order_verdict::order, s, at.send_act, mb};
    if (!last && at.backward < at.recv_grad) return {order_verdict::order, s, at.backward, mb};
    if (last && (at.loss < at.forward || at.backward < at.loss)) return {order_verdict::order, s, at.loss, mb};
    if (!first && at.send_grad < at.backward) return {order_verdict::order, s, at.send_grad, mb};
  }
  return {};
}
}  // namespace detail

/// Every stage's program checked alone (counts and order), then all of them run together on bounded
/// slots (planned_slots: the peak, and `spare` more), each kind of message copied when received or
/// read in place (`reads`). Requires programs that verify_messages accepts.
template <std::size_t P, std::size_t N>
constexpr order_verdict verify_order(const std::array<program<N>, P>& progs, std::size_t M, message_reads reads = {},
                                     std::size_t spare = 0) {
  for (std::size_t s = 0; s < P; ++s)
    if (const order_verdict v = detail::check_stage(progs[s], s, P, M); !v) return v;
  std::array<std::size_t, P> slots{};
  for (std::size_t s = 0; s < P; ++s) slots[s] = planned_slots(peak_inflight(progs[s]), M, spare);
  // The programs run together, each stage on a device of its own (program/turns.hpp's run).
  const turn_verdict v = verify_turns(one_stage_per_device(progs), slots, reads);
  if (v) return {};
  std::size_t pc = 0;  // the stuck instruction's pc in its program, nops counted
  for (std::size_t seen = 0; pc < N; ++pc)
    if (progs[v.stage][pc].op != opcode::nop && seen++ == v.pc) break;
  return {v.kind == turn_verdict::slot_overwrite ? order_verdict::slot_overwrite : order_verdict::slot_deadlock,
          v.stage, pc, progs[v.stage][pc].microbatch};
}

}  // namespace plait
