// A hand-written zero-bubble schedule whose last stage runs micro-batch 0's weight part (W) before
// its input part (B): W reads the output gradients that B keeps, so it would compute the parameters'
// gradients from whatever the buffers held. The twin runs W after B.
// expect: plait: a pipeline schedule runs a micro-batch's backward_weight \(W\) before its backward_input \(B\)
#include <plait/plait.hpp>
using namespace plait;

struct split_schedule {
  static constexpr const char* name = "split_schedule";
  template <std::size_t P, std::size_t M>
  static constexpr auto programs() {
    static_assert(P == 2 && M == 2);
    constexpr auto act = std::uint16_t(message_kind::activation), grad = std::uint16_t(message_kind::gradient);
    constexpr opcode F = opcode::forward, B = opcode::backward_input, W = opcode::backward_weight;
    std::array<program<13>, 2> p{};
    p[0] = {{{.op = F, .stage = 0, .microbatch = 0},
             {.op = opcode::send, .stage = 0, .microbatch = 0, .peer = 1, .buffer = act},
             {.op = F, .stage = 0, .microbatch = 1},
             {.op = opcode::send, .stage = 0, .microbatch = 1, .peer = 1, .buffer = act},
             {.op = opcode::recv, .stage = 0, .microbatch = 0, .peer = 1, .buffer = grad},
             {.op = B, .stage = 0, .microbatch = 0},
             {.op = W, .stage = 0, .microbatch = 0},
             {.op = opcode::recv, .stage = 0, .microbatch = 1, .peer = 1, .buffer = grad},
             {.op = B, .stage = 0, .microbatch = 1},
             {.op = W, .stage = 0, .microbatch = 1},
             {.op = opcode::optimizer_step, .stage = 0},
             {.op = opcode::nop},
             {.op = opcode::nop}}};
    p[1] = {{{.op = opcode::recv, .stage = 1, .microbatch = 0, .peer = 0, .buffer = act},
             {.op = F, .stage = 1, .microbatch = 0},
             {.op = opcode::loss, .stage = 1, .microbatch = 0},
#ifdef PLAIT_FAIL
             {.op = W, .stage = 1, .microbatch = 0},
             {.op = B, .stage = 1, .microbatch = 0},
#else
             {.op = B, .stage = 1, .microbatch = 0},
             {.op = W, .stage = 1, .microbatch = 0},
#endif
             {.op = opcode::send, .stage = 1, .microbatch = 0, .peer = 0, .buffer = grad},
             {.op = opcode::recv, .stage = 1, .microbatch = 1, .peer = 0, .buffer = act},
             {.op = F, .stage = 1, .microbatch = 1},
             {.op = opcode::loss, .stage = 1, .microbatch = 1},
             {.op = B, .stage = 1, .microbatch = 1},
             {.op = opcode::send, .stage = 1, .microbatch = 1, .peer = 0, .buffer = grad},
             {.op = W, .stage = 1, .microbatch = 1},
             {.op = opcode::optimizer_step, .stage = 1}}};
    return p;
  }
};

static_assert(pipeline<2, microbatches<2>, split_schedule>::check &&
              pipeline<2, microbatches<2>, split_schedule>::order &&
              pipeline<2, microbatches<2>, split_schedule>::splits_backward);
