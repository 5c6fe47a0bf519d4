// program/schedule.hpp: the pipeline schedules' per-stage programs. Compiling is the test.
#include <plait/program/schedule.hpp>
#include <plait/program/timeline.hpp>
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
// Every schedule's programs meet every send with its receive.
static_assert(verify_messages(gpipe::programs<3, 5>()) && verify_messages(one_f_one_b::programs<3, 5>()));
static_assert(verify_messages(gpipe::programs<4, 2>()) && verify_messages(one_f_one_b::programs<4, 2>()));
static_assert(verify_messages(zb_h1::programs<4, 8>()) && verify_messages(zb_h1::programs<3, 3>()) &&
              verify_messages(zb_h1::programs<2, 1>()) && verify_messages(zb_h1::programs<4, 2>()));

// ZB-H1: every backward split into B and W, one each per micro-batch; stage s runs W(k) right after
// B(k + s), so stage 0's W follows its B at once and stage 3 holds three Ws back.
constexpr auto z = zb_h1::programs<4, 8>();
static_assert(count(z[0], opcode::backward) == 0 && count(z[0], opcode::backward_input) == 8 &&
              count(z[0], opcode::backward_weight) == 8 && count(z[3], opcode::backward_weight) == 8);
static_assert(z[0][first_of(z[0], opcode::backward_input) + 1].op == opcode::backward_weight &&
              z[0][first_of(z[0], opcode::backward_input) + 1].microbatch == 0);
static_assert(z[3][first_of(z[3], opcode::backward_weight) - 2].op == opcode::backward_input &&
              z[3][first_of(z[3], opcode::backward_weight) - 2].microbatch == 3);  // B(3), g>2, W(0)
static_assert(splits_backward(z) && !splits_backward(one_f_one_b::programs<4, 8>()));
// Activations held from F to W: P on every stage (1F1B's stage 0 holds P, its last stage 1).
static_assert(peak_inflight(z[0]) == 4 && peak_inflight(z[1]) == 4 && peak_inflight(z[3]) == 4);
static_assert(peak_inflight(one_f_one_b::programs<4, 8>()[0]) == 4 &&
              peak_inflight(one_f_one_b::programs<4, 8>()[3]) == 1);
static_assert(slots_suffice(z[0], 4) && slots_suffice(z[3], 4));

// The published figures at P = 4, M = 8 with F = B = W = 1 (Qi et al. 2023, Table 1):
//   1F1B: every stage is busy M (F + B + W) = 24; the first F reaches stage 3 after 3 F, and the last
//   backward (B + W together) comes back to stage 0 after 3 (B + W): the step is 24 + 3 (F + B + W) = 33,
//   the bubble 9 / 33 = 0.2727 on every stage.
//   ZB-H1: B alone is on the way back, and the Ws a stage held back fill its wait at the end: the step
//   is 24 + 3 (F + B - W) = 27, the bubble 3 / 27 = 0.1111.
constexpr std::array<double, 4> one{1, 1, 1, 1};
constexpr double bubble_1f1b = plan_timeline(one_f_one_b::programs<4, 8>(), one, one, one).bubble_fraction();
constexpr double bubble_zb = plan_timeline(z, one, one, one).bubble_fraction();
constexpr bool near(double a, double b) { return a - b < 1e-9 && b - a < 1e-9; }
static_assert(near(bubble_1f1b, 9.0 / 33) && near(bubble_zb, 3.0 / 27));
static_assert(near(plan_timeline(z, one, one, one).step, 27) &&
              near(plan_timeline(one_f_one_b::programs<4, 8>(), one, one, one).step, 33));
// At P = 2, M = 8 (the benchmark): a step of 24 + 1 against 24 + 3, the ideal ZB-H1 over 1F1B 27 / 25 = 1.08;
// over one device (48) 1.92.
constexpr std::array<double, 2> one2{1, 1};
static_assert(near(plan_timeline(zb_h1::programs<2, 8>(), one2, one2, one2).step, 25) &&
              near(plan_timeline(one_f_one_b::programs<2, 8>(), one2, one2, one2).step, 27));
}  // namespace
