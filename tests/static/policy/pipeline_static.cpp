// policy/pipeline.hpp: the pipeline's stages, bytes sent and bubble, checked at compile time (the
// schedules' programs are in tests/static/program/schedule_static.cpp).
#include <plait/plait.hpp>

namespace {
using namespace plait;

constexpr bool close(double a, double b) { return a - b < 1e-12 && b - a < 1e-12; }
// Stage cuts: balanced by FLOPs, or at explicit cuts.
using net = std::remove_const_t<decltype(input<64> >> linear<256> >> relu >> linear<256> >> relu >> linear<256> >>
                                         relu >> linear<256> >> relu >> linear<10>)>;
constexpr auto two = pipeline<2, microbatches<4>>::stages<net>;
static_assert(two[0].first == 0 && two[0].last == 2 && two[1].first == 2 &&
              two[1].last == 5);  // the max is 2 of the 3 wide layers
using cut_net =
    std::remove_const_t<decltype(input<8> >> linear<8> >> cut >> linear<8> >> linear<8> >> cut >> linear<2>)>;
constexpr auto three = pipeline<3, microbatches<2>>::stages<cut_net>;
static_assert(three[0].first == 0 && three[0].last == 2 && three[1].last == 5 && three[2].last == 6);
static_assert(pipeline<3, microbatches<2>>::floats_sent_per_sample<cut_net> == 2 * (8 + 8));
static_assert(pipeline<3, microbatches<2>>::bytes_per_step<cut_net>(10) == 10 * 32 * sizeof(float));

// M = 1 is plain model parallelism: no overlap, the bubble is (p-1)/p.
static_assert(close(pipeline<4, microbatches<1>>::bubble_fraction, 0.75));

// What stages read in place (the rest is copied): the kind whose holding costs no bubble. Under
// 1F1B at p = 2, m = 8 (F = B = W = 1) the unit bubble is 2 / 18 whether activations are copied or
// read in place (W follows B, the receiver's B frees the sender's slot before the sender needs it);
// reading gradients in place would hold stage 1's one gradient buffer until stage 0's B of each
// micro-batch, and stage 1's next B would wait for it: 5 / 17.
using p1f1b = pipeline<2, microbatches<8>, one_f_one_b>;
static_assert(p1f1b::reads.activations && !p1f1b::reads.gradients);
static_assert(close(p1f1b::unit_bubble({}), 2.0 / 18) && close(p1f1b::unit_bubble({.activations = true}), 2.0 / 18) &&
              close(p1f1b::unit_bubble({.gradients = true}), 5.0 / 17));
// GPipe keeps every micro-batch in a slot of its own: nothing is reused within a step, both kinds are read in place.
static_assert(pipeline<4, microbatches<8>, gpipe>::reads.activations &&
              pipeline<4, microbatches<8>, gpipe>::reads.gradients);
static_assert(pipeline<2, microbatches<8>, interleaved_1f1b<2>>::reads.activations &&
              !pipeline<2, microbatches<8>, interleaved_1f1b<2>>::reads.gradients);
// Zero-bubble schedules defer W: an activation read in place would hold its sender's slot until
// then (ZB-H1 at p = 2, m = 8: 0.226 instead of 0.04); their gradients, read at B, cost nothing.
using pzb = pipeline<2, microbatches<8>, zb_h1>;
static_assert(!pzb::reads.activations && pzb::reads.gradients);
static_assert(close(pzb::unit_bubble({}), 1.0 / 25) && pzb::unit_bubble({.activations = true}) > 0.2);
static_assert(!pipeline<2, microbatches<8>, zb_v>::reads.activations &&
              pipeline<2, microbatches<8>, zb_v>::reads.gradients);
// With one spare slot per stage (spare_slots<1>) a held activation no longer keeps its sender from
// taking the next micro-batch: every schedule reads both kinds in place at the bubble of copies.
// ZB-H1 at p = 2, m = 8: 3 slots per stage instead of 2, bubble 1 / 25 either way; ZB-V at p = 2,
// m = 8 and 16 (stages 0..3, peak 3 3 2 1): slots 4 4 3 2, bubble 1 / 49 and 0.0103 (its plan with
// copies); at p = 4, m = 8 every stage one more slot, 1 / 17.
using pzb1 = pipeline<2, microbatches<8>, zb_h1, spare_slots<1>>;
static_assert(pzb1::spare_slot_count == 1 && pzb1::slots[0] == 3 && pzb1::slots[1] == 3);
static_assert(pzb1::reads.activations && pzb1::reads.gradients && close(pzb1::unit_bubble({true, true}), 1.0 / 25));
using pzv = pipeline<2, microbatches<8>, zb_v>;
using pzv1 = pipeline<2, microbatches<8>, zb_v, spare_slots<1>>;
static_assert(pzv1::slots == std::array<std::size_t, 4>{4, 4, 3, 2} &&
              pzv::slots == std::array<std::size_t, 4>{3, 3, 2, 1});
static_assert(pzv1::reads.activations && pzv1::reads.gradients && close(pzv1::bubble_fraction, pzv::bubble_fraction) &&
              close(pzv1::bubble_fraction, 1.0 / 49) && pzv::unit_bubble({.activations = true}) > 0.18);
using pzv16 = pipeline<2, microbatches<16>, zb_v, spare_slots<1>>;
static_assert(pzv16::reads.activations &&
              close(pzv16::bubble_fraction, pipeline<2, microbatches<16>, zb_v>::bubble_fraction));
static_assert(close(pipeline<4, microbatches<8>, zb_v, spare_slots<1>>::bubble_fraction, 1.0 / 17) &&
              pipeline<4, microbatches<8>, zb_v, spare_slots<1>>::reads.activations);
// Never more slots than micro-batches: GPipe at m = 2 holds both already.
static_assert(pipeline<2, microbatches<2>, gpipe, spare_slots<3>>::slots == std::array<std::size_t, 2>{2, 2});
static_assert(planned_slots(0, 1) == 1 && planned_slots(2, 8, 1) == 3 && planned_slots(2, 8, 9) == 8 &&
              planned_slots(8, 8, 1) == 8);
}  // namespace
