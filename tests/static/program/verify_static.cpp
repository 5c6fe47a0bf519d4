// program/verify.hpp: the verdicts of the programs' simulation on hand-built programs (ok, mismatch,
// deadlock, unmatched_send, bad_peer), and the peaks of micro-batches in flight. Compiling is the test.
#include <plait/program/verify.hpp>

namespace {
using namespace plait;

constexpr instruction op(opcode o, std::uint16_t mb = 0) {
  instruction i;
  i.op = o;
  i.microbatch = mb;
  return i;
}
constexpr instruction msg(opcode o, std::int16_t peer, std::uint16_t mb = 0,
                          message_kind k = message_kind::activation) {
  instruction i;
  i.op = o;
  i.peer = peer;
  i.microbatch = mb;
  i.buffer = std::uint16_t(k);
  return i;
}
constexpr instruction nop = op(opcode::nop);

constexpr bool is(verdict v, verdict::kind_t kind, std::size_t device, std::size_t pc) {
  return v.kind == kind && v.device == device && v.pc == pc;
}

// ok: a send meets its receive.
constexpr auto ok = verify_messages(std::array{program<2>{op(opcode::forward), msg(opcode::send, 1)},
                                               program<2>{msg(opcode::recv, 0), op(opcode::forward)}});
static_assert(ok && ok.kind == verdict::ok);

// mismatch: the receive expects micro-batch 1, the send carries micro-batch 0.
constexpr auto mb =
    verify_messages(std::array{program<2>{msg(opcode::send, 1, 0), nop}, program<2>{msg(opcode::recv, 0, 1), nop}});
static_assert(!mb && is(mb, verdict::mismatch, 1, 0));
// ... or a gradient where an activation is expected.
constexpr auto kind = verify_messages(std::array{program<2>{msg(opcode::send, 1, 0, message_kind::gradient), nop},
                                                 program<2>{msg(opcode::recv, 0), nop}});
static_assert(is(kind, verdict::mismatch, 1, 0));

// deadlock: both receive before they send.
constexpr auto dead = verify_messages(std::array{program<2>{msg(opcode::recv, 1), msg(opcode::send, 1)},
                                                 program<2>{msg(opcode::recv, 0), msg(opcode::send, 0)}});
static_assert(is(dead, verdict::deadlock, 0, 0));
// The same exchange with one side sending first runs.
static_assert(verify_messages(std::array{program<2>{msg(opcode::send, 1), msg(opcode::recv, 1)},
                                         program<2>{msg(opcode::recv, 0), msg(opcode::send, 0)}}));

// unmatched_send: a send no one receives.
constexpr auto lost =
    verify_messages(std::array{program<2>{op(opcode::forward), msg(opcode::send, 1)}, program<2>{nop, nop}});
static_assert(is(lost, verdict::unmatched_send, 0, 1));

// bad_peer: to itself, to no device, to no peer, and a collective of no group.
static_assert(is(verify_messages(std::array{program<1>{msg(opcode::send, 0)}, program<1>{nop}}), verdict::bad_peer, 0,
                 0));
static_assert(is(verify_messages(std::array{program<1>{nop}, program<1>{msg(opcode::recv, 2)}}), verdict::bad_peer, 1,
                 0));
static_assert(is(verify_messages(std::array{program<1>{msg(opcode::send, -1)}, program<1>{nop}}), verdict::bad_peer, 0,
                 0));
constexpr instruction bad_group = [] {
  instruction i = collective(opcode::all_reduce, collective_group::inner, 0);
  i.peer = 2;
  return i;
}();
static_assert(is(verify_messages(std::array{program<1>{bad_group}, program<1>{bad_group}}), verdict::bad_peer, 0, 0));

// Receives of one channel take the sends in order: swapping the micro-batches of the receives fails.
static_assert(verify_messages(std::array{program<2>{msg(opcode::send, 1, 0), msg(opcode::send, 1, 1)},
                                         program<2>{msg(opcode::recv, 0, 0), msg(opcode::recv, 0, 1)}}));
static_assert(is(verify_messages(std::array{program<2>{msg(opcode::send, 1, 0), msg(opcode::send, 1, 1)},
                                            program<2>{msg(opcode::recv, 0, 1), msg(opcode::recv, 0, 0)}}),
                 verdict::mismatch, 1, 0));

// Collectives of a group of two (verify_mesh<2, 2>: one tensor group of both devices).
constexpr instruction ar(std::uint16_t buffer) {
  return collective(opcode::all_reduce, collective_group::inner, buffer);
}
static_assert(verify_mesh<2, 2>(std::array{program<2>{op(opcode::forward), ar(0)},
                                           program<2>{ar(0), op(opcode::forward)}}));
static_assert(is(verify_mesh<2, 2>(std::array{program<1>{ar(0)}, program<1>{ar(1)}}), verdict::mismatch, 0, 0));
static_assert(is(verify_mesh<2, 2>(std::array{program<1>{ar(0)},
                                              program<1>{collective(opcode::all_gather, collective_group::inner, 0)}}),
                 verdict::mismatch, 0, 0));
static_assert(is(verify_mesh<2, 2>(std::array{program<2>{ar(0), nop}, program<2>{nop, nop}}), verdict::deadlock, 0, 0));
// With tensor groups of one device, each device's collective is its own: nothing to wait for.
static_assert(verify_mesh<2, 1>(std::array{program<1>{ar(0)}, program<1>{nop}}));
// Data-parallel collectives join the devices of equal inner rank: on a mesh of two replicas of one
// device they must agree.
constexpr instruction dp(std::uint16_t b) { return collective(opcode::all_reduce, collective_group::data_parallel, b); }
static_assert(verify_mesh<1>(std::array{program<1>{dp(whole_gradient)}, program<1>{dp(whole_gradient)}}));
static_assert(is(verify_mesh<1>(std::array{program<1>{dp(0)}, program<1>{dp(1)}}), verdict::mismatch, 0, 0));

// Peaks of micro-batches in flight and the slots they need.
constexpr instruction f(std::uint16_t m) { return op(opcode::forward, m); }
constexpr instruction b(std::uint16_t m) { return op(opcode::backward, m); }
constexpr program<6> all_forward_first{f(0), f(1), f(2), b(0), b(1), b(2)};
constexpr program<6> alternating{f(0), b(0), f(1), b(1), f(2), b(2)};
static_assert(peak_inflight(all_forward_first) == 3 && peak_inflight(alternating) == 1);
static_assert(slots_suffice(all_forward_first, 3) && !slots_suffice(all_forward_first, 2));
static_assert(slots_suffice(alternating, 1) && !slots_suffice(alternating, 0));
static_assert(last_backward(all_forward_first)[1] == 4 && last_backward(all_forward_first)[5] == 6);
}  // namespace
