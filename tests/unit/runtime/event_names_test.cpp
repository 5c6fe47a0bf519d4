// runtime/event_names.hpp: the trace's name of each instruction, by stage, bucket or message kind,
// made at construction.
#include <doctest/doctest.h>

#include <plait/runtime/event_names.hpp>
#include <string>

using namespace plait;

namespace {
instruction at(opcode op, std::uint16_t stage = 0, std::uint16_t buffer = 0) {
  instruction i;
  i.op = op;
  i.stage = stage;
  i.buffer = buffer;
  return i;
}
std::string name(const event_names& n, const instruction& i) { return n(i); }
}  // namespace

TEST_CASE("forward and backward by stage, collectives by bucket, messages by kind") {
  const event_names n(3, 2, false);
  CHECK(name(n, at(opcode::forward, 2)) == "forward stage 2");
  CHECK(name(n, at(opcode::backward, 0)) == "backward stage 0");
  CHECK(name(n, at(opcode::all_reduce, 0, 1)) == "all_reduce bucket 1");
  CHECK(name(n, at(opcode::reduce_scatter, 0, 0)) == "reduce_scatter bucket 0");
  CHECK(name(n, at(opcode::all_gather, 2, 1)) == "all_gather bucket 1");
  CHECK(name(n, at(opcode::send, 0, std::uint16_t(message_kind::activation))) == "send activation");
  CHECK(name(n, at(opcode::recv, 0, std::uint16_t(message_kind::gradient))) == "recv gradient");
  CHECK(name(n, at(opcode::scatter)) == "scatter");
  CHECK(name(n, at(opcode::loss)) == "loss");
  CHECK(name(n, at(opcode::optimizer_step)) == "optimizer_step");
  CHECK(name(n, at(opcode::gather)) == "gather");
  CHECK(name(n, collective(opcode::all_reduce, collective_group::data_parallel, whole_gradient)) ==
        "all_reduce gradients (data parallel)");
}

TEST_CASE("partition's exchanges are named by stage") {
  const event_names n(4, 0, true);
  CHECK(name(n, at(opcode::all_reduce, 3, std::uint16_t(message_kind::gradient))) == "all_reduce at stage 3");
  CHECK(name(n, at(opcode::all_gather, 1, 0)) == "all_gather at stage 1");
  CHECK(name(n, at(opcode::forward, 3)) == "forward stage 3");
}

TEST_CASE("an index beyond what was made falls back to the opcode's name; the names stay put") {
  const event_names n(1, 1, false);
  CHECK(name(n, at(opcode::forward, 5)) == "forward");
  CHECK(name(n, at(opcode::all_reduce, 0, 4)) == "all_reduce");
  const char* p = n(at(opcode::forward, 0));
  CHECK(p == n(at(opcode::forward, 0)));  // the same string each time: nothing is built per call
  CHECK(name(event_names(), at(opcode::backward, 0)) == "backward");
}
