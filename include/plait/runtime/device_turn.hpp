#pragma once
// device_turn: the stages of one device taking turns (chunked pipeline schedules, program/turns.hpp).
//
// Each stage runs as a logical device on a thread of its own; before each of its instructions it
// waits until the device's turn counter reaches that instruction's place in the device's order
// (plus the run's base, so that the places of one run never meet another's), runs it, and passes
// the turn on. One stage computes at a time, as on one device, in the order the schedule was
// verified in. A stage that fails ends the turns: the others stop with an error instead of waiting
// for a turn that never comes.

#include <atomic>
#include <cstdint>

#include "../core/error.hpp"
#include "../program/instruction.hpp"
#include "follow_on_error.hpp"

namespace plait {

class device_turn {
 public:
  /// The run starting at `base`: its first instruction's place (called by the stage that has it).
  void begin(std::uint64_t base) { pass(base); }
  /// Blocks until the turn is at `place` of the run starting at `base`; a follow_on_error if a stage
  /// of the device failed in this run.
  void wait(std::uint64_t place, std::uint64_t base) const {
    for (std::uint64_t v = at_.load(std::memory_order_acquire); v != place; v = at_.load(std::memory_order_acquire)) {
      if (v == (base | failed))
        throw follow_on_error(message("a stage of this device stopped",
                                      "its stages take turns in one order, and the stage whose turn it was failed",
                                      "see that stage's error"));
      at_.wait(v, std::memory_order_acquire);
    }
  }
  /// The instruction at `place - 1` ran: the turn moves on to `place`.
  void pass(std::uint64_t place) {
    at_.store(place, std::memory_order_release);
    at_.notify_all();
  }
  /// A stage failed in the run starting at `base`: every stage waiting for a turn of it stops.
  void abandon(std::uint64_t base) { pass(base | failed); }

 private:
  static constexpr std::uint64_t failed = std::uint64_t{1} << 63;
  std::atomic<std::uint64_t> at_{0};
};

/// Runs `code`, a stage's training program, taking turns with the device's other stages: instruction
/// j (counting neither nops nor the data-parallel collectives a mesh adds, which are posted without a
/// turn) waits for place base + places[j] of the device's order. A failure ends the device's turns.
template <std::size_t N, class Places, class Handler>
void run_taking_turns(const program<N>& code, const Places& places, device_turn& turn, std::uint64_t base, Handler& h) {
  std::size_t j = 0;
  try {
    for (const instruction& i : code) {
      if (i.op == opcode::nop) continue;
      if (is_collective(i.op) && i.peer == std::int16_t(collective_group::data_parallel)) {
        execute_one(i, h);
        continue;
      }
      const std::uint64_t place = base + places[j++];
      if (place == base) turn.begin(base);
      else turn.wait(place, base);
      execute_one(i, h);
      turn.pass(place + 1);
    }
  } catch (...) {
    turn.abandon(base);
    throw;
  }
}

}  // namespace plait
