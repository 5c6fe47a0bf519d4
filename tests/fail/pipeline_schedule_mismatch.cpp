// A hand-written schedule whose stage 1 sends gradients in the reverse order of the micro-batches,
// while stage 0 receives them in order: the channel is untagged, so the first receive would take
// the wrong micro-batch's gradient. The compile-time simulation rejects it; the twin sends in order.
// expect: plait: a send and its receive disagree
#include <plait/plait.hpp>
using namespace plait;

struct two_stage_schedule {
  static constexpr const char* name = "two_stage_schedule";
  template <std::size_t P, std::size_t M>
  static constexpr auto programs() {
    static_assert(P == 2 && M == 2);
    constexpr auto act = std::uint16_t(message_kind::activation), grad = std::uint16_t(message_kind::gradient);
    std::array<program<9>, 2> p{};
    p[0] = {{{.op = opcode::forward, .stage = 0, .microbatch = 0},
             {.op = opcode::send, .stage = 0, .microbatch = 0, .peer = 1, .buffer = act},
             {.op = opcode::forward, .stage = 0, .microbatch = 1},
             {.op = opcode::send, .stage = 0, .microbatch = 1, .peer = 1, .buffer = act},
             {.op = opcode::recv, .stage = 0, .microbatch = 0, .peer = 1, .buffer = grad},
             {.op = opcode::backward, .stage = 0, .microbatch = 0},
             {.op = opcode::recv, .stage = 0, .microbatch = 1, .peer = 1, .buffer = grad},
             {.op = opcode::backward, .stage = 0, .microbatch = 1},
             {.op = opcode::optimizer_step, .stage = 0}}};
#ifdef PLAIT_FAIL
    constexpr std::uint16_t first = 1, second = 0;  // swapped
#else
    constexpr std::uint16_t first = 0, second = 1;
#endif
    p[1] = {{{.op = opcode::recv, .stage = 1, .microbatch = 0, .peer = 0, .buffer = act},
             {.op = opcode::recv, .stage = 1, .microbatch = 1, .peer = 0, .buffer = act},
             {.op = opcode::forward, .stage = 1, .microbatch = first},
             {.op = opcode::loss, .stage = 1, .microbatch = first},
             {.op = opcode::backward, .stage = 1, .microbatch = first},
             {.op = opcode::send, .stage = 1, .microbatch = first, .peer = 0, .buffer = grad},
             {.op = opcode::forward, .stage = 1, .microbatch = second},
             {.op = opcode::send, .stage = 1, .microbatch = second, .peer = 0, .buffer = grad},
             {.op = opcode::optimizer_step, .stage = 1}}};
    return p;
  }
};

static_assert(pipeline<2, microbatches<2>, two_stage_schedule>::check);
