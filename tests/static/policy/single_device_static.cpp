// policy/single_device.hpp: the single-device step, instruction by instruction. Compiling is the test.
#include <plait/plait.hpp>

namespace {
using namespace plait;
using net_t = std::remove_const_t<decltype(input<4> >> linear<8> >> relu >> linear<2>)>;

constexpr auto progs = single_device::programs<net_t>;
static_assert(progs.size() == single_device::device_count);
constexpr auto& p = progs[0];
static_assert(p.size() == 5);
static_assert(p[0].op == opcode::scatter && p[1].op == opcode::forward && p[2].op == opcode::loss &&
              p[3].op == opcode::backward && p[4].op == opcode::optimizer_step);
static_assert(single_device::stages<net_t>[0].first == 0 && single_device::stages<net_t>[0].last == 2);
static_assert(Policy<single_device>);
// The program names its one device and no peer: it verifies alone.
static_assert(single_device::device_count == 1 && verify_messages(progs));
}  // namespace
