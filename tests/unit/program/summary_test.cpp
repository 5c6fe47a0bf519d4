// program/summary.hpp: a program as one line of text: each instruction's notation, micro-batches
// shown only when the program has some, nops left out.
#include <doctest/doctest.h>

#include <plait/program/summary.hpp>
#include <string>

using namespace plait;

namespace {
instruction at(opcode op, std::uint16_t stage = 0, std::uint16_t mb = 0) {
  instruction i;
  i.op = op;
  i.stage = stage;
  i.microbatch = mb;
  return i;
}
instruction message(opcode op, std::int16_t peer, message_kind k, std::uint16_t mb = 0) {
  instruction i;
  i.op = op;
  i.peer = peer;
  i.buffer = std::uint16_t(k);
  i.microbatch = mb;
  return i;
}
const instruction act_sum =
    collective(opcode::all_reduce, collective_group::inner, std::uint16_t(message_kind::activation), 1);
const instruction grad_sum =
    collective(opcode::all_reduce, collective_group::inner, std::uint16_t(message_kind::gradient), 1);
const instruction dp_sum = collective(opcode::all_reduce, collective_group::data_parallel, whole_gradient);
}  // namespace

TEST_CASE("the header's example: a partitioned step with a data-parallel all-reduce") {
  const program<13> p{at(opcode::scatter),
                      at(opcode::forward, 0),
                      act_sum,
                      at(opcode::forward, 1),
                      at(opcode::forward, 2),
                      at(opcode::loss),
                      at(opcode::backward, 2),
                      at(opcode::backward, 1),
                      grad_sum,
                      at(opcode::backward, 0),
                      dp_sum,
                      at(opcode::optimizer_step),
                      at(opcode::nop)};
  CHECK(summary(p) == "scatter F0 AR(a)1 F1 F2 loss B2 B1 AR(g)1 B0 AR(dp) step");
}

TEST_CASE("each instruction's notation, without and with micro-batches") {
  CHECK(to_text(at(opcode::forward, 3, 2), false) == "F3");
  CHECK(to_text(at(opcode::forward, 3, 2), true) == "F3.2");
  CHECK(to_text(at(opcode::backward, 1, 0), true) == "B1.0");
  CHECK(to_text(at(opcode::loss, 0, 4), true) == "loss.4");
  CHECK(to_text(at(opcode::gather, 0, 1), true) == "out.1");
  CHECK(to_text(at(opcode::scatter), true) == "scatter");
  CHECK(to_text(at(opcode::optimizer_step), true) == "step");
  CHECK(to_text(at(opcode::nop), false).empty());
  CHECK(to_text(message(opcode::send, 1, message_kind::activation, 2), true) == "a>1.2");
  CHECK(to_text(message(opcode::recv, 0, message_kind::gradient), false) == "g<0");
  CHECK(to_text(collective(opcode::all_reduce, collective_group::data_parallel, 3), false) == "AR(b3)");
  CHECK(to_text(collective(opcode::reduce_scatter, collective_group::data_parallel, 0), false) == "RS(b0)");
  CHECK(to_text(collective(opcode::all_gather, collective_group::inner, std::uint16_t(message_kind::activation), 2),
                false) == "AG(a)2");
  CHECK(to_text(dp_sum, false) == "AR(dp)");
}

TEST_CASE("micro-batch suffixes appear only when some instruction has a micro-batch above 0") {
  const program<4> one{at(opcode::forward, 0, 0), at(opcode::backward, 0, 0), at(opcode::nop),
                       at(opcode::optimizer_step)};
  CHECK(summary(one) == "F0 B0 step");
  const program<4> two{at(opcode::forward, 0, 0), at(opcode::forward, 0, 1),
                       message(opcode::send, 1, message_kind::activation, 1), at(opcode::optimizer_step)};
  CHECK(summary(two) == "F0.0 F0.1 a>1.1 step");
  CHECK(summary(program<2>{at(opcode::nop), at(opcode::nop)}).empty());
}
