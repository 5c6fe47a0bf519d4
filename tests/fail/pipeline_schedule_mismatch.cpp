// A hand-written schedule whose stage 1 sends gradients in the reverse order of the micro-batches,
// while stage 0 receives them in order: the channel is untagged, so the first receive would take
// the wrong micro-batch's gradient. The compile-time simulation rejects it; the twin works on the
// micro-batches in order, each received when its slot is free.
// expect: plait: a send and its receive disagree
#include <plait/plait.hpp>
using namespace plait;

struct two_stage_schedule {
  static constexpr const char* name = "two_stage_schedule";
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
    // Both activations received first, then micro-batch 1's work before micro-batch 0's.
    p[1] = {{{.op = opcode::recv, .stage = 1, .microbatch = 0, .peer = 0, .buffer = act},
             {.op = opcode::recv, .stage = 1, .microbatch = 1, .peer = 0, .buffer = act},
             {.op = opcode::forward, .stage = 1, .microbatch = 1},
             {.op = opcode::loss, .stage = 1, .microbatch = 1},
             {.op = opcode::backward, .stage = 1, .microbatch = 1},
             {.op = opcode::send, .stage = 1, .microbatch = 1, .peer = 0, .buffer = grad},
             {.op = opcode::forward, .stage = 1, .microbatch = 0},
             {.op = opcode::loss, .stage = 1, .microbatch = 0},
             {.op = opcode::backward, .stage = 1, .microbatch = 0},
             {.op = opcode::send, .stage = 1, .microbatch = 0, .peer = 0, .buffer = grad},
             {.op = opcode::optimizer_step, .stage = 1}}};
#else
    // Each micro-batch received when its work starts (its activation slot is free by then), in order.
    p[1] = {{{.op = opcode::recv, .stage = 1, .microbatch = 0, .peer = 0, .buffer = act},
             {.op = opcode::forward, .stage = 1, .microbatch = 0},
             {.op = opcode::loss, .stage = 1, .microbatch = 0},
             {.op = opcode::backward, .stage = 1, .microbatch = 0},
             {.op = opcode::send, .stage = 1, .microbatch = 0, .peer = 0, .buffer = grad},
             {.op = opcode::recv, .stage = 1, .microbatch = 1, .peer = 0, .buffer = act},
             {.op = opcode::forward, .stage = 1, .microbatch = 1},
             {.op = opcode::loss, .stage = 1, .microbatch = 1},
             {.op = opcode::backward, .stage = 1, .microbatch = 1},
             {.op = opcode::send, .stage = 1, .microbatch = 1, .peer = 0, .buffer = grad},
             {.op = opcode::optimizer_step, .stage = 1}}};
#endif
    return p;
  }
};

static_assert(pipeline<2, microbatches<2>, two_stage_schedule>::check &&
              pipeline<2, microbatches<2>, two_stage_schedule>::order);
