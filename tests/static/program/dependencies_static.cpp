// program/dependencies.hpp: the built-in schedules compute every micro-batch in dependency order on
// the runtime's slots, and hand-built schedules get the verdict their flaw calls for. Compiling is the test.
#include <plait/program/dependencies.hpp>
#include <plait/program/schedule.hpp>

namespace {
using namespace plait;

template <class Sched, std::size_t P, std::size_t M>
constexpr bool in_order = bool(verify_order(Sched::template programs<P, M>(), M));
template <class Sched, std::size_t P, std::size_t... M>
constexpr bool all_m(std::index_sequence<M...>) {
  return (in_order<Sched, P, M + 1> && ...);
}
static_assert(all_m<gpipe, 1>(std::make_index_sequence<8>{}) && all_m<gpipe, 2>(std::make_index_sequence<8>{}) &&
              all_m<gpipe, 3>(std::make_index_sequence<8>{}) && all_m<gpipe, 4>(std::make_index_sequence<8>{}));
static_assert(all_m<one_f_one_b, 1>(std::make_index_sequence<8>{}) &&
              all_m<one_f_one_b, 2>(std::make_index_sequence<8>{}) &&
              all_m<one_f_one_b, 3>(std::make_index_sequence<8>{}) &&
              all_m<one_f_one_b, 4>(std::make_index_sequence<8>{}));
static_assert(all_m<zb_h1, 1>(std::make_index_sequence<8>{}) && all_m<zb_h1, 2>(std::make_index_sequence<8>{}) &&
              all_m<zb_h1, 3>(std::make_index_sequence<8>{}) && all_m<zb_h1, 4>(std::make_index_sequence<8>{}));

constexpr instruction at(opcode o, std::uint16_t mb, std::int16_t peer = -1,
                         message_kind k = message_kind::activation) {
  instruction i;
  i.op = o;
  i.microbatch = mb;
  i.peer = peer;
  i.buffer = std::uint16_t(k);
  return i;
}
constexpr auto A = message_kind::activation, G = message_kind::gradient;
constexpr instruction F(std::uint16_t mb) { return at(opcode::forward, mb); }
constexpr instruction B(std::uint16_t mb) { return at(opcode::backward, mb); }
constexpr instruction L(std::uint16_t mb) { return at(opcode::loss, mb); }
constexpr instruction S(std::uint16_t mb, std::int16_t to, message_kind k) { return at(opcode::send, mb, to, k); }
constexpr instruction R(std::uint16_t mb, std::int16_t from, message_kind k) { return at(opcode::recv, mb, from, k); }

// Stage 0 of a two-stage pipeline, GPipe order.
constexpr program<8> first = {F(0), S(0, 1, A), F(1), S(1, 1, A), R(0, 1, G), B(0), R(1, 1, G), B(1)};

// Correct: the last stage receives each activation when its work starts.
constexpr program<10> last_ok = {R(0, 0, A), F(0), L(0), B(0), S(0, 0, G), R(1, 0, A), F(1), L(1), B(1), S(1, 0, G)};
static_assert(verify_order(
    std::array{program<10>{first[0], first[1], first[2], first[3], first[4], first[5], first[6], first[7]}, last_ok},
    2));

// slot_overwrite: the last stage keeps one micro-batch in flight (one slot) but receives micro-batch 1
// into it before micro-batch 0's backward: the input of micro-batch 0 would be overwritten.
constexpr program<10> last_early = {R(0, 0, A), R(1, 0, A), F(0), L(0), B(0), S(0, 0, G), F(1), L(1), B(1), S(1, 0, G)};
constexpr auto early = verify_order(
    std::array{program<10>{first[0], first[1], first[2], first[3], first[4], first[5], first[6], first[7]}, last_early},
    2);
static_assert(early.kind == order_verdict::slot_overwrite && early.stage == 1 && early.pc == 1 &&
              early.microbatch == 1);

// count: micro-batch 1's loss and backward are missing on the last stage.
constexpr program<10> last_skips = {R(0, 0, A), F(0), L(0), B(0), S(0, 0, G), R(1, 0, A), F(1), S(1, 0, G)};
constexpr auto skips = verify_order(
    std::array{program<10>{first[0], first[1], first[2], first[3], first[4], first[5], first[6], first[7]}, last_skips},
    2);
static_assert(skips.kind == order_verdict::count && skips.stage == 1 && skips.microbatch == 1);

// order: a gradient sent before the backward that computes it.
constexpr program<10> last_sends_early = {R(0, 0, A), F(0), L(0), S(0, 0, G), B(0),
                                          R(1, 0, A), F(1), L(1), B(1),       S(1, 0, G)};
constexpr auto sends_early =
    verify_order(std::array{program<10>{first[0], first[1], first[2], first[3], first[4], first[5], first[6], first[7]},
                            last_sends_early},
                 2);
static_assert(sends_early.kind == order_verdict::order && sends_early.stage == 1 && sends_early.microbatch == 0);

// count: a micro-batch beyond M.
constexpr auto beyond = verify_order(
    std::array{program<10>{first[0], first[1], first[2], first[3], first[4], first[5], first[6], first[7]}, last_ok},
    1);
static_assert(beyond.kind == order_verdict::count);

// Split backwards: B (backward_input) computes what is sent; W (backward_weight) frees the slot.
constexpr instruction Bi(std::uint16_t mb) { return at(opcode::backward_input, mb); }
constexpr instruction W(std::uint16_t mb) { return at(opcode::backward_weight, mb); }
constexpr program<12> split_first = {F(0),  S(0, 1, A), F(1),       S(1, 1, A), R(0, 1, G),
                                     Bi(0), W(0),       R(1, 1, G), Bi(1),      W(1)};
constexpr program<12> split_last = {R(0, 0, A), F(0), L(0), Bi(0), S(0, 0, G), W(0),
                                    R(1, 0, A), F(1), L(1), Bi(1), S(1, 0, G), W(1)};
static_assert(verify_order(std::array{split_first, split_last}, 2));

// weight_order: W before its B.
constexpr program<12> w_first = {R(0, 0, A), F(0), L(0), W(0),  Bi(0),      S(0, 0, G),
                                 R(1, 0, A), F(1), L(1), Bi(1), S(1, 0, G), W(1)};
constexpr auto w_early = verify_order(std::array{split_first, w_first}, 2);
static_assert(w_early.kind == order_verdict::weight_order && w_early.stage == 1 && w_early.microbatch == 0);

// count: B without its W, a W twice, or a whole backward beside its parts.
constexpr program<12> no_w = {R(0, 0, A), F(0), L(0),  Bi(0),      S(0, 0, G), R(1, 0, A),
                              F(1),       L(1), Bi(1), S(1, 0, G), W(1)};
static_assert(verify_order(std::array{split_first, no_w}, 2).kind == order_verdict::count);
constexpr program<12> two_w = {R(0, 0, A), F(0),       L(0), Bi(0), S(0, 0, G), W(0),
                               W(0),       R(1, 0, A), F(1), L(1),  Bi(1),      S(1, 0, G)};
static_assert(verify_order(std::array{split_first, two_w}, 2).kind == order_verdict::count);
constexpr program<12> both = {R(0, 0, A), F(0),       L(0), Bi(0), S(0, 0, G), W(0),
                              B(0),       R(1, 0, A), F(1), L(1),  B(1),       S(1, 0, G)};
static_assert(verify_order(std::array{split_first, both}, 2).kind == order_verdict::count);

// slot_overwrite: the slot is held until W, not B. Stage 1 keeps one micro-batch in flight (its peak
// is counted to W), so receiving micro-batch 1 between B(0) and W(0) would overwrite micro-batch 0's input.
constexpr program<12> w_late = {R(0, 0, A), F(0), L(0), Bi(0), S(0, 0, G), R(1, 0, A),
                                W(0),       F(1), L(1), Bi(1), S(1, 0, G), W(1)};
static_assert(verify_order(std::array{split_first, w_late}, 2).kind == order_verdict::slot_overwrite);

// Messages read in place hold the sender's buffer until the receiver is done with them. Stage 0 keeps
// one micro-batch (one slot); stage 1 defers both W to its end. Copied, micro-batch 0's activation is
// taken when stage 1 receives it, and stage 0's F(1) may reuse the slot. Read in place, it is held
// until stage 1's W(0), which comes after the activation of micro-batch 1 that stage 0 would send
// only after that F(1): a deadlock the simulation finds.
constexpr program<12> one_slot = {F(0), S(0, 1, A), R(0, 1, G), Bi(0), W(0), F(1), S(1, 1, A), R(1, 1, G), Bi(1), W(1)};
constexpr program<12> w_at_end = {R(0, 0, A), F(0), L(0),  Bi(0),      S(0, 0, G), R(1, 0, A),
                                  F(1),       L(1), Bi(1), S(1, 0, G), W(0),       W(1)};
static_assert(verify_order(std::array{one_slot, w_at_end}, 2));
static_assert(verify_order(std::array{one_slot, w_at_end}, 2, message_reads{.gradients = true}));
constexpr auto held = verify_order(std::array{one_slot, w_at_end}, 2, message_reads{.activations = true});
static_assert(held.kind == order_verdict::slot_deadlock && held.stage == 0 && held.microbatch == 1);
// One spare slot (pipeline's spare_slots<1>): stage 0 plans 2 slots, F(1) takes the second while
// micro-batch 0's activation is still held, and the programs run to their end.
static_assert(verify_order(std::array{one_slot, w_at_end}, 2, message_reads{.activations = true}, 1));
// A gradient buffer is rewritten at the stage's next B from its slot: read in place, that B waits
// for the stage before to have run its own B on it. Stage 1 of 1F1B at p = 2 has one slot.
static_assert(verify_order(one_f_one_b::programs<2, 4>(), 4, message_reads{.gradients = true}));
}  // namespace
