// program/inference.hpp: what an inference program keeps of a training program. Compiling is the test.
#include <plait/program/inference.hpp>
#include <plait/program/verify.hpp>

namespace {
using namespace plait;

// is_forward_part: what an inference program keeps of a training program.
static_assert(is_forward_part(instruction{opcode::forward}) && !is_forward_part(instruction{opcode::backward}));
static_assert(!is_forward_part(collective(opcode::all_reduce, collective_group::data_parallel, whole_gradient)));
static_assert(is_forward_part(collective(opcode::all_reduce, collective_group::inner,
                                         std::uint16_t(message_kind::activation))));
static_assert(!is_forward_part(collective(opcode::all_reduce, collective_group::inner,
                                          std::uint16_t(message_kind::gradient))));
// the rest of the instruction set
static_assert(is_forward_part(instruction{opcode::scatter}));
static_assert(!is_forward_part(instruction{opcode::loss}) && !is_forward_part(instruction{opcode::optimizer_step}));
static_assert(!is_forward_part(instruction{opcode::nop}) && !is_forward_part(instruction{opcode::gather}));
static_assert(!is_forward_part(collective(opcode::reduce_scatter, collective_group::inner,
                                          std::uint16_t(message_kind::activation))));
static_assert(is_forward_part(collective(opcode::all_gather, collective_group::inner,
                                         std::uint16_t(message_kind::activation))));
static_assert(!is_forward_part(collective(opcode::all_gather, collective_group::data_parallel, 0)));
constexpr instruction message(opcode op, message_kind k, std::uint16_t mb) {
  instruction i;
  i.op = op;
  i.peer = 1;
  i.buffer = std::uint16_t(k);
  i.microbatch = mb;
  return i;
}
static_assert(is_forward_part(message(opcode::send, message_kind::activation, 0)));
static_assert(is_forward_part(message(opcode::recv, message_kind::activation, 0)));
static_assert(!is_forward_part(message(opcode::send, message_kind::gradient, 0)));
static_assert(!is_forward_part(message(opcode::recv, message_kind::gradient, 0)));

// A hand-written two-stage training program, two micro-batches, and its inference programs.
constexpr instruction at(opcode op, std::uint16_t stage, std::uint16_t mb = 0) {
  instruction i;
  i.op = op;
  i.stage = stage;
  i.microbatch = mb;
  return i;
}
constexpr instruction to(opcode op, std::int16_t peer, message_kind k, std::uint16_t mb) {
  instruction i = message(op, k, mb);
  i.peer = peer;
  return i;
}
constexpr program<10> first{
    {at(opcode::scatter, 0), at(opcode::forward, 0, 0), to(opcode::send, 1, message_kind::activation, 0),
     at(opcode::forward, 0, 1), to(opcode::send, 1, message_kind::activation, 1),
     to(opcode::recv, 1, message_kind::gradient, 0), at(opcode::backward, 0, 0),
     to(opcode::recv, 1, message_kind::gradient, 1), at(opcode::backward, 0, 1), at(opcode::optimizer_step, 0)}};
constexpr program<10> second{
    {to(opcode::recv, 0, message_kind::activation, 0), at(opcode::forward, 1, 0), at(opcode::loss, 1, 0),
     at(opcode::backward, 1, 0), to(opcode::send, 0, message_kind::gradient, 0),
     to(opcode::recv, 0, message_kind::activation, 1), at(opcode::forward, 1, 1), at(opcode::loss, 1, 1),
     at(opcode::backward, 1, 1), to(opcode::send, 0, message_kind::gradient, 1)}};
static_assert(verify_messages(std::array{first, second}));

constexpr auto ends_graph = [](std::size_t stage) { return stage == 1; };
constexpr auto inf0 = inference_program(first, ends_graph, false);
constexpr auto inf1 = inference_program(second, ends_graph, true);
// Stage 0 keeps scatter, forwards and activation sends, in order; nop after.
static_assert(inf0[0] == first[0] && inf0[1] == first[1] && inf0[2] == first[2] && inf0[3] == first[3] &&
              inf0[4] == first[4]);
static_assert(inf0[5].op == opcode::nop && inf0[9].op == opcode::nop && used_length(inf0) == 5);
// Stage 1 keeps its activation receives and forwards, and gathers after each forward of the last stage.
static_assert(inf1[0] == second[0] && inf1[1] == second[1] && inf1[2].op == opcode::gather && inf1[2].microbatch == 0 &&
              inf1[2].stage == 1);
static_assert(inf1[3] == second[5] && inf1[4] == second[6] && inf1[5].op == opcode::gather && inf1[5].microbatch == 1);
static_assert(used_length(inf1) == 6 && used_length(first) == 10);
// Without `gathers` the same stage hands nothing over.
static_assert(used_length(inference_program(second, ends_graph, false)) == 4);
// What is kept still verifies: every kept send meets its receive.
static_assert(verify_messages(std::array{inf0, inf1}));
}  // namespace
