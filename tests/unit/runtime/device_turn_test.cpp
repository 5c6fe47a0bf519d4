// runtime/device_turn.hpp: the stages of a device take turns in one order; a failed stage ends the
// turns of its run (the others stop with a follow_on_error), and the next run starts afresh.
#include <doctest/doctest.h>

#include <atomic>
#include <plait/program/instruction.hpp>
#include <plait/runtime/device_turn.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace plait;

namespace {
// A handler that records which stage ran which instruction, in the order they ran.
struct recorder {
  std::vector<int>* log;
  int stage;
  void note() { log->push_back(stage); }
  void scatter(const instruction&) { note(); }
  void forward(const instruction& i) {
    if (i.microbatch == 99) throw std::runtime_error("stage failed");
    note();
  }
  void loss(const instruction&) { note(); }
  void backward(const instruction&) { note(); }
  void backward_input(const instruction&) { note(); }
  void backward_weight(const instruction&) { note(); }
  void optimizer_step(const instruction&) { note(); }
  void gather(const instruction&) { note(); }
  void predictive_coding(const instruction&) { note(); }
  void communicate(const instruction&) { note(); }
};
constexpr instruction F{.op = opcode::forward}, B{.op = opcode::backward}, nop{.op = opcode::nop};
}  // namespace

TEST_CASE("two stages run their instructions in the device's order, run after run") {
  device_turn turn;
  std::vector<int> log;
  // The device's order: stage 0 F, stage 1 F, stage 1 B, stage 0 B.
  const program<3> s0{F, B, nop}, s1{F, B, nop};
  const std::array<std::uint32_t, 3> at0{0, 3, 0}, at1{1, 2, 0};
  for (std::uint64_t run = 0; run < 20; ++run) {
    log.clear();
    const std::uint64_t base = run * 10;
    recorder r0{&log, 0}, r1{&log, 1};
    std::thread t([&] { run_taking_turns(s1, at1, turn, base, r1); });  // starts first, waits for its turn
    run_taking_turns(s0, at0, turn, base, r0);
    t.join();
    CHECK(log == std::vector<int>{0, 1, 1, 0});
  }
}

TEST_CASE("a failed stage ends its run's turns; the next run starts afresh") {
  device_turn turn;
  std::vector<int> log;
  constexpr instruction bad{.op = opcode::forward, .microbatch = 99};
  const program<2> s0{bad, B}, s1{F, B};
  const std::array<std::uint32_t, 2> at0{0, 3}, at1{1, 2};
  recorder r0{&log, 0}, r1{&log, 1};
  std::atomic<bool> stopped{false};
  std::thread t([&] {
    try {
      run_taking_turns(s1, at1, turn, 0, r1);
    } catch (const follow_on_error&) {
      stopped = true;
    }
  });
  CHECK_THROWS_WITH_AS(run_taking_turns(s0, at0, turn, 0, r0), "stage failed", std::runtime_error);
  t.join();
  CHECK(stopped);
  CHECK(log.empty());
  // The next run, with its own base: both stages run in order.
  const program<2> good{F, B};
  std::thread u([&] { run_taking_turns(s1, at1, turn, 10, r1); });
  run_taking_turns(good, at0, turn, 10, r0);
  u.join();
  CHECK(log == std::vector<int>{0, 1, 1, 0});
}
