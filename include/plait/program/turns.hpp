#pragma once
// Several stages on one device, taking turns (interleaved and V-shaped pipeline schedules,
// program/chunked_schedules.hpp).
//
// A chunked schedule gives one program per device in which every instruction names the stage that
// runs it (peers are stage numbers too): the device's order. split_turns turns it into one program
// per stage (the stage's instructions, in the device's order) and, for each, where its instructions
// sit in its device's order. The runtime keeps every stage as a logical device of its own (its
// memory, its slots, its messages) and runs the stages of one device on one thread, in that order
// (runtime/executor.hpp, run_together): one of them computes at a time, as on one device.
//
// Because a stage that waits for a message holds its device's turn, the stages' programs verifying
// one by one (program/verify.hpp, program/dependencies.hpp) is not enough: verify_turns runs all of
// them together under the turns, with the activation slots the runtime plans, and finds a deadlock
// that only the turns cause. The same run with one stage per device is verify_order's (its slots
// and messages without turns); plan_turn_timeline is the planned timeline of the run.

#include <array>
#include <cstddef>
#include <cstdint>

#include "inference.hpp"
#include "instruction.hpp"
#include "timeline.hpp"
#include "verify.hpp"

namespace plait {

/// S stages on P devices, each device's programs of at most N instructions.
template <std::size_t S, std::size_t P, std::size_t N>
struct turn_split {
  struct at {
    std::uint16_t stage = 0;
    std::uint16_t pc = 0;
  };
  std::array<program<N>, S> programs{};                    // stage k's instructions in its device's order, nop-padded
  std::array<std::size_t, S> device{};                     // the device that runs stage k
  std::array<std::array<std::uint32_t, N>, S> position{};  // where stage k's instruction j sits in its device's order
  std::array<std::array<at, S * N>, P> order{};            // device d's n-th instruction: (stage, pc)
  std::array<std::size_t, P> length{};                     // instructions in device d's order
};

/// One program per stage from each device's order (`merged[d]`: instructions naming their stage; nops
/// ignored). A stage must appear on one device only.
template <std::size_t S, std::size_t P, std::size_t N>
constexpr turn_split<S, P, N> split_turns(const std::array<program<N>, P>& merged) {
  turn_split<S, P, N> t;
  std::array<std::size_t, S> count{};
  std::array<bool, S> seen{};
  for (std::size_t d = 0; d < P; ++d)
    for (const instruction& i : merged[d]) {
      if (i.op == opcode::nop) continue;
      const std::size_t k = i.stage;
      if (k >= S) throw "split_turns: an instruction names a stage beyond the pipeline";
      if (seen[k] && t.device[k] != d) throw "split_turns: a stage appears on two devices";
      seen[k] = true;
      t.device[k] = d;
      t.position[k][count[k]] = std::uint32_t(t.length[d]);
      t.order[d][t.length[d]++] = {std::uint16_t(k), std::uint16_t(count[k])};
      t.programs[k][count[k]++] = i;
    }
  for (std::size_t k = 0; k < S; ++k) {
    if (!seen[k]) throw "split_turns: a stage has no instruction";
    for (std::size_t j = count[k]; j < N; ++j) t.programs[k][j] = {.op = opcode::nop};
  }
  return t;
}

/// Stage programs (peers are stage numbers) as a split of one stage per device, every instruction
/// renamed to its program's stage: a plain schedule's run, which verify_order makes and the pipeline's
/// slot-aware plan of a plain schedule times.
template <std::size_t S, std::size_t N>
constexpr turn_split<S, S, N> one_stage_per_device(std::array<program<N>, S> programs) {
  for (std::size_t s = 0; s < S; ++s)
    for (instruction& i : programs[s]) i.stage = std::uint16_t(s);
  return split_turns<S>(programs);
}

/// The same split rebuilt from stage programs and their places (`places[k][j]`: where stage k's j-th
/// instruction that takes a turn sits in its device's order; `device[k]` its device). Instructions
/// that take no turn (the data-parallel collectives a mesh adds before each optimizer step) go into
/// the order just before the next one that does. For a mesh's programs: its planned timeline.
template <std::size_t P, std::size_t S, std::size_t N, class Places>
constexpr turn_split<S, P, N> turns_of(const std::array<program<N>, S>& programs, const Places& places,
                                       const std::array<std::size_t, S>& device) {
  turn_split<S, P, N> t;
  t.programs = programs;
  t.device = device;
  std::array<std::size_t, P> turns{};                   // instructions that take a turn, per device
  std::array<std::array<std::size_t, N>, S> turn_pc{};  // stage k's j-th turn instruction: its pc
  std::array<std::size_t, S> count{};                   // turn instructions per stage
  for (std::size_t k = 0; k < S; ++k) {
    std::size_t j = 0;
    for (std::size_t pc = 0; pc < N; ++pc) {
      const instruction& i = programs[k][pc];
      if (i.op == opcode::nop || (is_collective(i.op) && i.peer == std::int16_t(collective_group::data_parallel)))
        continue;
      turn_pc[k][j++] = pc;
    }
    turns[device[k]] += j;
    count[k] = j;
  }
  std::array<std::size_t, S> next{};  // per stage: its next pc to place in the order
  for (std::size_t d = 0; d < P; ++d)
    for (std::size_t place = 0; place < turns[d]; ++place) {
      std::size_t k = S, j = 0;
      for (std::size_t s = 0; s < S && k == S; ++s)
        for (std::size_t n = 0; n < count[s] && device[s] == d; ++n)
          if (std::size_t(places[s][n]) == place) {
            k = s, j = n;
            break;
          }
      if (k == S) throw "turns_of: a place of a device's order has no instruction";
      for (std::size_t pc = next[k]; pc <= turn_pc[k][j]; ++pc) {
        t.position[k][pc] = std::uint32_t(t.length[d]);
        t.order[d][t.length[d]++] = {std::uint16_t(k), std::uint16_t(pc)};
      }
      next[k] = turn_pc[k][j] + 1;
    }
  return t;
}

/// A device's order for the inference programs (each a training program's forward part, with a
/// gather after the last stage's forwards: program/inference.hpp), following the training order
/// `t`: the forward-part instructions in the same places, each gather right after its forward.
template <std::size_t S, std::size_t P, std::size_t N, std::size_t N2>
struct inference_turns {
  std::array<std::array<typename turn_split<S, P, N>::at, S * N2>, P> order{};
  std::array<std::size_t, P> length{};
};
template <std::size_t S, std::size_t P, std::size_t N, std::size_t N2>
constexpr inference_turns<S, P, N, N2> inference_order(const turn_split<S, P, N>& t,
                                                       const std::array<program<N2>, S>& inference) {
  inference_turns<S, P, N, N2> r;
  std::array<std::size_t, S> next{};
  for (std::size_t d = 0; d < P; ++d)
    for (std::size_t n = 0; n < t.length[d]; ++n) {
      const std::size_t k = t.order[d][n].stage;
      const instruction& i = t.programs[k][t.order[d][n].pc];
      if (!is_forward_part(i)) continue;
      if (next[k] >= N2 || !(inference[k][next[k]] == i))
        throw "inference_order: not the training program's forward part";
      r.order[d][r.length[d]++] = {std::uint16_t(k), std::uint16_t(next[k]++)};
      while (next[k] < N2 && inference[k][next[k]].op == opcode::gather)
        r.order[d][r.length[d]++] = {std::uint16_t(k), std::uint16_t(next[k]++)};
    }
  return r;
}

/// What verify_turns finds: ok, or a device that can never go on, at its instruction `at` (its
/// order's index), which stage `stage` would run at pc `pc` (its index in the stage's program without
/// nops): deadlock, or slot_overwrite where that instruction would take the activation slot of a
/// micro-batch whose last backward (or W) has not run, which no other stage can change.
struct turn_verdict {
  enum kind_t { ok, deadlock, slot_overwrite } kind = ok;
  std::size_t device = 0, at = 0, stage = 0, pc = 0;
  constexpr explicit operator bool() const { return kind == ok; }
};

namespace detail {
// The run of a turn_split: each device executes its order; a receive waits for its send; a slot is
// taken (a receive of an activation, or the first stage's forward) only when its earlier micro-batch
// is done with it (last backward or W) and the activation sent from it was taken, and a B rewrites
// its slot's gradient buffer only once the gradient sent from it was taken (the runtime's waits):
// received or, read in place (`reads`), read to its end by the receiver (read_ends_of,
// program/verify.hpp). `step(d, k, j, from, sent_at, waits)` is called as instruction j of stage k
// starts on device d: `from`, `sent_at` the send a receive matched; `waits` the (stage, pc) of the
// instructions whose end freed what it rewrites (for the timeline).
struct stage_pc {
  std::size_t stage = 0, pc = 0;
  bool valid = false;
};
template <std::size_t S, std::size_t P, std::size_t N, class Step>
constexpr turn_verdict run_turns(const turn_split<S, P, N>& t, const std::array<std::size_t, S>& slots, Step step,
                                 message_reads reads = {}) {
  const auto& progs = t.programs;
  std::array<std::size_t, P> cursor{};
  std::array<std::size_t, S> pc{};
  std::array<std::array<std::size_t, S>, S> taken{};  // per (sender, receiver): the next send to match
  std::array<std::array<int, N + 1>, S> holder{};
  std::array<std::array<std::array<std::size_t, 2>, N + 1>, S> last_send{};
  std::array<std::array<std::size_t, N>, S> received_at{};  // [sender][send's pc]: the receive's pc
  std::array<read_ends<N>, S> ends{};
  for (auto& h : holder)
    for (auto& x : h) x = -1;
  for (auto& l : last_send)
    for (auto& x : l) x = {N, N};
  for (auto& r : received_at)
    for (auto& x : r) x = N;
  if (reads.activations || reads.gradients)  // read_end looks them up only for what is read in place
    for (std::size_t k = 0; k < S; ++k) ends[k] = read_ends_of(progs[k]);
  // Whether stage k's send at pc `at` (if any) was taken; where, in `w`.
  const auto free_of = [&](std::size_t k, std::size_t at, stage_pc& w) {
    if (at == N) return true;
    const std::size_t q = std::size_t(progs[k][at].peer);
    const std::size_t end = read_end(progs[k][at], received_at[k][at], ends[q], reads);
    w = {q, end, end != N};
    return end != N && pc[q] > end;
  };
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t d = 0; d < P; ++d) {
      while (cursor[d] < t.length[d]) {
        const std::size_t k = t.order[d][cursor[d]].stage, j = t.order[d][cursor[d]].pc;
        const instruction& i = progs[k][j];
        const std::size_t slot = i.microbatch % (slots[k] ? slots[k] : 1);
        const bool takes_slot = (i.op == opcode::recv && message_kind(i.buffer) == message_kind::activation) ||
                                (i.op == opcode::forward && k == 0);
        std::size_t from = N, sent_at = N;  // a receive's sender stage and its send's pc
        std::array<stage_pc, 2> waits{};
        if (takes_slot) {
          if (holder[k][slot] >= 0 && holder[k][slot] != int(i.microbatch))
            return {turn_verdict::slot_overwrite, d, cursor[d], k, j};
          if (!free_of(k, last_send[k][slot][0], waits[0])) break;
        }
        if (writes_input_gradient(i) && !free_of(k, last_send[k][slot][1], waits[1])) break;
        if (i.op == opcode::recv) {
          from = std::size_t(i.peer);
          sent_at = next_send(progs[from], k, taken[from][k], pc[from]);
          if (sent_at == N) break;
        }
        if (takes_slot) holder[k][slot] = int(i.microbatch);
        if (i.op == opcode::recv) taken[from][k] = sent_at + 1, received_at[from][sent_at] = j;
        if (i.op == opcode::send) last_send[k][slot][message_kind(i.buffer) == message_kind::activation ? 0 : 1] = j;
        if (frees_activations(i.op) && holder[k][slot] == int(i.microbatch)) holder[k][slot] = -1;
        step(d, k, j, from, sent_at, waits);
        ++pc[k];
        ++cursor[d];
        progress = true;
      }
    }
  }
  for (std::size_t d = 0; d < P; ++d)
    if (cursor[d] < t.length[d])
      return {turn_verdict::deadlock, d, cursor[d], t.order[d][cursor[d]].stage, t.order[d][cursor[d]].pc};
  return {};
}
}  // namespace detail

