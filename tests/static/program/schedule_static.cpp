// program/schedule.hpp: the pipeline schedules' per-stage programs. Compiling is the test.
#include <plait/program/schedule.hpp>
#include <plait/program/verify.hpp>

namespace {
using namespace plait;

// 1F1B's programs: stage 0 of 4 warms up with 3 forwards, then alternates.
constexpr auto p = one_f_one_b::programs<4, 8>()[0];
static_assert(p[0].op == opcode::forward && p[0].microbatch == 0 && p[1].op == opcode::send);
static_assert(p[6].op == opcode::forward && p[6].microbatch == 3 && p[8].op == opcode::recv &&
              p[9].op == opcode::backward && p[9].microbatch == 0);

// GPipe: every forward of stage 0 before its first backward.
constexpr auto g = gpipe::programs<2, 3>()[0];
constexpr std::size_t first_of(const auto& prog, opcode op) {
  for (std::size_t k = 0; k < prog.size(); ++k)
    if (prog[k].op == op) return k;
  return prog.size();
}
constexpr std::size_t count(const auto& prog, opcode op) {
  std::size_t n = 0;
  for (const instruction& i : prog) n += i.op == op;
  return n;
}
static_assert(count(g, opcode::forward) == 3 && count(g, opcode::backward) == 3);
static_assert(first_of(g, opcode::backward) > first_of(g, opcode::forward));
static_assert([] {
  std::size_t last_forward = 0;
  for (std::size_t k = 0; k < g.size(); ++k)
    if (g[k].op == opcode::forward) last_forward = k;
  return last_forward < first_of(g, opcode::backward);
}());
// Both schedules' programs meet every send with its receive.
static_assert(verify_messages(gpipe::programs<3, 5>()) && verify_messages(one_f_one_b::programs<3, 5>()));
static_assert(verify_messages(gpipe::programs<4, 2>()) && verify_messages(one_f_one_b::programs<4, 2>()));
}  // namespace
