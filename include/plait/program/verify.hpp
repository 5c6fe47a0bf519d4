#pragma once
// Compile-time verification of a set of per-device programs: a constexpr simulation of all of them
// together, with the runtime's semantics for point-to-point messages:
//   - a send is posted when the device reaches it and does not block the device: posted sends of
//     one (sender, receiver) pair are delivered in order, like an untagged NCCL/MPI channel;
//   - a receive blocks its device until the oldest undelivered send of that pair is delivered; that
//     send must carry the same message (activation or gradient) of the same micro-batch.
// The verdict says whether every send meets its receive in the same per-peer order, and whether the
// programs can run to their end together (no deadlock): no receive waits forever and no send is
// left undelivered. Policies static_assert it (see policy/pipeline.hpp).

#include <array>
#include <cstddef>

#include "instruction.hpp"

namespace plait {

struct verdict {
  enum kind_t { ok, mismatch, deadlock, unmatched_send, bad_peer } kind = ok;
  std::size_t device = 0;  // where the simulation found the problem
  std::size_t pc = 0;      // the instruction there
  constexpr explicit operator bool() const { return kind == ok; }
};

namespace detail {
/// The next send from device q to device d at or after position `from` of q's program and before
/// q's current position `until` (posted sends only), or N.
template <std::size_t N>
constexpr std::size_t next_send(const program<N>& q, std::size_t d, std::size_t from, std::size_t until) {
  for (std::size_t k = from; k < until; ++k)
    if (q[k].op == opcode::send && std::size_t(q[k].peer) == d) return k;
  return N;
}
}  // namespace detail

template <std::size_t P, std::size_t N>
constexpr verdict verify_messages(const std::array<program<N>, P>& progs) {
  std::array<std::size_t, P> pc{};
  // Per (sender, receiver) channel: where to look for its next undelivered send in the sender's program.
  std::array<std::array<std::size_t, P>, P> cursor{};
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t d = 0; d < P; ++d) {
      while (pc[d] < N) {
        const instruction& i = progs[d][pc[d]];
        if (i.op == opcode::send || i.op == opcode::recv) {
          if (i.peer < 0 || std::size_t(i.peer) >= P || std::size_t(i.peer) == d) return {verdict::bad_peer, d, pc[d]};
        }
        if (i.op == opcode::recv) {
          const std::size_t q = std::size_t(i.peer);
          const std::size_t k = detail::next_send(progs[q], d, cursor[q][d], pc[q]);
          if (k == N) break;  // nothing posted from q yet: blocked
          const instruction& s = progs[q][k];
          if (s.buffer != i.buffer || s.microbatch != i.microbatch) return {verdict::mismatch, d, pc[d]};
          cursor[q][d] = k + 1;
        }
        ++pc[d];
        progress = true;
      }
    }
  }
  for (std::size_t d = 0; d < P; ++d)
    if (pc[d] < N) return {verdict::deadlock, d, pc[d]};
  for (std::size_t q = 0; q < P; ++q)
    for (std::size_t d = 0; d < P; ++d) {
      const std::size_t k = detail::next_send(progs[q], d, cursor[q][d], N);
      if (k != N) return {verdict::unmatched_send, q, k};
    }
  return {};
}

/// Where each micro-batch's work ends in a program: its last backward (several under replicate,
/// one per bucket stage), or none.
template <std::size_t N>
constexpr std::array<std::size_t, N + 1> last_backward(const program<N>& p) {
  std::array<std::size_t, N + 1> last{};
  for (auto& l : last) l = N;
  for (std::size_t k = 0; k < N; ++k)
    if (p[k].op == opcode::backward && p[k].microbatch <= N) last[p[k].microbatch] = k;
  return last;
}

/// Micro-batches whose activations a device holds at most at once: those whose first forward has
/// run and whose last backward has not.
template <std::size_t N>
constexpr std::size_t peak_inflight(const program<N>& p) {
  const auto last = last_backward(p);
  std::array<bool, N + 1> live{};
  std::size_t count = 0, peak = 0;
  for (std::size_t k = 0; k < N; ++k) {
    const instruction& i = p[k];
    if (i.microbatch > N) continue;
    if (i.op == opcode::forward && !live[i.microbatch]) {
      live[i.microbatch] = true;
      peak = ++count > peak ? count : peak;
    }
    if (i.op == opcode::backward && last[i.microbatch] == k) {
      live[i.microbatch] = false;
      --count;
    }
  }
  return peak;
}

/// Whether giving micro-batch mb the activation slot mb % slots never overwrites a micro-batch
/// whose last backward has not run yet.
template <std::size_t N>
constexpr bool slots_suffice(const program<N>& p, std::size_t slots) {
  if (slots == 0) return peak_inflight(p) == 0;
  const auto last = last_backward(p);
  std::array<int, N + 1> holder{};
  for (auto& h : holder) h = -1;
  for (std::size_t k = 0; k < N; ++k) {
    const instruction& i = p[k];
    const std::size_t slot = i.microbatch % slots;
    if (i.op == opcode::forward && holder[slot] != int(i.microbatch)) {
      if (holder[slot] >= 0) return false;
      holder[slot] = i.microbatch;
    }
    if (i.op == opcode::backward && last[i.microbatch] == k) {
      if (holder[slot] != int(i.microbatch)) return false;
      holder[slot] = -1;
    }
  }
  return true;
}

}  // namespace plait
