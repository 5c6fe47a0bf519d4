// A hand-written schedule whose first stage sends micro-batch 1's activation before its forward has
// computed it: every count is right and the messages match, but stage 1 would read a stale buffer.
// expect: plait: a pipeline schedule runs an instruction before what it depends on
#include <plait/plait.hpp>
using namespace plait;

struct early_send_schedule {
  static constexpr const char* name = "early_send_schedule";
  template <std::size_t P, std::size_t M>
  static constexpr auto programs() {
    static_assert(P == 2 && M == 2);
    constexpr auto act = std::uint16_t(message_kind::activation), grad = std::uint16_t(message_kind::gradient);
#ifdef PLAIT_FAIL
    constexpr std::size_t forward_at = 3, send_at = 2;  // send first
#else
    constexpr std::size_t forward_at = 2, send_at = 3;
#endif
    std::array<program<10>, 2> p{};
    p[0][0] = {.op = opcode::forward, .stage = 0, .microbatch = 0};
    p[0][1] = {.op = opcode::send, .stage = 0, .microbatch = 0, .peer = 1, .buffer = act};
    p[0][forward_at] = {.op = opcode::forward, .stage = 0, .microbatch = 1};
    p[0][send_at] = {.op = opcode::send, .stage = 0, .microbatch = 1, .peer = 1, .buffer = act};
    p[0][4] = {.op = opcode::recv, .stage = 0, .microbatch = 0, .peer = 1, .buffer = grad};
    p[0][5] = {.op = opcode::backward, .stage = 0, .microbatch = 0};
    p[0][6] = {.op = opcode::recv, .stage = 0, .microbatch = 1, .peer = 1, .buffer = grad};
    p[0][7] = {.op = opcode::backward, .stage = 0, .microbatch = 1};
    p[0][8] = {.op = opcode::optimizer_step, .stage = 0};
    p[0][9] = {.op = opcode::nop};
    p[1] = {{{.op = opcode::recv, .stage = 1, .microbatch = 0, .peer = 0, .buffer = act},
             {.op = opcode::forward, .stage = 1, .microbatch = 0},
             {.op = opcode::loss, .stage = 1, .microbatch = 0},
             {.op = opcode::backward, .stage = 1, .microbatch = 0},
             {.op = opcode::send, .stage = 1, .microbatch = 0, .peer = 0, .buffer = grad},
             {.op = opcode::recv, .stage = 1, .microbatch = 1, .peer = 0, .buffer = act},
             {.op = opcode::forward, .stage = 1, .microbatch = 1},
             {.op = opcode::loss, .stage = 1, .microbatch = 1},
             {.op = opcode::backward, .stage = 1, .microbatch = 1},
             {.op = opcode::send, .stage = 1, .microbatch = 1, .peer = 0, .buffer = grad}}};
    return p;
  }
};

static_assert(pipeline<2, microbatches<2>, early_send_schedule>::order);
