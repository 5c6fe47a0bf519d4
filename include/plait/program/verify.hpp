#pragma once
// Compile-time verification of a set of per-device programs: a constexpr simulation of all of them
// together, with the runtime's semantics for point-to-point messages:
//   - a send is posted when the device reaches it and does not block the device: posted sends of
//     one (sender, receiver) pair are delivered in order, like an untagged NCCL/MPI channel;
//   - a receive blocks its device until the oldest undelivered send of that pair is delivered; that
//     send must carry the same message (activation or gradient) of the same micro-batch.
//   - a collective blocks its device until every device of its group (collective_group: the inner
//     group or the data-parallel group of a device mesh) has reached its collective of the same
//     rank in that group; these must be the same operation on the same buffer and stage.
// The verdict says whether every send meets its receive in the same per-peer order, whether the
// collectives of every group agree, and whether the programs can run to their end together (no
// deadlock): no receive or collective waits forever and no send is left undelivered. Policies
// static_assert it (see policy/pipeline.hpp, policy/mesh.hpp).
//
// Peers of sends and receives are ranks in the sender's inner group of `Inner` devices (device d
// is rank d % Inner of group d / Inner); with Inner = P, the device indices themselves.

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

/// Whether devices d and m are in the same group of kind g on a mesh with inner groups of I devices
/// made of tensor groups of T: the inner kind is the tensor group, the data-parallel kind the devices
/// of equal inner rank.
constexpr bool same_group(std::size_t d, std::size_t m, std::int16_t g, std::size_t inner, std::size_t tensor) {
  return g == std::int16_t(collective_group::data_parallel) ? d % inner == m % inner : d / tensor == m / tensor;
}
}  // namespace detail

namespace detail {
/// The programs with the peers of sends and receives as devices of the mesh: in a program they name
/// stages of the sender's pipeline group (a peer outside the group becomes P, which is no device).
template <std::size_t Inner, std::size_t Tensor, std::size_t P, std::size_t N>
constexpr std::array<program<N>, P> global_peers(const std::array<program<N>, P>& progs) {
  std::array<program<N>, P> global = progs;
  for (std::size_t d = 0; d < P; ++d)
    for (instruction& i : global[d])
      if ((i.op == opcode::send || i.op == opcode::recv) && i.peer >= 0 && std::size_t(i.peer) < Inner / Tensor)
        i.peer = std::int16_t(d / Inner * Inner + std::size_t(i.peer) * Tensor + d % Tensor);
      else if ((i.op == opcode::send || i.op == opcode::recv) && i.peer >= 0) i.peer = std::int16_t(P);
  return global;
}

template <std::size_t P, std::size_t N, std::size_t Inner, std::size_t Tensor>
constexpr verdict verify_global(const std::array<program<N>, P>& progs) {
  std::array<std::size_t, P> pc{};
  // Collectives each device has passed, per group kind (inner, data-parallel).
  std::array<std::array<std::size_t, 2>, P> passed{};
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
        if (is_collective(i.op)) {
          if (i.peer < 0 || i.peer > 1) return {verdict::bad_peer, d, pc[d]};
          const std::size_t g = std::size_t(i.peer);
          bool all_here = true;
          for (std::size_t m = 0; m < P && all_here; ++m) {
            if (m == d || !same_group(d, m, i.peer, Inner, Tensor)) continue;
            if (passed[m][g] > passed[d][g]) continue;  // m went through this collective already
            const bool waiting = pc[m] < N && progs[m][pc[m]].op != opcode::nop && is_collective(progs[m][pc[m]].op) &&
                                 progs[m][pc[m]].peer == i.peer && passed[m][g] == passed[d][g];
            if (!waiting) {
              all_here = false;
              break;
            }
            const instruction& theirs = progs[m][pc[m]];
            if (theirs.op != i.op || theirs.buffer != i.buffer || theirs.stage != i.stage)
              return {verdict::mismatch, d, pc[d]};
          }
          if (!all_here) break;  // blocked until the group is here
          ++passed[d][g];
        }
        if (i.op == opcode::recv) {
          const std::size_t q = std::size_t(i.peer);
          const std::size_t k = next_send(progs[q], d, cursor[q][d], pc[q]);
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
      const std::size_t k = next_send(progs[q], d, cursor[q][d], N);
      if (k != N) return {verdict::unmatched_send, q, k};
    }
  return {};
}
}  // namespace detail

