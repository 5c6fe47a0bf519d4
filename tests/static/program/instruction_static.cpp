// program/instruction.hpp: the instruction set, its names and predicates. Compiling is the test.
#include <plait/program/instruction.hpp>

namespace {
using namespace plait;

static_assert(to_string(opcode::all_reduce)[0] == 'a');
constexpr bool same(const char* a, const char* b) {
  for (; *a && *a == *b; ++a, ++b) {}
  return *a == *b;
}
// Every opcode has its own name (none falls through to "?"), and the names are distinct.
static_assert([] {
  for (std::size_t a = 0; a < opcode_count; ++a) {
    if (same(to_string(opcode(a)), "?")) return false;
    for (std::size_t b = 0; b < a; ++b)
      if (same(to_string(opcode(a)), to_string(opcode(b)))) return false;
  }
  return true;
}());
static_assert(same(to_string(opcode::gather), "gather") && same(to_string(opcode::optimizer_step), "optimizer_step"));
static_assert(std::size_t(opcode::backward_weight) + 1 == opcode_count);  // the table size covers the last opcode

// The parts of a backward: B computes the gradient sent back, W (or the whole backward) ends the
// micro-batch's use of its activations.
static_assert(is_backward(opcode::backward) && is_backward(opcode::backward_input) &&
              is_backward(opcode::backward_weight) && !is_backward(opcode::forward));
static_assert(computes_input_gradient(opcode::backward) && computes_input_gradient(opcode::backward_input) &&
              !computes_input_gradient(opcode::backward_weight));
static_assert(frees_activations(opcode::backward) && frees_activations(opcode::backward_weight) &&
              !frees_activations(opcode::backward_input));

// Collectives, and what communicates.
static_assert(is_collective(opcode::all_reduce) && is_collective(opcode::reduce_scatter) &&
              is_collective(opcode::all_gather));
static_assert(!is_collective(opcode::send) && !is_collective(opcode::recv) && !is_collective(opcode::forward));
static_assert(communicates_op(opcode::send) && communicates_op(opcode::recv) && communicates_op(opcode::all_gather));
static_assert(!communicates_op(opcode::scatter) && !communicates_op(opcode::gather) &&
              !communicates_op(opcode::optimizer_step));

// collective(...) sets its fields and leaves the micro-batch at 0.
constexpr instruction c = collective(opcode::reduce_scatter, collective_group::data_parallel, 7, 3);
static_assert(c.op == opcode::reduce_scatter && c.peer == 1 && c.buffer == 7 && c.stage == 3 && c.microbatch == 0);
static_assert(collective(opcode::all_reduce, collective_group::inner, 2).peer == 0);
static_assert(collective(opcode::all_reduce, collective_group::inner, 2) !=
              collective(opcode::all_reduce, collective_group::inner, 3));

// The defaults: no peer.
static_assert(instruction{}.peer == -1 && instruction{}.op == opcode::scatter);
}  // namespace
