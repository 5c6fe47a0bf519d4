// A hand-written two-stage schedule whose second program leaves its instructions' stage at the
// default, 0: its device would run stage 0's layers, which it does not hold (before this check the
// schedule compiled, and its second device would have run them on memory planned for stage 1's). The messages match and
// every micro-batch is computed in order, so only the check that each program names its own stage
// finds it. The twin names stage 1 on every instruction of the second program.
// expect: plait: a pipeline schedule's program for stage s has an instruction that names another stage
#include <plait/plait.hpp>
using namespace plait;

// GPipe written out by hand: every forward, then every backward.
struct hand_written_schedule {
  static constexpr const char* name = "hand_written_schedule";
  template <std::size_t P, std::size_t M>
  static constexpr auto programs() {
    static_assert(P == 2);
    constexpr auto act = std::uint16_t(message_kind::activation), grad = std::uint16_t(message_kind::gradient);
#ifdef PLAIT_FAIL
    constexpr std::uint16_t second = 0;  // left at the default
#else
    constexpr std::uint16_t second = 1;
#endif
    std::array<program<5 * M + 1>, 2> p{};
    std::size_t a = 0, b = 0;
    for (std::uint16_t mb = 0; mb < M; ++mb) {
      p[0][a++] = {.op = opcode::forward, .stage = 0, .microbatch = mb};
      p[0][a++] = {.op = opcode::send, .stage = 0, .microbatch = mb, .peer = 1, .buffer = act};
      p[1][b++] = {.op = opcode::recv, .stage = second, .microbatch = mb, .peer = 0, .buffer = act};
      p[1][b++] = {.op = opcode::forward, .stage = second, .microbatch = mb};
      p[1][b++] = {.op = opcode::loss, .stage = second, .microbatch = mb};
    }
    for (std::uint16_t mb = 0; mb < M; ++mb) {
      p[1][b++] = {.op = opcode::backward, .stage = second, .microbatch = mb};
      p[1][b++] = {.op = opcode::send, .stage = second, .microbatch = mb, .peer = 0, .buffer = grad};
      p[0][a++] = {.op = opcode::recv, .stage = 0, .microbatch = mb, .peer = 1, .buffer = grad};
      p[0][a++] = {.op = opcode::backward, .stage = 0, .microbatch = mb};
    }
    p[0][a++] = {.op = opcode::optimizer_step, .stage = 0};
    p[1][b++] = {.op = opcode::optimizer_step, .stage = second};
    while (a < p[0].size()) p[0][a++] = {.op = opcode::nop};
    while (b < p[1].size()) p[1][b++] = {.op = opcode::nop};
    return p;
  }
};

void f() {
  constexpr auto net = input<4> >> linear<8> >> relu >> linear<2>;
  auto model = place<pipeline<2, microbatches<2>, hand_written_schedule>>(net, host_devices(2), {.max_batch = 4});
  (void)model;
}