/// The programs of a mesh whose inner groups have `Inner` devices: Inner / Tensor pipeline stages of
/// Tensor devices each (device d = replica * Inner + stage * Tensor + shard).
template <std::size_t Inner, std::size_t Tensor = 1, std::size_t P, std::size_t N>
constexpr verdict verify_mesh(const std::array<program<N>, P>& progs) {
  static_assert(
      Inner >= 1 && P % Inner == 0 && Inner % Tensor == 0,
      "plait: verify_mesh is given group sizes that do not divide the devices. Fix: pass Tensor dividing Inner dividing P.");
  return detail::verify_global<P, N, Inner, Tensor>(detail::global_peers<Inner, Tensor>(progs));
}

/// The programs of one group of P devices (a pipeline, a partition, replicate alone).
template <std::size_t P, std::size_t N>
constexpr verdict verify_messages(const std::array<program<N>, P>& progs) {
  return verify_mesh<P>(progs);
}

/// Where each micro-batch's work ends in a program: its last backward (several under replicate,
/// one per bucket stage) or, where the backward is split, its last weight part; or none.
template <std::size_t N>
constexpr std::array<std::size_t, N + 1> last_backward(const program<N>& p) {
  std::array<std::size_t, N + 1> last{};
  for (auto& l : last) l = N;
  for (std::size_t k = 0; k < N; ++k)
    if (frees_activations(p[k].op) && p[k].microbatch <= N) last[p[k].microbatch] = k;
  return last;
}

/// How a pipeline stage reads the messages it receives: each kind copied into its own memory when
/// received, or read in place, in the sender's memory, until done with it (read_ends_of). The
/// sender reuses a slot's activation buffer (when the slot is taken again) and its gradient buffer
/// (at the next B from the slot) only once what it sent from there was received or read.
struct message_reads {
  bool activations = false, gradients = false;
};

/// Where a program is done with what it received of each micro-batch when it reads its messages in
/// place (runtime/executor.hpp): a received activation at its last backward of the micro-batch (W
/// where the backward is split: the first layer's weight gradient reads its input), a received
/// gradient at its first backward of the micro-batch (B where split: the gradient is read there, and
/// what W needs of it is kept). N where it has none.
template <std::size_t N>
struct read_ends {
  std::array<std::size_t, N + 1> activation{}, gradient{};
};
template <std::size_t N>
constexpr read_ends<N> read_ends_of(const program<N>& p) {
  read_ends<N> e;
  e.activation = last_backward(p);
  for (auto& g : e.gradient) g = N;
  for (std::size_t k = 0; k < N; ++k)
    if ((p[k].op == opcode::backward || p[k].op == opcode::backward_input) && p[k].microbatch <= N &&
        e.gradient[p[k].microbatch] == N)
      e.gradient[p[k].microbatch] = k;
  return e;
}

/// Whether instruction i writes the gradient its stage sends back (a B or whole backward): it reuses
/// its slot's gradient buffer.
constexpr bool writes_input_gradient(const instruction& i) {
  return i.op == opcode::backward || i.op == opcode::backward_input;
}

/// The pc of the instruction after which stage q, the receiver of send i (at pc `at` of its sender,
/// received at q's pc `received`, N while not), is done with it under `reads`; N while not received.
template <std::size_t N>
constexpr std::size_t read_end(const instruction& i, std::size_t received, const read_ends<N>& q, message_reads reads) {
  if (received == N || i.microbatch > N) return received;
  const bool act = message_kind(i.buffer) == message_kind::activation;
  const std::size_t end =
      act ? (reads.activations ? q.activation[i.microbatch] : N) : (reads.gradients ? q.gradient[i.microbatch] : N);
  return end == N ? received : end;
}

/// Whether any program splits a backward into its input and weight parts (zero-bubble schedules):
/// the runtime then keeps each layer's output gradient from B to W.
template <std::size_t P, std::size_t N>
constexpr bool splits_backward(const std::array<program<N>, P>& progs) {
  for (const auto& p : progs)
    for (const instruction& i : p)
      if (i.op == opcode::backward_input || i.op == opcode::backward_weight) return true;
  return false;
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
    if (frees_activations(i.op) && last[i.microbatch] == k) {
      live[i.microbatch] = false;
      --count;
    }
  }
  return peak;
}

/// The activation slots a stage plans: its peak of micro-batches in flight (at least one), and
/// `spare` more where the policy asks for them (pipeline's spare_slots<K>), never more than one per
/// micro-batch of the step (M).
constexpr std::size_t planned_slots(std::size_t peak, std::size_t M, std::size_t spare = 0) {
  const std::size_t base = peak ? peak : 1;
  const std::size_t most = M > base ? M : base;
  return base + spare < most ? base + spare : most;
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
    if (frees_activations(i.op) && last[i.microbatch] == k) {
      if (holder[slot] != int(i.microbatch)) return false;
      holder[slot] = -1;
    }
  }
  return true;
}

}  // namespace plait
