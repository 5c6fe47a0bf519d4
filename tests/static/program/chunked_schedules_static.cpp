// program/chunked_schedules.hpp and program/turns.hpp: schedules with several stages per device,
// their orders split by stage, verified under the devices' turns, and their planned figures.
// Compiling is the test.
#include <plait/program/chunked_schedules.hpp>
#include <plait/program/dependencies.hpp>
#include <plait/program/turns.hpp>

namespace {
using namespace plait;

constexpr bool near(double a, double b) { return a - b < 1e-9 && b - a < 1e-9; }

template <class Sched, std::size_t P, std::size_t M>
struct plan {
  static constexpr std::size_t S = P * Sched::chunks;
  static constexpr auto merged = Sched::template programs<P, M>();
  static constexpr auto split = split_turns<S>(merged);
  static constexpr auto slots = [] {
    std::array<std::size_t, S> s{};
    for (std::size_t k = 0; k < S; ++k) s[k] = peak_inflight(split.programs[k]) ? peak_inflight(split.programs[k]) : 1;
    return s;
  }();
  static constexpr bool placed = [] {  // every stage on the device the schedule says
    for (std::size_t k = 0; k < S; ++k)
      if (split.device[k] != Sched::device_of(P, k)) return false;
    return true;
  }();
  static constexpr bool ok =
      placed && verify_messages(split.programs) && verify_order(split.programs, M) && verify_turns(split, slots);
  // Every chunk's F, B and W as long as one unit: the bubble averaged over the P devices.
  static constexpr double bubble =
      plan_turn_timeline(split, slots, [](std::size_t, const instruction& i) {
        return i.op == opcode::forward ? 1.0 : i.op == opcode::backward ? 2.0 : is_backward(i.op) ? 1.0 : 0.0;
      }).bubble_fraction();
};

// Interleaved 1F1B, V = 2, at P = 4, M = 8 (the published figure): every device is busy
// V M (F + B + W) = 48 chunk units; the first forward reaches the last device after 3 chunk forwards
// and the last backward comes back after 3 chunk backwards: the bubble is (P-1)(F+B+W) = 9 chunk units,
// a chunk being half a stage: 9 / (48 + 9) = 0.158, 1F1B's 0.273 divided by about V.
using i2 = plan<interleaved_1f1b<2>, 4, 8>;
static_assert(i2::ok && near(i2::bubble, 9.0 / 57));
static_assert(plan<interleaved_1f1b<2>, 2, 8>::ok && near(plan<interleaved_1f1b<2>, 2, 8>::bubble, 3.0 / 51));
static_assert(plan<interleaved_1f1b<3>, 4, 8>::ok && near(plan<interleaved_1f1b<3>, 4, 8>::bubble, 9.0 / 81));
static_assert(plan<interleaved_1f1b<2>, 3, 6>::ok && plan<interleaved_1f1b<2>, 2, 2>::ok &&
              plan<interleaved_1f1b<1>, 4, 8>::ok);
// V = 1 is 1F1B: the same bubble.
static_assert(near(plan<interleaved_1f1b<1>, 4, 8>::bubble, 9.0 / 33));
// Looping placement: stage k on device k % P; device 0 starts with its warm-up forwards of chunk 0.
static_assert(i2::split.device[5] == 1 && i2::merged[0][0].op == opcode::forward && i2::merged[0][0].stage == 0);

// ZB-V at P = 4, M = 8: two chunks per device in a V, B and W apart. Each device is busy
// 2 M (F + B + W) = 48 units; the only idle time left is the first forward's way down the V (device d
// waits d units at the start) and its mirror at the end: 1.5 units per device on average, 1.5 / 25.5.
using v4 = plan<zb_v, 4, 8>;
static_assert(v4::ok && near(v4::bubble, 1.5 / 25.5));
static_assert(v4::split.device[0] == 0 && v4::split.device[3] == 3 && v4::split.device[4] == 3 &&
              v4::split.device[7] == 0);
// 1F1B's memory: at most 2P chunk activations (P micro-batches of a whole stage) held at once per
// device. The runtime plans each stage's slots for its own peak; the two chunks' peaks fall at
// different times, so the slots planned are up to one chunk activation more (5 + 4 on device 0).
constexpr std::size_t held_at_once(const auto& order) {
  std::size_t held = 0, peak = 0;
  for (const instruction& i : order) {
    held += i.op == opcode::forward;
    held -= i.op == opcode::backward_weight;
    peak = held > peak ? held : peak;
  }
  return peak;
}
static_assert(held_at_once(v4::merged[0]) == 8 && held_at_once(v4::merged[3]) <= 8);
static_assert(v4::slots[0] + v4::slots[7] == 9);
static_assert(plan<zb_v, 2, 8>::ok && plan<zb_v, 2, 2>::ok && plan<zb_v, 3, 6>::ok && plan<zb_v, 2, 1>::ok &&
              plan<zb_v, 4, 4>::ok);
static_assert(plan<zb_v, 2, 8>::bubble < 0.03);  // the benchmark's p = 2, m = 8: 0.5 / 24.5
}  // namespace
