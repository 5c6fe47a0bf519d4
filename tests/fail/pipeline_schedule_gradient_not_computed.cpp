// A hand-written schedule whose last stage sends micro-batch 1's gradient without computing it (no
// loss, no backward): the messages match and nothing deadlocks, but stage 0 would train on a gradient
// that was never computed. The dependency check rejects it; the twin computes it first.
// expect: plait: a pipeline schedule does not run every micro-batch's forward and backward exactly once
#include <plait/plait.hpp>
using namespace plait;

struct skipping_schedule {
  static constexpr const char* name = "skipping_schedule";
  template <std::size_t P, std::size_t M>
  static constexpr auto programs() {
    static_assert(P == 2 && M == 2);
    constexpr auto act = std::uint16_t(message_kind::activation), grad = std::uint16_t(message_kind::gradient);
    std::array<program<11>, 2> p{};
    p[0] = {{{.op = opcode::forward, .stage = 0, .microbatch = 0},
             {.op = opcode::send, .stage = 0, .microbatch = 0, .peer = 1, .buffer = act},
             {.op = opcode::forward, .stage = 0, .microbatch = 1},
             {.op = opcode::send, .stage = 0, .microbatch = 1, .peer = 1, .buffer = act},
             {.op = opcode::recv, .stage = 0, .microbatch = 0, .peer = 1, .buffer = grad},
             {.op = opcode::backward, .stage = 0, .microbatch = 0},
             {.op = opcode::recv, .stage = 0, .microbatch = 1, .peer = 1, .buffer = grad},
             {.op = opcode::backward, .stage = 0, .microbatch = 1},
             {.op = opcode::optimizer_step, .stage = 0},
             {.op = opcode::nop},
             {.op = opcode::nop}}};
#ifdef PLAIT_FAIL
    constexpr opcode loss = opcode::nop, backward = opcode::nop;  // micro-batch 1's gradient is never computed
#else
    constexpr opcode loss = opcode::loss, backward = opcode::backward;
#endif
    p[1] = {{{.op = opcode::recv, .stage = 1, .microbatch = 0, .peer = 0, .buffer = act},
             {.op = opcode::forward, .stage = 1, .microbatch = 0},
             {.op = opcode::loss, .stage = 1, .microbatch = 0},
             {.op = opcode::backward, .stage = 1, .microbatch = 0},
             {.op = opcode::send, .stage = 1, .microbatch = 0, .peer = 0, .buffer = grad},
             {.op = opcode::recv, .stage = 1, .microbatch = 1, .peer = 0, .buffer = act},
             {.op = opcode::forward, .stage = 1, .microbatch = 1},
             {.op = loss, .stage = 1, .microbatch = 1},
             {.op = backward, .stage = 1, .microbatch = 1},
             {.op = opcode::send, .stage = 1, .microbatch = 1, .peer = 0, .buffer = grad},
             {.op = opcode::optimizer_step, .stage = 1}}};
    return p;
  }
};

static_assert(pipeline<2, microbatches<2>, skipping_schedule>::order);
