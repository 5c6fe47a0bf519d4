#pragma once
// stage_messages: what one logical device of a pipeline has in flight with its neighbours
// (runtime/executor.hpp). Sends are posted and do not wait: the sender's buffer (its slot's output, or
// its slot's input gradient) stays the receiver's to read until taken, and is not rewritten before:
// a slot's output when the slot is taken again, its input gradient at the slot's next B. A receiver
// copies what it receives into its own memory, or, for the kinds the plan's verification proved it
// for (message_reads, program/verify.hpp; policy/pipeline.hpp), reads it in place, in the sender's
// memory, and releases it once done with it: an activation after its slot's last backward (or W),
// a gradient after the backward that reads it. A copy costs the receiver a pass over the message on
// the schedule's critical path; reading in place costs nothing, but holds the sender's buffer longer,
// which the verification and the planned timeline count.

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace plait::detail {

/// Slots whose messages stage_messages tracks one by one.
inline constexpr std::size_t tracked_slots = 64;

/// Whether a device may read messages in place: where the transport lends the sender's buffer
/// (borrow / release: threads of one process), the host reads the device's memory, and every slot's
/// messages are tracked one by one (past `tracked` slots a slot waits for everything sent, which a
/// message held until a later backward would keep from coming).
template <class Comm>
constexpr bool reads_in_place(bool host_memory, std::size_t slots) {
  return host_memory && slots <= tracked_slots&&
                              requires(Comm & c, std::uint64_t & t)
  {
    c.borrow(std::size_t{}, std::size_t{}, t);
  };
}

/// Comm: the pipeline group's communicator (post / take / wait_taken; borrow / release where a kind
/// is read in place). Activations, Gradients: the kinds read in place.
template <class Comm, bool Activations, bool Gradients>
class stage_messages {
 public:
  enum kind : std::size_t { activation = 0, gradient = 1 };
  static constexpr std::size_t tracked = tracked_slots;  // past them, every message is awaited
  static_assert(!(Activations || Gradients) || reads_in_place<Comm>(true, tracked));

  /// Posts [n] at `buf` (slot k's) to `peer`; `up`: to a later stage.
  void post(Comm& c, kind w, std::size_t k, const float* buf, std::size_t n, std::size_t peer, bool up) {
    const posted p{peer, c.post(buf, n, peer)};
    if (k < tracked) slot_sent_[w][k] = p;
    last_sent_[up ? 0 : 1] = p;
  }
  /// Waits until what slot k sent of kind w was taken: copied, or read and released.
  void await(Comm& c, kind w, std::size_t k) {
    if (k >= tracked) return await_all(c);
    wait(c, slot_sent_[w][k]);
  }
  /// Waits until everything sent was taken (the next step may rewrite any buffer).
  void await_all(Comm& c) {
    for (auto& p : last_sent_) wait(c, p);
    if constexpr (Activations || Gradients)  // a message read in place may be released after a later one
      for (auto& sent : slot_sent_)
        for (auto& p : sent) wait(c, p);
  }

  /// Slot k's activation, [n] from `peer`: read in place (Activations, slot k tracked), held until
  /// release_input(k); else copied to `into`.
  void receive_activation(Comm& c, std::size_t k, float* into, std::size_t n, std::size_t peer) {
    if constexpr (Activations) {
      if (k < tracked) {
        input_at_[k] = c.borrow(n, peer, held_input_[k].ticket);
        held_input_[k].peer = peer;
        return;
      }
    }
    c.take(into, n, peer);
  }
  /// Where slot k's activation is: in the sender's memory if read in place (once), else null.
  const float* input(std::size_t k) {
    if constexpr (Activations)
      if (k < tracked) return std::exchange(input_at_[k], nullptr);
    return nullptr;
  }
  /// The gradient, [n] from `peer`: in the sender's memory (Gradients), held until
  /// release_gradient(), which its reader may overwrite (the sender does not read it again); else
  /// copied to `into`. Returns where it is.
  float* receive_gradient(Comm& c, float* into, std::size_t n, std::size_t peer) {
    if constexpr (Gradients) {
      held_grad_.peer = peer;
      // The sender's input gradient buffer, which it never reads after sending.
      return const_cast<float*>(c.borrow(n, peer, held_grad_.ticket));
    } else {
      c.take(into, n, peer);
      return into;
    }
  }
  void release_input(Comm& c, std::size_t k) {
    if constexpr (Activations)
      if (k < tracked) release(c, held_input_[k]);
  }
  void release_gradient(Comm& c) {
    if constexpr (Gradients) release(c, held_grad_);
  }
  /// Releases whatever is still held (nothing after a verified program's end; what a failed step held).
  void release_all(Comm& c) {
    if constexpr (Activations)
      for (auto& p : held_input_) release(c, p);
    release_gradient(c);
  }

 private:
  struct posted {
    std::size_t peer = 0;
    std::uint64_t ticket = 0;
  };
  static void wait(Comm& c, posted& p) {
    if (p.ticket) c.wait_taken(p.peer, std::exchange(p.ticket, 0));
  }
  static void release(Comm& c, posted& p) {
    if constexpr (Activations || Gradients)
      if (p.ticket) c.release(p.peer, std::exchange(p.ticket, 0));
  }

  std::array<std::array<posted, tracked>, 2> slot_sent_{};  // the last message posted from each slot, by kind
  std::array<posted, 2> last_sent_{};                       // the last message posted up / down
  std::array<posted, tracked> held_input_{};                // Activations: each slot's, read in place
  std::array<const float*, tracked> input_at_{};            // ... and where it is, until forward binds it
  posted held_grad_{};                                      // Gradients: the one the next backward reads
};

}  // namespace plait::detail
