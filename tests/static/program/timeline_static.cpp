// program/timeline.hpp: the planned timeline of hand-built programs and of a pipeline schedule: when
// each instruction ends, each device's busy time, the step and the bubble. Compiling is the test.
#include <plait/program/schedule.hpp>
#include <plait/program/timeline.hpp>
#include <plait/program/verify.hpp>

namespace {
using namespace plait;

constexpr bool close(double a, double b) { return a - b < 1e-12 && b - a < 1e-12; }
constexpr instruction op(opcode o, std::uint16_t stage = 0) {
  instruction i;
  i.op = o;
  i.stage = stage;
  return i;
}
constexpr instruction msg(opcode o, std::int16_t peer) {
  instruction i;
  i.op = o;
  i.peer = peer;
  return i;
}

// Device 1 waits for device 0's forward (1 unit), then runs its own (2 units).
constexpr std::array two{program<2>{op(opcode::forward), msg(opcode::send, 1)},
                         program<2>{msg(opcode::recv, 0), op(opcode::forward)}};
static_assert(verify_messages(two));
constexpr auto t = plan_timeline(two, std::array{1.0, 2.0}, std::array{0.0, 0.0});
static_assert(t.end[0][0] == 1 && t.end[0][1] == 1 && t.end[1][0] == 1 && t.end[1][1] == 3);
static_assert(t.busy[0] == 1 && t.busy[1] == 2 && t.step == 3);
static_assert(close(t.bubble_fraction(), (2.0 + 1.0) / (3.0 * 2)));

// GPipe, 2 stages, 2 micro-batches, forward 1 and backward 2 per stage: (m + p - 1)(f + b) = 9, each
// device busy m(f + b) = 6, the bubble (p - 1)/(m + p - 1) = 1/3.
constexpr auto g = plan_timeline(gpipe::programs<2, 2>(), std::array{1.0, 1.0}, std::array{2.0, 2.0});
static_assert(g.step == 9 && g.busy[0] == 6 && g.busy[1] == 6 && close(g.bubble_fraction(), 1.0 / 3));
// An unbalanced pipeline: the slow stage sets the pace.
constexpr auto slow = plan_timeline(gpipe::programs<2, 2>(), std::array{1.0, 3.0}, std::array{2.0, 6.0});
static_assert(slow.step > g.step && slow.busy[1] == 18 && slow.bubble_fraction() > 0);

// Nothing to do: no step, no bubble.
static_assert(
    plan_timeline(std::array<program<1>, 1>{program<1>{op(opcode::nop)}}, std::array{1.0}, std::array{1.0}).step == 0);
static_assert(plan_timeline(std::array<program<1>, 1>{program<1>{op(opcode::nop)}}, std::array{1.0}, std::array{1.0})
                  .bubble_fraction() == 0);

// A mesh's collective ends when the last device of its group reaches it; costs are per stage.
constexpr auto dp = collective(opcode::all_reduce, collective_group::data_parallel, whole_gradient);
constexpr std::array replicas{program<2>{op(opcode::forward, 0), dp}, program<2>{op(opcode::forward, 1), dp}};
static_assert(verify_mesh<1>(replicas));
constexpr auto m = plan_mesh_timeline<1, 1>(replicas, std::array{1.0, 3.0}, std::array{0.0, 0.0});
static_assert(m.end[0][0] == 1 && m.end[0][1] == 3 && m.end[1][1] == 3 && m.step == 3);
static_assert(m.busy[0] == 1 && m.busy[1] == 3 && close(m.bubble_fraction(), 2.0 / 6));
}  // namespace
