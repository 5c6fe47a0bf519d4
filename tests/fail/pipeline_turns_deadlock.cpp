// A hand-written chunked schedule: one device runs both stages of a two-stage pipeline, taking turns.
// In the broken order stage 0 waits for its gradient before stage 1 has computed it: stage 0 holds
// the device's turn while it waits, so stage 1 never runs. Each stage's own program is correct and
// verifies alone; only running them together under the turns finds the deadlock. The twin lets
// stage 1 run first.
// expect: plait: the stages of a chunked pipeline schedule can deadlock taking turns on their devices
#include <plait/plait.hpp>
using namespace plait;

struct one_device_two_stages {
  static constexpr const char* name = "one_device_two_stages";
  static constexpr std::size_t chunks = 2;
  static constexpr std::size_t device_of(std::size_t, std::size_t) { return 0; }
  template <std::size_t P, std::size_t M>
  static constexpr auto programs() {
    constexpr auto act = std::uint16_t(message_kind::activation), grad = std::uint16_t(message_kind::gradient);
    const instruction f0{.op = opcode::forward, .stage = 0}, b0{.op = opcode::backward, .stage = 0};
    const instruction send_act{.op = opcode::send, .stage = 0, .peer = 1, .buffer = act};
    const instruction recv_grad{.op = opcode::recv, .stage = 0, .peer = 1, .buffer = grad};
    const instruction recv_act{.op = opcode::recv, .stage = 1, .peer = 0, .buffer = act};
    const instruction f1{.op = opcode::forward, .stage = 1}, loss{.op = opcode::loss, .stage = 1};
    const instruction b1{.op = opcode::backward, .stage = 1};
    const instruction send_grad{.op = opcode::send, .stage = 1, .peer = 0, .buffer = grad};
    const instruction step0{.op = opcode::optimizer_step, .stage = 0}, step1{.op = opcode::optimizer_step, .stage = 1};
#ifdef PLAIT_FAIL
    return std::array<program<11>, 1>{
        program<11>{f0, send_act, recv_grad, recv_act, f1, loss, b1, send_grad, b0, step0, step1}};
#else
    return std::array<program<11>, 1>{
        program<11>{f0, send_act, recv_act, f1, loss, b1, send_grad, recv_grad, b0, step0, step1}};
#endif
  }
};

static_assert(pipeline<1, microbatches<1>, one_device_two_stages>::stage_count == 2 &&
              pipeline<1, microbatches<1>, one_device_two_stages>::turn_check);