/// The stages' programs run together under their devices' turns, on `slots[k]` activation slots per
/// stage, to their end; each kind of message copied when received or read in place (`reads`).
/// Requires programs that verify_messages and verify_order accept one by one.
template <std::size_t S, std::size_t P, std::size_t N>
constexpr turn_verdict verify_turns(const turn_split<S, P, N>& t, const std::array<std::size_t, S>& slots,
                                    message_reads reads = {}) {
  return detail::run_turns(
      t, slots, [](std::size_t, std::size_t, std::size_t, std::size_t, std::size_t, const auto&) {}, reads);
}

/// The planned timeline of a turn_split: an instruction starts when its device is free, what it
/// receives was sent and what it rewrites is free (what was sent from it taken: received or, read in
/// place under `reads`, read to its end); `cost(stage, instruction)` is what a computing instruction
/// takes. `verdict`, where given, receives verify_turns' verdict of the same run. Indexed by
/// stage (end[k][j], busy[k]); its bubble is averaged over the P devices.
template <std::size_t S, std::size_t P, std::size_t N, class Cost>
constexpr timeline<S, N> plan_turn_timeline(const turn_split<S, P, N>& t, const std::array<std::size_t, S>& slots,
                                            Cost cost_of, message_reads reads = {}, turn_verdict* verdict = nullptr) {
  timeline<S, N> out;
  out.machines = P;
  std::array<double, P> clock{};
  const auto step = [&](std::size_t d, std::size_t k, std::size_t j, std::size_t from, std::size_t sent_at,
                        const std::array<detail::stage_pc, 2>& waits) {
    const instruction& i = t.programs[k][j];
    if (i.op == opcode::recv && out.end[from][sent_at] > clock[d]) clock[d] = out.end[from][sent_at];
    for (const detail::stage_pc& w : waits)  // a buffer is free once what was sent from it is taken
      if (w.valid && out.end[w.stage][w.pc] > clock[d]) clock[d] = out.end[w.stage][w.pc];
    const double c = i.op == opcode::recv || i.op == opcode::send ? 0.0 : cost_of(k, i);
    clock[d] += c;
    out.end[k][j] = clock[d];
    out.busy[k] += c;
  };
  const turn_verdict v = detail::run_turns(t, slots, step, reads);
  if (verdict) *verdict = v;
  for (double c : clock) out.step = c > out.step ? c : out.step;
  return out;
}

}  // namespace plait
